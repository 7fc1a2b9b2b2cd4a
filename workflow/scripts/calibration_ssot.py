from diffuse.atomic import write_table
from diffuse.calibration import BASE_ADAPTER, SSOT_CONDITION, evaluate_specs_ssot
from diffuse.job_log import start_job
from diffuse.sampling import SamplingSettings, make_backend
from diffuse.targets import EncodedTask

start_job(snakemake)

params = snakemake.params
settings = SamplingSettings.from_config(params.sampling, params.dtype)
encodings = [EncodedTask.load(path) for path in snakemake.input.targets]
backend = make_backend(
    params.backend, snakemake.input.model, None, params.dtype, params.backend_options,
    sizing=(max(len(e.prompt_ids) for e in encodings) + 160, settings.max_new_tokens),
)  # fmt: skip
table = evaluate_specs_ssot(backend, params.specs, encodings, settings)
table.insert(0, "model", snakemake.wildcards.model)
table.insert(1, "adapter", BASE_ADAPTER)
table.insert(2, "condition", SSOT_CONDITION)
write_table(table, snakemake.output[0])
