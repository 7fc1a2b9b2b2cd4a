from diffuse.atomic import write_table
from diffuse.calibration import CONDITION_OF
from diffuse.job_log import start_job
from diffuse.open_random import evaluate_prompts, load_prompts, select_prompts
from diffuse.sampling import SamplingSettings, make_backend, teacher_forcing_model

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
prompts = select_prompts(load_prompts(snakemake.input.prompts), params.limit, params.per_category)
adapter = snakemake.input.adapter or None
backend = make_backend(
    params.backend, snakemake.input.model, adapter, params.dtype, params.backend_options,
    sizing=(96, settings.max_new_tokens),
)  # fmt: skip
model = teacher_forcing_model(backend, snakemake.input.model, adapter, params.dtype)
table = evaluate_prompts(backend, model, prompts, settings)
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "adapter", snakemake.wildcards.adapter)
table.insert(2, "condition", CONDITION_OF[snakemake.wildcards.adapter])
write_table(table, snakemake.output[0])
