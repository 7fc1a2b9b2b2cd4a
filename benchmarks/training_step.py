"""One Eq. 5 training step on the BABYNAMES targets: the shared prompt encoding against the authors' way.

- `shared-prompt` (diffuse.train.train_step, the pipeline's): the prompt is encoded once with gradients
  and its key/value cache shared by every target, the targets fed in chunks of 64.
- `copied-prompt`: the same, but every target row attends to its own copy of the prompt's keys and
  values in transformers' cache (the pipeline's way before the shared-prefix attention of lm.py).
- `full-sequences` (the authors' src/search.py): every target is a whole prompt + target sequence, in
  batches of 32, right-padded.

All accumulate the gradient of the same loss on the same LoRA adapter (all seven projections, r = 4,
its B matrices seeded away from zero so that every LoRA parameter has a gradient). The run records the
losses, the largest gradient difference from the authors' way and the time of each (best of `--repeats`). Usage, from a
folder whose results/ has the SSA files (after `make reproduce` or the smoke run):

    .venv/bin/python benchmarks/training_step.py [--threads 2] [--repeats 2] [--dtype float32]

Writes benchmarks/results/training_step.csv and prints it (recorded in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch
from results_table import write_results

from diffuse import lm
from diffuse.models import load_model, load_tokenizer, set_threads
from diffuse.settings import TrainSettings
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks
from diffuse.train import diffuse_loss, lora_model, train_step

REPO = Path(__file__).resolve().parent.parent
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def full_sequence_step(model, task, batch_size: int = 32) -> float:
    """The authors' way: each target a whole prompt + target sequence; gradient accumulated per batch."""
    prompt, total = task.prompt_ids, 0.0
    for start in range(0, len(task.targets), batch_size):
        targets = task.targets[start : start + batch_size]
        width = len(prompt) + max(len(t.ids) for t in targets)
        ids = torch.zeros(len(targets), width, dtype=torch.long)
        mask = torch.zeros(len(targets), width, dtype=torch.long)
        for i, target in enumerate(targets):
            ids[i, : len(prompt) + len(target.ids)] = torch.tensor(prompt + target.ids)
            mask[i, : len(prompt) + len(target.ids)] = 1
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        scores = []
        for i, target in enumerate(targets):
            positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(target.ids))
            scores.append(logp[i, positions, torch.tensor(target.ids)].sum())
        weights = torch.tensor([t.weight for t in targets])
        loss = diffuse_loss(torch.stack(scores), weights)
        loss.backward()
        total += float(loss.detach())
    return total


@contextmanager
def copied_prompt_cache():
    """continuation_logits through transformers' cache, the prompt copied into every row."""
    shared = lm.prefix_attention_applies
    lm.prefix_attention_applies = lambda *_: False
    try:
        yield
    finally:
        lm.prefix_attention_applies = shared


def copied_prompt_step(model, task) -> float:
    with copied_prompt_cache():
        return train_step(
            model, [task], [(0, list(range(len(task.targets))), 1.0)], SimpleNamespace(chunk_size=64)
        )[0]


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--model-dir", default=str(REPO / "results" / "models" / "smollm2-135m"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "training_step.csv"))
    args = parser.parse_args()

    set_threads(args.threads)
    task = encode_task(
        load_tokenizer(args.model_dir), load_tasks(REPO / "config" / "tasks")["babynames/random-name"]
    )
    settings = TrainSettings(target_modules=MODULES, chunk_size=64)
    model = lora_model(load_model(args.model_dir, dtype=args.dtype), settings)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.01 * torch.randn(p.shape, generator=generator))
    model.train()

    methods = {
        "shared-prompt": lambda: train_step(
            model, [task], [(0, list(range(len(task.targets))), 1.0)], SimpleNamespace(chunk_size=64)
        )[0],
        "copied-prompt": lambda: copied_prompt_step(model, task),
        "full-sequences": lambda: full_sequence_step(model, task),
    }
    losses, grads, seconds = {}, {}, {}
    for name, step in methods.items():
        times = []
        for _ in range(args.repeats):
            model.zero_grad(set_to_none=True)
            started = time.perf_counter()
            losses[name] = step()
            times.append(time.perf_counter() - started)
        grads[name], seconds[name] = gradients(model), min(times)
        print(f"{name}: loss {losses[name]:.6f}, {seconds[name]:.2f} s", flush=True)
    reference = grads["full-sequences"]
    difference = {
        name: max(float((grads[name][k] - reference[k]).abs().max()) for k in reference) for name in methods
    }
    largest = max(float(g.abs().max()) for g in grads["full-sequences"].values())
    rows = [
        {
            "method": name,
            "targets": len(task.targets),
            "prompt_tokens": len(task.prompt_ids),
            "dtype": args.dtype,
            "threads": args.threads,
            "loss": round(losses[name], 7),
            "seconds": round(seconds[name], 2),
            "speed_vs_full_sequences": round(seconds["full-sequences"] / seconds[name], 2),
            "max_abs_grad_difference": difference[name],
            "max_abs_grad": largest,
        }
        for name in methods
    ]
    write_results(rows, args.out)


if __name__ == "__main__":
    main()
