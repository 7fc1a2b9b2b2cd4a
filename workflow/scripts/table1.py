import json

import pandas as pd

from diffuse.config import BASE
from diffuse.job_log import start_job
from diffuse.paper.section4 import table1
from diffuse.paper.tables import METRIC_LEGEND, METRIC_NAMES, write_table

start_job(snakemake)


def read(paths):
    rows = []
    for path in paths:
        with open(path) as handle:
            rows.append(json.load(handle))
    return pd.DataFrame(rows)


metrics = read(snakemake.input.metrics)
metrics["condition"] = metrics["adapter"].map(lambda a: "untuned" if a == BASE else "ID")
reference = read(snakemake.input.reference)
reference["condition"] = "natural"
metrics = pd.concat([reference, metrics], ignore_index=True)
labels = {e["task"]: e.get("label", e["task"]) for e in snakemake.params.experiments}
metrics["label"] = metrics["task"].map(labels)
legend = [
    "condition natural: N seeded draws from the task's natural distribution (BABYNAMES: SSA counts of the "
    "configured year; RNG: uniform), the paper's reference row; valid for it means in the target set too.",
    *METRIC_LEGEND,
]
write_table(
    table1(metrics),
    snakemake.output.csv,
    snakemake.output.md,
    "Table 1: coverage-N and entropy (nats) of N samples: natural reference, untuned and tuned",
    legend=legend,
    md_columns=METRIC_NAMES,
)
