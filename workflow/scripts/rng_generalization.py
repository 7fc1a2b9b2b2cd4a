from diffuse.job_log import start_job
from diffuse.rng_generalization import evaluate_prompts, range_prompts
from diffuse.sampling import SamplingSettings, make_backend

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
backend = make_backend(
    params.backend,
    snakemake.input.model,
    snakemake.input.adapter or None,
    params.dtype,
    params.backend_options,
)
table = evaluate_prompts(backend, range_prompts(params.spec), settings, params.chunk_size)
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "adapter", snakemake.wildcards.adapter)
table.to_csv(snakemake.output[0], index=False)
