"""Tokens per second of the `hf` and `vllm` sampling backends on the same prompt and N, in one run.

Each backend is built on the materialised embedded model (optionally with a LoRA adapter) and draws N
continuations of the paper's RNG prompt at temperature 1 (no top-k / top-p), rows stopped at end-of-turn,
through the same `sample()` call the `sample` rule uses. Start-up (model load, vLLM engine) is timed apart.
Usage (after `make setup-vllm`):

    .venv/bin/python benchmarks/backends.py [--n 1000] [--max-new-tokens 32] [--threads 2] [--adapter DIR]

Writes benchmarks/results/backends.csv and prints a table (recorded in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from results_table import write_results

from diffuse.models import load_tokenizer, materialise_model, set_threads
from diffuse.sampling import SamplingSettings, make_backend
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks

REPO = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder (default: the untuned model)")
    parser.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    parser.add_argument("--model-dir", default=str(REPO / "results" / "models" / "smollm2-135m"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "backends.csv"))
    args = parser.parse_args()

    set_threads(args.threads)
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "all")
    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").exists():
        materialise_model("embedded:smollm2-135m-instruct", model_dir)
    encoded = encode_task(load_tokenizer(model_dir), load_tasks(REPO / "config" / "tasks")["numbers/rng"])
    settings = SamplingSettings(n=args.n, seed=0, max_new_tokens=args.max_new_tokens, dtype=args.dtype)

    rows = []
    for name in args.backends:
        started = time.perf_counter()
        backend = make_backend(name, model_dir, args.adapter, args.dtype, {"max_model_len": 512})
        startup = time.perf_counter() - started
        started = time.perf_counter()
        sequences, _ = backend.sample(encoded.prompt_ids, encoded.stop_ids, settings, desc=name)
        seconds = time.perf_counter() - started
        tokens = sum(len(s) for s in sequences)
        rows.append(
            {
                "backend": name,
                "device": "cuda" if torch.cuda.is_available() else "cpu",
                "adapter": args.adapter or "base",
                "n": args.n,
                "max_new_tokens": args.max_new_tokens,
                "dtype": args.dtype,
                "threads": args.threads,
                "startup_seconds": round(startup, 1),
                "sample_seconds": round(seconds, 1),
                "new_tokens": tokens,
                "tokens_per_second": round(tokens / seconds, 1),
                "mean_length": round(tokens / len(sequences), 2),
                "machine": f"{platform.machine()} torch {torch.__version__}",
            }
        )
        print(f"{name}: start-up {startup:.1f} s, {seconds:.1f} s for {args.n} samples", flush=True)
        if hasattr(backend, "close"):
            backend.close()
        del backend
    write_results(rows, args.out)


if __name__ == "__main__":
    main()
