from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.models import load_tokenizer
from diffuse.rng_generalization import evaluate_prompts, range_prompts
from diffuse.sampling import SamplingSettings, make_backend
from diffuse.targets import encode_task

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
prompts = range_prompts(params.spec)
tokenizer = load_tokenizer(snakemake.input.model)
encoded = [encode_task(tokenizer, item.task) for item in prompts]
longest = max(len(e.prompt_ids) for e in encoded)
backend = make_backend(
    params.backend,
    snakemake.input.model,
    snakemake.input.adapter or None,
    params.dtype,
    params.backend_options,
    sizing=(longest, settings.max_new_tokens),
)
table = evaluate_prompts(backend, prompts, settings, params.chunk_size, encoded)
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "adapter", snakemake.wildcards.adapter)
write_table(table, snakemake.output[0])
