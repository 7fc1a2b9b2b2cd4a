import pandas as pd

from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.models import load_model, load_tokenizer
from diffuse.retention import retention_row

start_job(snakemake)

spec = snakemake.params.spec
model = load_model(
    snakemake.input.model, snakemake.input.adapter or None, dtype=snakemake.params.dtype, merge=True
)
row = retention_row(model, load_tokenizer(snakemake.input.model), spec["max_chars"], spec["window"])
meta = {
    "model": snakemake.wildcards.model,
    "adapter": snakemake.wildcards.adapter,
    "condition": snakemake.params.condition,
}
write_table(pd.DataFrame([{**meta, **row}]), snakemake.output[0])
