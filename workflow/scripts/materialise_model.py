from diffuse.job_log import start_job
from diffuse.models import materialise_model

start_job(snakemake)

materialise_model(snakemake.params.source, snakemake.output[0])
