from diffuse.atomic import write_table
from diffuse.evaluate import exact_table
from diffuse.job_log import start_job
from diffuse.sampling import SamplingSettings, make_backend, sample_encoded
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
samples = sample_encoded(backend, Task.from_params(snakemake.params.task), encoded, settings)
logprobs = backend.exact_logprobs(encoded.prompt_ids, encoded.target_ids, snakemake.params.chunk_size)
write_table(samples, snakemake.output.samples)
write_table(exact_table(encoded, logprobs), snakemake.output.exact)
