import json

import pandas as pd

from diffuse.evaluate import evaluate
from diffuse.job_log import start_job
from diffuse.targets import EncodedTask
from diffuse.tasks import Task

start_job(snakemake)

wc = snakemake.wildcards
params = snakemake.params
encoded = EncodedTask.load(snakemake.input.targets)
row = {"model": wc.model, "adapter": wc.adapter, "task": wc.task, "n_targets": len(encoded.targets)}
samples = pd.read_parquet(snakemake.input.samples)
exact = pd.read_parquet(snakemake.input.exact)
row.update(evaluate(Task.from_params(params.task), encoded, samples, exact, params.n, params.n_key))
with open(snakemake.output[0], "w") as handle:
    json.dump(row, handle, indent=1)
