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
    early_stop_gamma: float | None = 0.2  # stop once loss <= mean H(p*) (1 + gamma); None: never
    seed: int = 0
    chunk_size: int = 64  # targets per forward pass (memory, not maths)


class MinibatchSchedule:
    """Which (task, target) pairs each step uses: all of them when they fit, else seeded shuffled epochs."""

    def __init__(self, sizes: list[int], batch_size: int, seed: int):
        self.pairs = [(t, j) for t, n in enumerate(sizes) for j in range(n)]
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.queue: list[int] = []

    @property
    def full_batch(self) -> bool:
        return len(self.pairs) <= self.batch_size

    def next(self) -> list[tuple[int, int]]:
        if self.full_batch:
            return self.pairs
        while len(self.queue) < self.batch_size:
            self.queue.extend(self.rng.permutation(len(self.pairs)).tolist())
        picked, self.queue = self.queue[: self.batch_size], self.queue[self.batch_size :]
        return sorted(self.pairs[i] for i in picked)


def loss_bound(tasks: list[EncodedTask]) -> float:
    """The minimum of the mean Eq. 5 loss over tasks: the mean entropy of their target distributions."""
    return float(np.mean([entropy(t.weights) for t in tasks]))


def train_step(
    model, tasks: list[EncodedTask], batch: list[tuple[int, int]], settings: TrainSettings, scale: float
):
    """Accumulate the gradient of the (estimated) mean Eq. 5 loss; return (loss, mean valid mass)."""
    by_task: dict[int, list[int]] = {}
    for t, j in batch:
        by_task.setdefault(t, []).append(j)
    total_loss, masses = 0.0, []
    for t, indices in by_task.items():
        task = tasks[t]
        state = encode_prompt(model, task.prompt_ids)
        chunks = list(chunked(indices, settings.chunk_size))
        mass = 0.0
        for k, (_, chunk) in enumerate(chunks):
            logp = target_logprobs(model, state, [task.targets[j].ids for j in chunk])
            weights = torch.tensor([task.targets[j].weight for j in chunk], dtype=logp.dtype)
            loss = diffuse_loss(logp, weights) * scale
            # The prompt's graph is shared by all chunks: keep it until the last one.
            loss.backward(retain_graph=k < len(chunks) - 1)
            total_loss += float(loss.detach())
            mass += float(logp.detach().exp().sum())
        masses.append(mass)
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
    schedule = MinibatchSchedule([len(t.targets) for t in tasks], settings.batch_size, settings.seed)
    n_pairs, n_tasks = len(schedule.pairs), len(tasks)
    bound = loss_bound(tasks)
    threshold = (
        bound * (1 + settings.early_stop_gamma) if settings.early_stop_gamma is not None else -math.inf
    )
    rows = []
    bar = tqdm(range(1, settings.max_steps + 1), desc="train", unit="step", mininterval=1.0)
    for step in bar:
        started = time.perf_counter()
        batch = schedule.next()
        # Mean over tasks of sum_y p* nll; with a minibatch this is its unbiased estimate.
        scale = (n_pairs / len(batch)) / n_tasks
        optimizer.zero_grad(set_to_none=True)
        loss, mass = train_step(model, tasks, batch, settings, scale)
        stop = loss <= threshold
        if not stop:
            optimizer.step()
        rows.append(
            {
                "step": step,
                "loss": loss,
                "entropy_bound": bound,
                "early_stop_threshold": threshold if math.isfinite(threshold) else float("nan"),
                "valid_mass": mass,
                "batch_pairs": len(batch),
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
