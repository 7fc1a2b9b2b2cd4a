from diffuse.models import load_tokenizer
from diffuse.runlog import start_job
from diffuse.targets import encode_task

start_job(snakemake)

tokenizer = load_tokenizer(snakemake.input.model)
encode_task(tokenizer, snakemake.params.task).save(snakemake.output[0])
