from diffuse.atomic import atomic_dir
from diffuse.job_log import start_job
from diffuse.models import materialise_model

start_job(snakemake)

with atomic_dir(snakemake.output[0]) as out:
    materialise_model(snakemake.params.source, out)
