import json

import pandas as pd

from diffuse.config import BASE
from diffuse.reporting import table1, write_table
from diffuse.runlog import start_job

start_job(snakemake)

rows = []
for path in snakemake.input:
    with open(path) as handle:
        rows.append(json.load(handle))
metrics = pd.DataFrame(rows)
labels = {e["task"]: e.get("label", e["task"]) for e in snakemake.params.experiments}
metrics["label"] = metrics["task"].map(labels)
metrics["condition"] = metrics["adapter"].map(lambda a: "base" if a == BASE else "tuned")
title = "Table 1: coverage-N and entropy (nats) of N samples, untuned vs tuned"
write_table(table1(metrics), snakemake.output.csv, snakemake.output.md, title)
