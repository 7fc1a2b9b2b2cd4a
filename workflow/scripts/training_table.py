import json
from pathlib import Path

from diffuse.job_log import start_job
from diffuse.paper.tables import write_table
from diffuse.train import training_table

start_job(snakemake)

summaries = {}
for (model, adapter), folder in zip(snakemake.params.adapters, snakemake.input, strict=True):
    summaries[(model, adapter)] = json.loads((Path(folder) / "train_summary.json").read_text())
title = (
    "LoRA training per adapter: updates, early stop, final loss vs its bound (the target entropy, on the "
    "loss_scale given), and the share of parameters LoRA trains"
)
write_table(training_table(summaries), snakemake.output.csv, snakemake.output.md, title)
