import json

from diffuse.evaluate import reference_metrics
from diffuse.job_log import start_job
from diffuse.tasks import Task

start_job(snakemake)

params = snakemake.params
task = Task.from_params(params.task)
row = {"model": "natural (reference)", "adapter": "", "task": task.id}
row.update(reference_metrics(task, params.n, params.seed))
with open(snakemake.output[0], "w") as handle:
    json.dump(row, handle, indent=1)
