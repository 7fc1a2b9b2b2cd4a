import json

import pandas as pd

from diffuse.job_log import start_job
from diffuse.paper.section5 import (
    EXACT_CONTEXT,
    SAMPLED_CONTEXT,
    leave_one_out_frame,
    leave_one_out_summaries,
    one_n,
    with_paper,
)
from diffuse.paper.tables import METRIC_LEGEND, METRIC_NAMES, write_table

start_job(snakemake)

params = snakemake.params
rows = []
for path in snakemake.input.metrics:
    with open(path) as handle:
        rows.append(json.load(handle))
per_task = leave_one_out_frame(rows, params.labels)
n = one_n(per_task)
order = list(dict.fromkeys(params.labels.values()))
sets = (
    f"N = {n} samples in every cell (the first {n} rows of each sample file: experiments.leave_one_out.n). "
    "Means over each category's evaluated prompts. Coverage and entropy: over all parsed answers; 'valid': "
    "over valid answers (in the target set); parse rate, valid rate: shares of all N samples."
)
write_table(
    per_task,
    snakemake.output.per_task,
    snakemake.output.per_task_md,
    f"Section 5 per prompt: N = {n} samples per row, untuned vs OOD vs ID adapters",
    legend=[*METRIC_LEGEND, "top_outside_targets: the most frequent parsed answers that are not targets."],
    md_columns=METRIC_NAMES,
)
coverage = with_paper(
    leave_one_out_summaries(per_task, {"coverage": "", "coverage_valid": " valid", **SAMPLED_CONTEXT}, order),
    pd.read_csv(snakemake.input.paper_table5),
)
coverage.insert(1, "N", n)
write_table(
    coverage,
    snakemake.output.table5,
    snakemake.output.table5_md,
    f"Table 5: mean coverage-N (N = {n}) over each category's prompts, the paper's Table 5 (N = 1000) beside it",
    legend=[sets],
)
entropy = leave_one_out_summaries(
    per_task, {"entropy": "", "entropy_valid": " valid", **SAMPLED_CONTEXT, **EXACT_CONTEXT}, order
)
entropy.insert(1, "N", n)
write_table(
    entropy,
    snakemake.output.table6,
    snakemake.output.table6_md,
    f"Table 6: mean entropy (nats) of N = {n} sampled answers over each category's prompts",
    legend=[
        sets,
        "exact entropy: of p(y|x) renormalised over the target set; valid mass: total p(y|x) on the target set.",
    ],
)
# Footnote 9: tuned models answering outside their targets (OCCUPATIONS: 'Aromatherapist', 'Agronomist').
outside = per_task[
    ["model", "label", "task", "condition", "adapter", "n_samples", "parse_rate", "valid_rate", "coverage",
     "coverage_valid", "coverage_outside_targets", "top_outside_targets"]
]  # fmt: skip
write_table(
    outside,
    snakemake.output.outside_csv,
    snakemake.output.outside_md,
    f"Distinct parsed answers outside the target set, per prompt (N = {n}; paper footnote 9)",
    legend=[
        "coverage: distinct parsed answers; coverage_valid: distinct targets among them; "
        "coverage_outside_targets: distinct parsed answers that are not targets (not necessarily correct "
        "answers: read top_outside_targets, the most frequent with their counts). Rates: shares of all N.",
    ],
)
