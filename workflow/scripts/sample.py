from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.sampling import SamplingSettings, sample_task
from diffuse.targets import EncodedTask
from diffuse.tasks import Task

start_job(snakemake)

settings = SamplingSettings.from_config(snakemake.params.sampling, snakemake.params.dtype)
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
write_table(table, snakemake.output[0])
