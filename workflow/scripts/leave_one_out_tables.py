import json

import pandas as pd

from diffuse.reporting import (
    EXACT_CONTEXT,
    SAMPLED_CONTEXT,
    leave_one_out_frame,
    leave_one_out_summaries,
    with_paper,
    write_table,
)
from diffuse.runlog import start_job

start_job(snakemake)

params = snakemake.params
rows = []
for path in snakemake.input.metrics:
    with open(path) as handle:
        rows.append(json.load(handle))
per_task = leave_one_out_frame(rows, params.labels)
per_task.to_csv(snakemake.output.per_task, index=False)
order = list(dict.fromkeys(params.labels.values()))
coverage = with_paper(
    leave_one_out_summaries(per_task, {"coverage": "", "coverage_valid": " valid", **SAMPLED_CONTEXT}, order),
    pd.read_csv(snakemake.input.paper_table5),
)
write_table(
    coverage,
    snakemake.output.table5,
    snakemake.output.table5_md,
    "Table 5: mean coverage-N over each category's prompts (all parsed answers; valid: those in the target "
    "set; the paper's Table 5 beside it)",
)
write_table(
    leave_one_out_summaries(per_task, {"entropy": "", **SAMPLED_CONTEXT, **EXACT_CONTEXT}, order),
    snakemake.output.table6,
    snakemake.output.table6_md,
    "Table 6: mean entropy (nats) of sampled answers over each category's prompts; exact entropy: of "
    "p(y|x) renormalised over the target set; valid mass: total p(y|x) on the target set",
)
