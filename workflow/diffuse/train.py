"""LoRA fine-tuning with the paper's distribution-matching loss (Eq. 5) and early stop (Appendix A)."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .lm import chunked, encode_prompt, target_logprobs
from .metrics import entropy
from .settings import LORA_SHAPE, SCHEDULES, TrainSettings  # noqa: F401 (re-exported)
from .targets import EncodedTask


def diffuse_loss(logprobs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 5: -sum_y p*(y|x) log p_theta(y|x), with log p_theta summed over each target's tokens."""
    return -(weights * logprobs).sum()


def planned_updates(settings: TrainSettings, n_prompts: int) -> int:
    """Optimizer updates of a run without early stop: max_steps, or max_steps passes x the prompts."""
    return settings.max_steps * (n_prompts if settings.schedule == "prompt_pass" else 1)


def lr_factor(update: int, total: int, schedule: str, warmup_ratio: float = 0.0) -> float:
    """The learning rate's factor at update `update` (0 = the first) of `total` planned ones."""
    if schedule == "constant":
        return 1.0
    warmup = int(total * warmup_ratio)
    if update < warmup:
        return update / warmup
    progress = (update - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def lr_scheduler(optimizer, settings: TrainSettings, n_prompts: int):
    total = planned_updates(settings, n_prompts)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda update: lr_factor(update, total, settings.lr_schedule, settings.warmup_ratio)
    )


def prompt_orders(n_prompts: int, passes: int, seed: int) -> list[list[int]]:
    """The prompt order of each pass: seeded permutations, a fresh one per pass (the authors reshuffle)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_prompts).tolist() for _ in range(passes)]


def early_stop_threshold(entropies: list[float], gamma: float | None) -> float:
    """(1 + gamma) x the summed target entropies; -inf (never) without gamma."""
    return (1 + gamma) * float(np.sum(entropies)) if gamma is not None else -math.inf


def gradient_norm(params, max_norm: float | None) -> float:
    """The global L2 gradient norm before clipping; clips to max_norm in place when it is set."""
    grads = [p.grad for p in params if p.grad is not None]
    if max_norm is not None:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


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

    def next_tasks(self) -> list[int]:
        """The tasks (prompts) of one step: every task, or prompts_per_step of seeded epochs over them."""
        n_tasks = len(self.sizes)
        if self.per_step == n_tasks:
            return list(range(n_tasks))
        return self._take(self.task_queue, self.per_step, n_tasks)

    def next(self) -> list[tuple[int, list[int], float]]:
        """[(task index, target indices, scale)] for one step."""
        n_tasks = len(self.sizes)
        if self.full_batch:
            return [(t, list(range(n)), 1.0 / n_tasks) for t, n in enumerate(self.sizes)]
        chosen = self.next_tasks()
        share = max(1, self.batch_size // len(chosen))
        batch = []
        for t in chosen:
            n = self.sizes[t]
            m = min(n, share)
            indices = list(range(n)) if m == n else self._take(self.target_queues[t], m, n)
            batch.append((t, indices, n / (m * len(chosen))))
        return batch


LOSS_SCALES = {
    "eq5": "mean over prompts of sum_y p*(y) nll(y)",
    "soft_trie_kl": "mean over prompts of the mean over paths drawn from p* of the per-step KL(trie || model)",
    "hard_ce": "mean over prompts of the per-token cross-entropy of targets drawn from p*",
}


def loss_bound(tasks: list[EncodedTask]) -> float:
    """The minimum of the mean Eq. 5 loss over tasks: the mean entropy of their target distributions."""
    return float(np.mean([entropy(t.weights) for t in tasks]))


def train_step(
    model,
    tasks: list[EncodedTask],
    batch: list[tuple[int, list[int], float]],
    settings: TrainSettings,
    chunk_size: int | None = None,
):
    """Accumulate the gradient of the (estimated) mean Eq. 5 loss; return (loss, estimated mean valid mass).

    Each task's prompt is encoded once and its key/value cache shared by all of its targets in the batch;
    the targets go through in chunks of chunk_size (settings.chunk_size by default), gradients accumulated.
    """
    chunk_size = chunk_size or settings.chunk_size
    total_loss, masses = 0.0, []
    for t, indices, scale in batch:
        task = tasks[t]
        state = encode_prompt(model, task.prompt_ids)
        chunks = list(chunked(indices, chunk_size))
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


def path_step(
    model,
    tasks: list[EncodedTask],
    tries: list,
    chosen: list[int],
    settings: TrainSettings,
    rng: np.random.Generator,
) -> float:
    """Accumulate the gradient of a soft_trie_kl or hard_ce step over the `chosen` tasks; return its loss.

    Per task, samples_per_prompt targets are drawn from p* (its trie); a target drawn c times is computed
    once with weight c. soft_trie_kl: the mean over the draws of each path's mean per-step KL. hard_ce:
    cross-entropy per token over the draws (the follow-up's token mean). The step's loss is the mean over
    tasks; each prompt is encoded once and shared by its paths, in chunks of chunk_size paths.
    """
    from .lm import continuation_logits, full_log_softmax, token_labels
    from .trie import path_nll, trie_kl

    total = 0.0
    k = settings.samples_per_prompt
    for t in chosen:
        trie = tries[t]
        unique, counts = np.unique(trie.sample(k, rng), return_counts=True)
        if settings.objective == "hard_ce":
            tokens = float(sum(c * len(trie.sequences[i]) for i, c in zip(unique, counts, strict=True)))
        state = encode_prompt(model, tasks[t].prompt_ids)
        chunks = list(chunked(list(zip(unique.tolist(), counts.tolist(), strict=True)), settings.chunk_size))
        for j, (_, chunk) in enumerate(chunks):
            paths = [trie.sequences[i] for i, _ in chunk]
            logits, mask = continuation_logits(model, state, paths)
            logprobs = full_log_softmax(logits)
            weights = torch.tensor([c for _, c in chunk], dtype=logprobs.dtype, device=logprobs.device)
            if settings.objective == "soft_trie_kl":
                per_path = trie_kl(logprobs, trie.path_targets([i for i, _ in chunk], logprobs.device))
                loss = (weights * per_path).sum() / k
            else:
                per_path = path_nll(logprobs, token_labels(paths, logprobs.device), mask)
                loss = (weights * per_path).sum() / tokens
            loss = loss / len(chosen)
            loss.backward(retain_graph=j < len(chunks) - 1)
            total += float(loss.detach())
    return total


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters, each shared tensor counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def lora_model(model, settings: TrainSettings, init_adapter: str | Path | None = None):
    """A fresh LoRA adapter on `model`, or the saved one at init_adapter, trainable, to continue from."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter is None:
        lora = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=list(settings.target_modules),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, lora)
    model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    saved = model.peft_config["default"]
    shape = (saved.r, saved.lora_alpha, saved.lora_dropout, sorted(saved.target_modules))
    wanted = (settings.rank, settings.alpha, settings.dropout, sorted(settings.target_modules))
    if shape != wanted:
        raise ValueError(f"{init_adapter}: adapter has (rank, alpha, dropout, modules) {shape}, not {wanted}")
    return model


def train_adapter(
    model,
    tasks: list[EncodedTask],
    out_dir: str | Path,
    log_path: str | Path,
    settings: TrainSettings,
    init_adapter: str | Path | None = None,
):
    """Train a LoRA adapter on `tasks` and save it (peft format) to out_dir, with train_summary.json there.

    Writes a CSV log with a row per optimizer update (per step for minibatch) to log_path and, for the
    prompt_pass schedule, the per-pass early-stop quantities to out_dir/train_passes.csv. Returns the rows.
    """
    torch.manual_seed(settings.seed)
    model = lora_model(model, settings, init_adapter)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=settings.learning_rate, weight_decay=settings.weight_decay, eps=settings.adam_eps
    )
    scheduler = lr_scheduler(optimizer, settings, len(tasks))
    trainable, total = parameter_counts(model)
    if settings.schedule == "prompt_pass":
        rows, passes, summary = _train_prompt_passes(model, tasks, optimizer, scheduler, params, settings)
    else:
        rows, summary = _train_minibatches(model, tasks, optimizer, scheduler, params, settings)
        passes = []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    _write_csv(log_path, rows)
    if passes:
        _write_csv(out_dir / "train_passes.csv", passes)
    summary.update(
        {
            "schedule": settings.schedule,
            "prompts": len(tasks),
            "targets": sum(len(t.targets) for t in tasks),
            "planned_updates": planned_updates(settings, len(tasks)),
            "init_adapter": None if init_adapter is None else str(init_adapter),
            "trainable_params": trainable,
            "total_params": total,
            "trainable_fraction": trainable / total,
        }
    )
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return rows


def _write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _train_minibatches(model, tasks, optimizer, scheduler, params, settings: TrainSettings):
    from tqdm.auto import tqdm

    schedule = MinibatchSchedule(
        [len(t.targets) for t in tasks], settings.batch_size, settings.seed, settings.prompts_per_step
    )
    eq5 = settings.objective == "eq5"
    if not eq5:
        from .trie import TargetTrie

        tries = [TargetTrie(t.target_ids, t.weights, where=t.task_id) for t in tasks]
        # Its own stream: the draws do not move the schedule's.
        paths_rng = np.random.default_rng([settings.seed, 1])
    # The loss's minimum: the mean target entropy for Eq. 5, 0 for the KL, none known for cross-entropy.
    bound = {"eq5": loss_bound(tasks), "soft_trie_kl": 0.0}.get(settings.objective, float("nan"))
    # A minibatch loss is a noisy estimate: early stop on its mean over the last epoch of prompts.
    window = 1 if schedule.full_batch else math.ceil(len(tasks) / schedule.per_step)
    threshold = (
        bound * (1 + settings.early_stop_gamma) if settings.early_stop_gamma is not None else -math.inf
    )
    rows = []
    bar = tqdm(range(1, settings.max_steps + 1), desc="train", unit="step", mininterval=1.0)
    for step in bar:
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        if eq5:
            batch = schedule.next()
            loss, mass = train_step(model, tasks, batch, settings)
        else:
            chosen = schedule.next_tasks()
            batch = [(t, [], 1.0) for t in chosen]
            loss, mass = path_step(model, tasks, tries, chosen, settings, paths_rng), float("nan")
        recent = [row["loss"] for row in rows[-(window - 1) :]] + [loss] if window > 1 else [loss]
        stop = len(recent) == window and float(np.mean(recent)) <= threshold
        grad_norm, lr = float("nan"), float("nan")
        if not stop:
            grad_norm = gradient_norm(params, settings.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
        rows.append(
            {
                "step": step,
                "loss": loss,
                "entropy_bound": bound,
                "early_stop_threshold": threshold if math.isfinite(threshold) else float("nan"),
                "loss_window_mean": float(np.mean(recent)),
                "valid_mass": mass,
                "batch_pairs": sum(len(indices) for _, indices, _ in batch)
                if eq5
                else settings.samples_per_prompt * len(batch),
                "batch_prompts": len(batch),
                "updated": not stop,
                "seconds": time.perf_counter() - started,
                "grad_norm": grad_norm,
                "learning_rate": lr,
            }
        )
        bar.set_postfix(loss=f"{loss:.3f}", bound=f"{bound:.3f}", mass=f"{mass:.3f}")
        if stop:
            break
    bar.close()
    summary = {
        "updates": sum(row["updated"] for row in rows),
        "steps": len(rows),
        "stopped_early": bool(not rows[-1]["updated"]),
        "bound_met": bool(not rows[-1]["updated"]),
        "objective": settings.objective,
        "loss_scale": LOSS_SCALES[settings.objective],
        "final_loss": float(rows[-1]["loss"]),
        "bound": bound,
        "early_stop_threshold": threshold if math.isfinite(threshold) else None,
    }
    return rows, summary


def _train_prompt_passes(model, tasks, optimizer, scheduler, params, settings: TrainSettings):
    """The authors' loop: per pass, each prompt once (shuffled), one clipped update on its whole target set.

    A prompt's loss is sum_y p*(y) nll(y) over all its targets, accumulated over micro-batches of
    batch_size; the pass's summed loss (each prompt's taken before its update) is checked against
    (1 + gamma) x the summed entropies after the pass, as the authors do.
    """
    from tqdm.auto import tqdm

    entropies = [entropy(t.weights) for t in tasks]
    threshold = early_stop_threshold(entropies, settings.early_stop_gamma)
    orders = prompt_orders(len(tasks), settings.max_steps, settings.seed)
    rows, passes = [], []
    bar = tqdm(total=planned_updates(settings, len(tasks)), desc="train", unit="update", mininterval=1.0)
    for pass_index, order in enumerate(orders, start=1):
        pass_started = time.perf_counter()
        pass_loss, masses = 0.0, []
        for t in order:
            started = time.perf_counter()
            task = tasks[t]
            optimizer.zero_grad(set_to_none=True)
            everything = [(t, list(range(len(task.targets))), 1.0)]
            loss, mass = train_step(model, tasks, everything, settings, chunk_size=settings.batch_size)
            grad_norm = gradient_norm(params, settings.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            pass_loss += loss
            masses.append(mass)
            rows.append(
                {
                    "update": len(rows) + 1,
                    "pass": pass_index,
                    "task": task.task_id,
                    "targets": len(task.targets),
                    "loss": loss,
                    "entropy": entropies[t],
                    "valid_mass": mass,
                    "grad_norm": grad_norm,
                    "clipped": bool(
                        settings.max_grad_norm is not None and grad_norm > settings.max_grad_norm
                    ),
                    "seconds": time.perf_counter() - started,
                    "learning_rate": lr,
                }
            )
            bar.update()
            bar.set_postfix(loss=f"{loss:.3f}", H=f"{entropies[t]:.3f}", mass=f"{mass:.3f}")
        stop = bool(pass_loss <= threshold)
        passes.append(
            {
                "pass": pass_index,
                "updates": len(order),
                "loss_sum": pass_loss,
                "entropy_sum": float(np.sum(entropies)),
                "early_stop_threshold": threshold if math.isfinite(threshold) else float("nan"),
                "stop": stop,
                "valid_mass_mean": float(np.mean(masses)),
                "seconds": time.perf_counter() - pass_started,
            }
        )
        if stop:
            break
    bar.close()
    summary = {
        "updates": len(rows),
        "steps": len(passes),
        "stopped_early": bool(passes[-1]["stop"] and len(passes) < settings.max_steps),
        "bound_met": passes[-1]["stop"],
        "objective": settings.objective,
        "loss_scale": "sum over prompts of sum_y p*(y) nll(y), one pass",
        "final_loss": passes[-1]["loss_sum"],
        "bound": float(np.sum(entropies)),
        "early_stop_threshold": threshold if math.isfinite(threshold) else None,
    }
    return rows, passes, summary


def curve_frame(adapter_dir: str | Path):
    """One row per step of an adapter's training for the training-curve figure, on the minibatch scale.

    minibatch: the log as it is. prompt_pass: a row per pass, its summed loss, entropies and threshold
    divided by the prompt count (the stop rule is unchanged by the division) and the mean valid mass.
    """
    import pandas as pd

    adapter_dir = Path(adapter_dir)
    passes = adapter_dir / "train_passes.csv"
    if not passes.exists():
        return pd.read_csv(adapter_dir / "train_log.csv")
    frame = pd.read_csv(passes)
    return pd.DataFrame(
        {
            "step": frame["pass"],
            "loss": frame["loss_sum"] / frame["updates"],
            "entropy_bound": frame["entropy_sum"] / frame["updates"],
            "early_stop_threshold": frame["early_stop_threshold"] / frame["updates"],
            "valid_mass": frame["valid_mass_mean"],
        }
    )


TRAINING_COLUMNS = [
    "model",
    "adapter",
    "init_adapter",
    "schedule",
    "objective",
    "prompts",
    "targets",
    "steps",
    "updates",
    "planned_updates",
    "stopped_early",
    "final_loss",
    "bound",
    "early_stop_threshold",
    "loss_scale",
    "trainable_params",
    "total_params",
    "trainable_percent",
]


def training_table(summaries: dict[tuple[str, str], dict]):
    """(model, adapter) -> train_summary.json as one table; trainable_percent = 100 x trainable / total."""
    import pandas as pd

    rows = []
    for (model, adapter), summary in summaries.items():
        row = {"model": model, "adapter": adapter, **summary}
        row["init_adapter"] = Path(summary["init_adapter"]).name if summary.get("init_adapter") else ""
        row["trainable_percent"] = 100 * summary["trainable_params"] / summary["total_params"]
        rows.append(row)
    return pd.DataFrame(rows)[TRAINING_COLUMNS]
