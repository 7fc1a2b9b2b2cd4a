from diffuse.atomic import write_table
from diffuse.evaluate import exact_task
from diffuse.job_log import start_job
from diffuse.sampling import HFBackend
from diffuse.targets import EncodedTask

start_job(snakemake)

# Teacher forcing through transformers whatever the sampling backend: the reference numbers.
backend = HFBackend(snakemake.input.model, snakemake.input.adapter or None, snakemake.params.dtype)
encoded = EncodedTask.load(snakemake.input.targets)
write_table(exact_task(backend, encoded, snakemake.params.chunk_size), snakemake.output[0])
