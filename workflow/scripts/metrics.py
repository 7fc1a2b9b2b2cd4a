import json

import pandas as pd

from diffuse.evaluate import evaluate
from diffuse.targets import EncodedTask

wc = snakemake.wildcards  # noqa: F821
encoded = EncodedTask.load(snakemake.input.targets)  # noqa: F821
row = {"model": wc.model, "adapter": wc.adapter, "task": wc.task, "n_targets": len(encoded.targets)}
samples = pd.read_parquet(snakemake.input.samples)  # noqa: F821
exact = pd.read_parquet(snakemake.input.exact)  # noqa: F821
row.update(evaluate(snakemake.params.task, encoded, samples, exact))  # noqa: F821
with open(snakemake.output[0], "w") as handle:  # noqa: F821
    json.dump(row, handle, indent=1)
