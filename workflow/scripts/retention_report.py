from diffuse.job_log import start_job
from diffuse.paper.tables import concat_csv, write_table
from diffuse.retention import with_nll_change

start_job(snakemake)

table = with_nll_change(concat_csv(snakemake.input))
legend = [
    "One row per model and condition: the negative log-likelihood per token (nats) and perplexity of held-out "
    "text (CPython's reference pages, pydoc_data.topics, in name order, the first `characters` characters; "
    "sha256: the first 16 hex digits of the text's hash; python: the interpreter that shipped it), scored in "
    "windows without a chat template. nll_change: minus the untuned model's (positive: worse fit).",
]
write_table(
    table, snakemake.output.csv, snakemake.output.md, "Calibration: held-out text likelihood", legend=legend
)
