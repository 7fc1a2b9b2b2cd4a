import pandas as pd

from diffuse.config import BASE
from diffuse.reporting import figure1
from diffuse.runlog import start_job
from diffuse.tasks import Task, read_value_file

start_job(snakemake)

params = snakemake.params
panels = []
for model in params.models:
    for entry in params.experiments:
        task = Task.from_params(params.tasks[entry["task"]])
        conditions = {"base": BASE, "tuned": entry["adapter"]}
        panel = {
            "label": f"{model}: {entry.get('label', task.id)}",
            "samples": {},
            "exact": {},
            "natural": None,
        }
        for condition, adapter in conditions.items():
            panel["samples"][condition] = pd.read_parquet(
                f"results/samples/{model}/{adapter}/{task.id}.parquet"
            )
            panel["exact"][condition] = pd.read_parquet(f"results/exact/{model}/{adapter}/{task.id}.parquet")
        if task.natural_file:
            names, weights = read_value_file(task.natural_file)
            panel["natural"] = pd.Series(weights, index=names)
        panels.append(panel)
figure1(panels, snakemake.output.png, snakemake.output.pdf, ", ".join(params.models))
