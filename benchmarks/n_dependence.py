"""How Tables 5 and 6 move with N: the same leave-one-out samples measured over their first n rows.

A sample file's rows are i.i.d. draws, so its first n rows are a sample of size n (the rule
`leave_one_out_metrics` reads them the same way). For every (adapter, prompt) of a finished run's Tables 5/6
this measures coverage-n, valid coverage and sampled entropy at each n and prints their means per category
and condition: where the paper's N = 1000 changes what the tables say against a cut N such as 200.

    .venv/bin/python benchmarks/n_dependence.py [--tree .] [--model smollm2-135m] [--n 100 200 500 1000]

Writes benchmarks/results/n_dependence.csv (one row per prompt, condition and n) and prints the category
means, recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
from results_table import write_results

from diffuse.config import leave_one_out_compared
from diffuse.evaluate import evaluate
from diffuse.paper.section5 import condition_of
from diffuse.targets import EncodedTask
from diffuse.tasks import load_tasks

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ("coverage", "coverage_valid", "entropy", "parse_rate")


def measured_pairs(tree: Path, model: str) -> list[tuple[str, str]]:
    """(adapter, task) of every cell of the run's Tables 5/6, from its leave-one-out metrics files (the
    follow-up's task suite writes there too, under its own adapters: those are left out)."""
    root = tree / "results" / "leave_one_out" / "metrics" / model
    pairs = []
    for path in sorted(root.rglob("*.json")):
        adapter, *task = path.relative_to(root).with_suffix("").parts
        if adapter in leave_one_out_compared(task[0]):
            pairs.append((adapter, "/".join(task)))
    if not pairs:
        raise SystemExit(f"no leave-one-out metrics under {root}: run the default DAG first")
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(REPO), help="a finished run's working tree")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "n_dependence.csv"))
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    out = Path(args.out).resolve()
    os.chdir(tree)  # task files name their data relative to the tree (results/data/ssa/natural.csv)
    tasks = load_tasks(tree / "config" / "tasks")
    rows = []
    for adapter, task_id in measured_pairs(tree, args.model):
        task = tasks[task_id]
        encoded = EncodedTask.load(tree / "results" / "targets" / args.model / f"{task_id}.json")
        samples = pd.read_parquet(tree / "results" / "samples" / args.model / adapter / f"{task_id}.parquet")
        exact = pd.read_parquet(tree / "results" / "exact" / args.model / adapter / f"{task_id}.parquet")
        category = task_id.split("/")[0]
        for n in args.n:
            if n > len(samples):
                continue
            metrics = evaluate(task, encoded, samples, exact, n, "--n")
            rows.append(
                {"category": category, "task": task_id, "condition": condition_of(adapter, category), "n": n}
                | {column: metrics[column] for column in COLUMNS}
            )
    write_results(rows, str(out))
    table = pd.DataFrame(rows)
    means = table.pivot_table(index=["category", "condition"], columns="n", values=list(COLUMNS[:3]))
    print("\nmeans over each category's prompts (columns: metric, n)")
    print(means.round(2).to_string())


if __name__ == "__main__":
    main()
