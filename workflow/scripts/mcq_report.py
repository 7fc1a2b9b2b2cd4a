from pathlib import Path

import pandas as pd

from diffuse.calibration import CONDITION_OF
from diffuse.job_log import start_job
from diffuse.mcq import balance
from diffuse.paper.tables import write_table

start_job(snakemake)

rows = []
for path in map(Path, snakemake.input):
    model, adapter = path.parent.name, path.stem
    answers = pd.read_parquet(path)["answer"]
    letters = [None if pd.isna(a) else a for a in answers]
    rows.append({"model": model, "condition": CONDITION_OF[adapter], "adapter": adapter, **balance(letters)})
legend = [
    "One row per model and condition: n_samples generated questions (the prompt in diffuse.mcq.PROMPT, asking "
    "for the correct answer spread evenly over A-D); n_parsed, parse_rate: those in the strict six-line format; "
    "count_A..D: correct-answer letters among them; tv_from_uniform: 0.5 x sum |share - 1/4| over parsed "
    "questions (0: balanced; a low TV over few parsed questions is no success); chi2_pvalue: Pearson's test "
    "against uniform.",
]
write_table(
    pd.DataFrame(rows),
    snakemake.output.csv,
    snakemake.output.md,
    "MCQ answer-position balance",
    legend=legend,
)
