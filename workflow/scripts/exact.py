from diffuse.evaluate import exact_table
from diffuse.models import load_model, set_threads
from diffuse.targets import EncodedTask

set_threads(snakemake.threads)  # noqa: F821
adapter = snakemake.input.adapter or None  # noqa: F821
model = load_model(snakemake.input.model, adapter, dtype=snakemake.params.dtype)  # noqa: F821
encoded = EncodedTask.load(snakemake.input.targets)  # noqa: F821
exact_table(model, encoded, snakemake.params.chunk_size).to_parquet(snakemake.output[0], index=False)  # noqa: F821
