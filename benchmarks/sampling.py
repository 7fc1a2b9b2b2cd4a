"""Seconds per N samples: the shared-prompt-cache sampler against plain `model.generate`, in one run.

Both draw N continuations of the paper's RNG prompt at temperature 1 with no top-k / top-p, stop rows at
the end-of-turn token, batch 250, on the materialised embedded model. Usage (after `make setup`):

    .venv/bin/python benchmarks/sampling.py [--n 1000] [--max-new-tokens 32] [--threads 2]

Writes benchmarks/results/sampling.csv and prints a Markdown table (recorded in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from results_table import write_results

from diffuse.lm import sample_continuations
from diffuse.models import load_model, load_tokenizer, materialise_model, set_threads
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks

REPO = Path(__file__).resolve().parent.parent


def generate_baseline(model, prompt_ids, n, max_new_tokens, stop_id, batch_size, seed):
    """transformers' own sampling loop: the prompt is re-encoded for every row of a batch."""
    torch.manual_seed(seed)
    lengths = []
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        inputs = torch.tensor([prompt_ids] * rows)
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            eos_token_id=stop_id,
            pad_token_id=stop_id,
        )
        new = out[:, len(prompt_ids) :]
        for row in new.tolist():
            lengths.append(row.index(stop_id) + 1 if stop_id in row else len(row))
    return lengths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", default=str(REPO / "results" / "models" / "smollm2-135m"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sampling.csv"))
    args = parser.parse_args()

    set_threads(args.threads)
    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").exists():
        materialise_model("embedded:smollm2-135m-instruct", model_dir)
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir)
    task = load_tasks(REPO / "config" / "tasks")["numbers/rng"]
    encoded = encode_task(tokenizer, task)
    stop_id = encoded.stop_ids[-1]

    rows = []
    for name in ("shared_cache", "generate"):
        started = time.perf_counter()
        if name == "shared_cache":
            sequences, _ = sample_continuations(
                model, encoded.prompt_ids, args.n, seed=0, max_new_tokens=args.max_new_tokens,
                stop_ids=encoded.stop_ids, batch_size=args.batch_size,
            )  # fmt: skip
            lengths = [len(s) for s in sequences]
        else:
            with torch.no_grad():
                lengths = generate_baseline(
                    model, encoded.prompt_ids, args.n, args.max_new_tokens, stop_id, args.batch_size, seed=0
                )
        seconds = time.perf_counter() - started
        rows.append(
            {
                "method": name,
                "n": args.n,
                "max_new_tokens": args.max_new_tokens,
                "threads": args.threads,
                "seconds": round(seconds, 2),
                "seconds_per_1000": round(seconds * 1000 / args.n, 2),
                "new_tokens": sum(lengths),
                "tokens_per_second": round(sum(lengths) / seconds, 1),
                "mean_length": round(sum(lengths) / len(lengths), 2),
                "machine": f"{platform.machine()} {torch.__version__}",
            }
        )
        print(f"{name}: {seconds:.1f} s for {args.n} samples", flush=True)
    write_results(rows, args.out)


if __name__ == "__main__":
    main()
