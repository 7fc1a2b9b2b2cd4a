from diffuse.models import materialise_model
from diffuse.runlog import start_job

start_job(snakemake)

materialise_model(snakemake.params.source, snakemake.output[0])
