from pathlib import Path

import pandas as pd

from diffuse.biographies import read_biography_table
from diffuse.reporting import write_table
from diffuse.reporting_biographies import (
    TABLE7,
    TABLE8,
    figure4,
    geocoding_summary,
    paper_comparison,
    section6_tables,
)
from diffuse.runlog import start_job

start_job(snakemake)

conditions = snakemake.params.conditions
tables = {}
for path in snakemake.input.parsed:
    path = Path(path)
    tables[(path.parent.name, conditions[path.stem])] = read_biography_table(path)
metrics, top, diversity = section6_tables(tables)
paper = pd.read_csv(snakemake.input.paper)
out = snakemake.output
metrics.to_csv(out.metrics, index=False)
top.to_csv(out.table2, index=False)
diversity.to_csv(out.diversity, index=False)
geocoding_summary(tables).to_csv(out.geocoding, index=False)
write_table(
    paper_comparison(metrics, paper, TABLE7), out.table7, out.table7_md,
    "Table 7: coverage and entropy (nats) of first name, last name and birth year (ours; the paper's Llama-2 beside)",
)  # fmt: skip
write_table(
    paper_comparison(metrics, paper, TABLE8), out.table8, out.table8_md,
    "Table 8: coverage and entropy (nats) of birth place and profession (ours; the paper's Llama-2 beside)",
)  # fmt: skip
figure4(metrics, diversity, out.png, out.pdf)
