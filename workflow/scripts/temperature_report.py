from diffuse.config import BASE
from diffuse.job_log import start_job
from diffuse.paper.section4 import temperature_figure
from diffuse.paper.tables import concat_csv, write_table
from diffuse.temperature import crossings

start_job(snakemake)

params = snakemake.params
table = concat_csv(snakemake.input)
labels = {e["task"]: e.get("label", e["task"]) for e in params.experiments}
tuned_of = {e["task"]: e["adapter"] for e in params.experiments}
table.insert(3, "label", table["task"].map(labels))
table.insert(4, "condition", ["untuned" if a == BASE else "ID" for a in table["adapter"]])
table = table.sort_values(["model", "task", "condition", "temperature"], ignore_index=True)
summary = crossings(table, BASE, tuned_of)
legend = [
    "N: samples per temperature (same seed at every temperature); parse_rate, valid_rate, stopped_rate: "
    "shares of all N samples (stopped: ended at end-of-turn before max_new_tokens); mean_new_tokens: per row; coverage, entropy: over parsed answers; coverage_valid, entropy_valid: over "
    "valid answers (in the target set); exact_*: p_T(y|x) = prod softmax(logits/T) over the target set "
    "(valid mass: its total; entropy: renormalised to the targets). Entropy in nats.",
    "",
    "Footnote 6: the lowest temperature at which the untuned model's entropy reaches the tuned model's at "
    "T = 1 (blank: not within the temperatures run).",
    "",
]
write_table(
    table,
    snakemake.output.csv,
    snakemake.output.md,
    "Entropy against sampling temperature, untuned vs tuned (paper footnote 6)",
    legend=legend,
    extra=summary,
)
summary.to_csv(snakemake.output.summary, index=False)
temperature_figure(table, labels, snakemake.output.png, snakemake.output.pdf, BASE)
