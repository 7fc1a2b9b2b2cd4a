"""LoRA fine-tuning with the paper's distribution-matching loss (Eq. 5) and early stop (Appendix A)."""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .lm import chunked, encode_prompt, target_logprobs
from .metrics import entropy
from .targets import EncodedTask


def diffuse_loss(logprobs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 5: -sum_y p*(y|x) log p_theta(y|x), with log p_theta summed over each target's tokens."""
    return -(weights * logprobs).sum()


@dataclass
class TrainSettings:
    rank: int = 4
    alpha: float = 8.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    max_steps: int = 50
    batch_size: int = 32  # (prompt, target) pairs per step; the whole set when it is smaller
    prompts_per_step: int | None = None  # prompts (tasks) per step when not everything fits; None: all
    early_stop_gamma: float | None = 0.2  # stop once loss <= mean H(p*) (1 + gamma); None: never
    seed: int = 0
    chunk_size: int = 64  # targets per forward pass (memory, not maths)


class MinibatchSchedule:
    """Which targets of which tasks (prompts) each step uses, and the weights that keep the loss unbiased.

    Every pair, when all fit in `batch_size`. Otherwise `prompts_per_step` tasks (seeded epochs over the
    tasks; every task when None) and within each an equal share of `batch_size` targets (seeded epochs over
    its targets). A step's loss estimates the mean over tasks of sum_y p*(y) nll(y) without bias: task t's
    sum is scaled by n_t / (m_t k) for m_t of its n_t targets and k of the tasks.
    """

    def __init__(self, sizes: list[int], batch_size: int, seed: int, prompts_per_step: int | None = None):
        self.sizes = list(sizes)
        self.batch_size = batch_size
        self.per_step = len(sizes) if prompts_per_step is None else max(1, min(prompts_per_step, len(sizes)))
        self.rng = np.random.default_rng(seed)
        self.task_queue: list[int] = []
        self.target_queues: dict[int, list[int]] = {t: [] for t in range(len(sizes))}

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return [(t, j) for t, n in enumerate(self.sizes) for j in range(n)]

    @property
    def full_batch(self) -> bool:
        return sum(self.sizes) <= self.batch_size

    def _take(self, queue: list[int], count: int, population: int) -> list[int]:
        """`count` distinct items from a queue of seeded epochs (permutations of range(population))."""
        while len(queue) < count:
            epoch = self.rng.permutation(population).tolist()
            # Items still queued from the last epoch go to the back of the new one: no repeats in a step,
            # and every item still comes exactly once per epoch.
            queued = set(queue)
            queue.extend([i for i in epoch if i not in queued] + [i for i in epoch if i in queued])
        taken = queue[:count]
        del queue[:count]
        return sorted(taken)

    def next(self) -> list[tuple[int, list[int], float]]:
        """[(task index, target indices, scale)] for one step."""
        n_tasks = len(self.sizes)
        if self.full_batch:
            return [(t, list(range(n)), 1.0 / n_tasks) for t, n in enumerate(self.sizes)]
        if self.per_step == n_tasks:
            chosen = list(range(n_tasks))
        else:
            chosen = self._take(self.task_queue, self.per_step, n_tasks)
        share = max(1, self.batch_size // len(chosen))
        batch = []
        for t in chosen:
            n = self.sizes[t]
            m = min(n, share)
            indices = list(range(n)) if m == n else self._take(self.target_queues[t], m, n)
            batch.append((t, indices, n / (m * len(chosen))))
        return batch


def loss_bound(tasks: list[EncodedTask]) -> float:
    """The minimum of the mean Eq. 5 loss over tasks: the mean entropy of their target distributions."""
    return float(np.mean([entropy(t.weights) for t in tasks]))


def train_step(
    model, tasks: list[EncodedTask], batch: list[tuple[int, list[int], float]], settings: TrainSettings
):
    """Accumulate the gradient of the (estimated) mean Eq. 5 loss; return (loss, estimated mean valid mass).

    Each task's prompt is encoded once and its key/value cache shared by all of its targets in the batch.
    """
    total_loss, masses = 0.0, []
    for t, indices, scale in batch:
        task = tasks[t]
        state = encode_prompt(model, task.prompt_ids)
        chunks = list(chunked(indices, settings.chunk_size))
        mass = 0.0
        for k, (_, chunk) in enumerate(chunks):
            logp = target_logprobs(model, state, [task.targets[j].ids for j in chunk])
            weights = torch.tensor(
                [task.targets[j].weight for j in chunk], dtype=logp.dtype, device=logp.device
            )
            loss = diffuse_loss(logp, weights) * scale
            # The prompt's graph is shared by all chunks: keep it until the last one.
            loss.backward(retain_graph=k < len(chunks) - 1)
            total_loss += float(loss.detach())
            mass += float(logp.detach().exp().sum())
        masses.append(mass * len(task.targets) / len(indices))
    return total_loss, float(np.mean(masses))


def train_adapter(
    model, tasks: list[EncodedTask], out_dir: str | Path, log_path: str | Path, settings: TrainSettings
):
    """Train a LoRA adapter on `tasks` and save it (peft format) to out_dir; write a per-step CSV log."""
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    torch.manual_seed(settings.seed)
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = MinibatchSchedule(
        [len(t.targets) for t in tasks], settings.batch_size, settings.seed, settings.prompts_per_step
    )
    bound = loss_bound(tasks)
    # A minibatch loss is a noisy estimate: early stop on its mean over the last epoch of prompts.
    window = 1 if schedule.full_batch else math.ceil(len(tasks) / schedule.per_step)
    threshold = (
        bound * (1 + settings.early_stop_gamma) if settings.early_stop_gamma is not None else -math.inf
    )
    rows = []
    bar = tqdm(range(1, settings.max_steps + 1), desc="train", unit="step", mininterval=1.0)
    for step in bar:
        started = time.perf_counter()
        batch = schedule.next()
        optimizer.zero_grad(set_to_none=True)
        loss, mass = train_step(model, tasks, batch, settings)
        recent = [row["loss"] for row in rows[-(window - 1) :]] + [loss] if window > 1 else [loss]
        stop = len(recent) == window and float(np.mean(recent)) <= threshold
        if not stop:
            optimizer.step()
        rows.append(
            {
                "step": step,
                "loss": loss,
                "entropy_bound": bound,
                "early_stop_threshold": threshold if math.isfinite(threshold) else float("nan"),
                "loss_window_mean": float(np.mean(recent)),
                "valid_mass": mass,
                "batch_pairs": sum(len(indices) for _, indices, _ in batch),
                "batch_prompts": len(batch),
                "updated": not stop,
                "seconds": time.perf_counter() - started,
            }
        )
        bar.set_postfix(loss=f"{loss:.3f}", bound=f"{bound:.3f}", mass=f"{mass:.3f}")
        if stop:
            break
    bar.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    with open(log_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows
