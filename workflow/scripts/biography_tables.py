import pandas as pd

from diffuse.biographies import read_biography_table
from diffuse.job_log import start_job
from diffuse.paper.section6 import (
    TABLE7,
    TABLE8,
    figure4,
    geocoding_summary,
    paper_comparison,
    paper_comparison_legend,
    section6_tables,
    table4_draw,
)
from diffuse.paper.tables import write_markdown

start_job(snakemake)

tables = {
    (model, condition): read_biography_table(path)
    for (model, condition), path in zip(snakemake.params.parsed_keys, snakemake.input.parsed, strict=True)
}
metrics, top, diversity = section6_tables(tables)
paper = pd.read_csv(snakemake.input.paper)
out = snakemake.output
metrics.to_csv(out.metrics, index=False)
diversity.to_csv(out.diversity, index=False)
geocoding_summary(tables).to_csv(out.geocoding, index=False)
counts = paper_comparison_legend(metrics)[0]
write_markdown(
    top, out.table2, out.table2_md, "Table 2: the five most frequent values of each attribute",
    [counts, "count: parsed biographies with that value; share_of_parsed = count / n_parsed; "
     "share_of_all = count / N (the paper's 'out of 1000')."],
)  # fmt: skip
spec = snakemake.params.table4
write_markdown(
    table4_draw(tables, spec["n"], spec["seed"]), out.table4, out.table4_md,
    f"Table 4: {spec['n']} randomly drawn biographies per system",
    [f"Drawn uniformly without replacement from each system's parsed biographies (numpy default_rng([seed, "
     f"system index]), seed {spec['seed']}), shown in sample order; fields as parsed. {counts}"],
)  # fmt: skip
for name, attributes, what in (
    ("table7", TABLE7, "first name, last name and birth year"),
    ("table8", TABLE8, "birth place and profession"),
):
    table = paper_comparison(metrics, paper, attributes)
    marks = {c.replace(" entropy > ln(coverage)", " entropy nats (as printed)"): c for c in table.columns
             if c.endswith("entropy > ln(coverage)")}  # fmt: skip
    write_markdown(
        table, out[name], out[f"{name}_md"],
        f"Table {name[-1]}: coverage and entropy (nats) of {what}, ours and the paper's Llama-2",
        paper_comparison_legend(metrics), marks,
    )  # fmt: skip
figure4(metrics, diversity, out.png, out.pdf)
