import json
from pathlib import Path

from diffuse.calibration import task_suite_table
from diffuse.job_log import start_job
from diffuse.paper.tables import write_table

start_job(snakemake)

rows = [json.loads(Path(path).read_text()) for path in snakemake.input]
table = task_suite_table(rows, snakemake.params.labels)
n = int(table["N"].iloc[0])
legend = [
    f"N = {n} samples per prompt (experiments.leave_one_out.n, as Tables 5 and 6). Means over the category's "
    "prompts in experiments.calibration.task_suite (prompts: how many). Coverage and entropy (nats): over all "
    "parsed answers; 'valid': over answers in the target set; parse rate, valid rate: shares of all N. exact: "
    "p(y|x) by teacher forcing over the target set (entropy renormalised to it; valid mass: its total).",
    "Conditions: untuned; eq5, soft, hard: the follow-up's adapters trained on distribution-family specs only "
    "(experiments.calibration), none of them on these prompts.",
]
write_table(
    table,
    snakemake.output.csv,
    snakemake.output.md,
    f"The 2024 task suite (Tables 5/6) under each follow-up objective: N = {n}",
    legend=legend,
)
