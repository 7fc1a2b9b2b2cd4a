from pathlib import Path

from diffuse.mt_bench import JUDGE_PROMPTS, QUESTIONS, REFERENCES, fetch, read_judge_prompts, read_questions
from diffuse.runlog import start_job

start_job(snakemake)

output = snakemake.output
for relative, destination in ((QUESTIONS, output.questions), (REFERENCES, output.references),
                              (JUDGE_PROMPTS, output.judge_prompts)):  # fmt: skip
    fetch(snakemake.params.data, relative, Path(destination))
# Fail here, not after hours of answering, if a file is not what MT-Bench needs.
questions = read_questions(output.questions, output.references)
read_judge_prompts(output.judge_prompts)
print(f"MT-Bench: {len(questions)} questions from {snakemake.params.data}")
