from diffuse.atomic import write_table
from diffuse.evaluate import sample_and_score
from diffuse.job_log import start_job
from diffuse.sampling import SamplingSettings, make_backend
from diffuse.targets import EncodedTask
from diffuse.tasks import Task

start_job(snakemake)

settings = SamplingSettings.from_config(snakemake.params.sampling, snakemake.params.dtype)
backend = make_backend(
    "hf",
    snakemake.input.model,
    snakemake.input.adapter or None,
    settings.dtype,
    snakemake.params.backend_options,
)
encoded = EncodedTask.load(snakemake.input.targets)
task = Task.from_params(snakemake.params.task)
samples, exact = sample_and_score(backend, task, encoded, settings, snakemake.params.chunk_size)
write_table(samples, snakemake.output.samples)
write_table(exact, snakemake.output.exact)
