from diffuse.job_log import start_job
from diffuse.mcq import balance_table
from diffuse.paper.tables import write_table

start_job(snakemake)

legend = [
    "One row per model and condition: n_samples generated questions (the prompt in diffuse.mcq.PROMPT, asking "
    "for the correct answer spread evenly over A-D); n_parsed, parse_rate: those in the strict six-line format; "
    "count_A..D: correct-answer letters among them; tv_from_uniform: 0.5 x sum |share - 1/4| over parsed "
    "questions (0: balanced; a low TV over few parsed questions is no success); chi2_pvalue: Pearson's test "
    "against uniform.",
]
write_table(
    balance_table(snakemake.input),
    snakemake.output.csv,
    snakemake.output.md,
    "MCQ answer-position balance",
    legend=legend,
)
