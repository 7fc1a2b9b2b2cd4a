from diffuse.models import set_threads
from diffuse.sampling import SamplingSettings, sample_task
from diffuse.targets import EncodedTask

set_threads(snakemake.threads)  # noqa: F821
config = snakemake.params.sampling  # noqa: F821
settings = SamplingSettings(
    n=config["n"],
    seed=config["seed"],
    temperature=config["temperature"],
    max_new_tokens=config["max_new_tokens"],
    batch_size=config.get("batch_size", 250),
    dtype=snakemake.params.dtype,  # noqa: F821
)
adapter = snakemake.input.adapter or None  # noqa: F821
encoded = EncodedTask.load(snakemake.input.targets)  # noqa: F821
table = sample_task(snakemake.params.backend, snakemake.input.model, adapter, snakemake.params.task, encoded, settings)  # noqa: F821
table.to_parquet(snakemake.output[0], index=False)  # noqa: F821
