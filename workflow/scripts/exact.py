from diffuse.evaluate import exact_table
from diffuse.models import load_model
from diffuse.runlog import start_job
from diffuse.targets import EncodedTask

start_job(snakemake)

adapter = snakemake.input.adapter or None
model = load_model(snakemake.input.model, adapter, dtype=snakemake.params.dtype)
encoded = EncodedTask.load(snakemake.input.targets)
exact_table(model, encoded, snakemake.params.chunk_size).to_parquet(snakemake.output[0], index=False)
