from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.models import load_model, load_tokenizer
from diffuse.mt_bench import answer_questions, read_questions

start_job(snakemake)

spec = snakemake.params.spec
questions = read_questions(snakemake.input.questions, snakemake.input.references, spec.get("limit"))
model = load_model(
    snakemake.input.model, snakemake.input.adapter or None, dtype=snakemake.params.dtype, merge=True
)
answers = answer_questions(
    model,
    load_tokenizer(snakemake.input.model),
    questions,
    spec.get("max_new_tokens", 1024),
    spec.get("seed", 0),
)
answers.insert(0, "model", snakemake.wildcards.model)
answers.insert(1, "adapter", snakemake.wildcards.adapter)
write_table(answers, snakemake.output[0])
