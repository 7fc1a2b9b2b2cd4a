from diffuse.atomic import write_table
from diffuse.calibration import evaluate_specs
from diffuse.job_log import start_job
from diffuse.sampling import SamplingSettings, make_backend, teacher_forcing_model
from diffuse.targets import EncodedTask

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
encodings = [EncodedTask.load(path) for path in snakemake.input.targets]
adapter = snakemake.input.adapter or None
longest = max(len(e.prompt_ids) for e in encodings)
backend = make_backend(
    params.backend,
    snakemake.input.model,
    adapter,
    params.dtype,
    params.backend_options,
    sizing=(longest, settings.max_new_tokens),
)
model = teacher_forcing_model(backend, snakemake.input.model, adapter, params.dtype)
table = evaluate_specs(backend, model, params.specs, encodings, settings, params.chunk_size)
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "adapter", params.adapter)
table.insert(2, "condition", params.condition)
write_table(table, snakemake.output[0])
