import pandas as pd

from diffuse.job_log import start_job
from diffuse.mt_bench import ChatJudge, judge_answers, read_judge_prompts, read_questions

start_job(snakemake)

answers = pd.read_csv(snakemake.input.answers, keep_default_na=False)
asked = set(answers["question_id"])
questions = [
    q for q in read_questions(snakemake.input.questions, snakemake.input.references) if q.id in asked
]
judgments = judge_answers(
    ChatJudge(snakemake.params.spec["judge"]),
    read_judge_prompts(snakemake.input.judge_prompts),
    questions,
    answers,
    journal=snakemake.params.journal,
)
judgments.insert(0, "model", snakemake.wildcards.model)
judgments.insert(1, "adapter", snakemake.wildcards.adapter)
print(f"{int((~judgments['valid']).sum())} of {len(judgments)} judgments have no readable rating")
judgments.to_csv(snakemake.output[0], index=False)
