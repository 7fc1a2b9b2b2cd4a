from diffuse.models import load_tokenizer
from diffuse.targets import encode_task

tokenizer = load_tokenizer(snakemake.input.model)  # noqa: F821
encode_task(tokenizer, snakemake.params.task).save(snakemake.output[0])  # noqa: F821
