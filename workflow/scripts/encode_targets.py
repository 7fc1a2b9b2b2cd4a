from diffuse.job_log import start_job
from diffuse.models import load_tokenizer
from diffuse.targets import encode_task
from diffuse.tasks import Task

start_job(snakemake)

tokenizer = load_tokenizer(snakemake.input.model)
encode_task(tokenizer, Task.from_params(snakemake.params.task)).save(snakemake.output[0])
