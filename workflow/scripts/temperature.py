from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.sampling import HFBackend, make_backend
from diffuse.targets import EncodedTask
from diffuse.tasks import Task
from diffuse.temperature import temperature_sweep

start_job(snakemake)

params = snakemake.params
wc = snakemake.wildcards
adapter = snakemake.input.adapter or None
encoded = EncodedTask.load(snakemake.input.targets)
sizing = (len(encoded.prompt_ids), params.spec["max_new_tokens"])
sampler = make_backend(
    params.backend, snakemake.input.model, adapter, params.dtype, params.backend_options, sizing
)
# Exact p_T by teacher forcing through transformers, as the exact rule does (one load on the hf backend).
scorer = (
    sampler if isinstance(sampler, HFBackend) else HFBackend(snakemake.input.model, adapter, params.dtype)
)
table = temperature_sweep(
    sampler,
    scorer,
    Task.from_params(params.task),
    encoded,
    params.spec,
    params.batch_size,
    params.dtype,
    params.chunk_size,
)
table.insert(0, "n_targets", len(encoded.targets))
table.insert(0, "task", wc.task)
table.insert(0, "adapter", wc.adapter)
table.insert(0, "model", wc.model)
write_table(table, snakemake.output[0])
