from diffuse.runlog import start_job
from diffuse.sampling import SamplingSettings, sample_task
from diffuse.targets import EncodedTask
from diffuse.tasks import Task

start_job(snakemake)

config = snakemake.params.sampling
settings = SamplingSettings(
    n=config["n"],
    seed=config["seed"],
    temperature=config["temperature"],
    max_new_tokens=config["max_new_tokens"],
    batch_size=config.get("batch_size", 250),
    dtype=snakemake.params.dtype,
)
adapter = snakemake.input.adapter or None
encoded = EncodedTask.load(snakemake.input.targets)
table = sample_task(
    snakemake.params.backend,
    snakemake.input.model,
    adapter,
    Task.from_params(snakemake.params.task),
    encoded,
    settings,
    snakemake.params.backend_options,
)
table.to_parquet(snakemake.output[0], index=False)
