import pandas as pd

from diffuse.job_log import start_job
from diffuse.paper.section4 import figure1
from diffuse.tasks import Task, read_value_file

start_job(snakemake)

params = snakemake.params
labels = {e["task"]: e.get("label", e["task"]) for e in params.experiments}
panels = {}
for entry, samples, exact in zip(params.entries, snakemake.input.samples, snakemake.input.exact, strict=True):
    task = Task.from_params(params.tasks[entry["task"]])
    key = (entry["model"], entry["task"])
    if key not in panels:
        natural = None
        if task.natural_file:
            names, weights = read_value_file(task.natural_file)
            natural = pd.Series(weights, index=names)
        panels[key] = {"label": f"{entry['model']}: {labels[entry['task']]}", "samples": {}, "exact": {},
                       "natural": natural}  # fmt: skip
    panels[key]["samples"][entry["condition"]] = pd.read_parquet(samples)
    panels[key]["exact"][entry["condition"]] = pd.read_parquet(exact)
figure1(list(panels.values()), snakemake.output.png, snakemake.output.pdf, ", ".join(params.models))
