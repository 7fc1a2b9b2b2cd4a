from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.mcq import generate
from diffuse.sampling import SamplingSettings, make_backend

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
backend = make_backend(
    params.backend, snakemake.input.model, snakemake.input.adapter or None, params.dtype, params.backend_options,
    sizing=(192, settings.max_new_tokens),
)  # fmt: skip
write_table(generate(backend, settings), snakemake.output[0])
