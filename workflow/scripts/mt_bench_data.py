from pathlib import Path

from diffuse.job_log import start_job
from diffuse.mt_bench import DATA_FILES, fetch, read_judge_prompts, read_questions

start_job(snakemake)

output = snakemake.output
for name, relative in DATA_FILES.items():  # the rule's outputs are named as DATA_FILES
    fetch(snakemake.params.data, relative, Path(output[name]))
# Fail here, not after hours of answering, if a file is not what MT-Bench needs.
questions = read_questions(output.questions, output.references)
read_judge_prompts(output.judge_prompts)
print(f"MT-Bench: {len(questions)} questions from {snakemake.params.data}")
