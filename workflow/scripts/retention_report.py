import pandas as pd

from diffuse.job_log import start_job
from diffuse.paper.tables import write_table

start_job(snakemake)

table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
untuned = table[table["condition"] == "untuned"].set_index("model")["nll_per_token"]
table["nll_change"] = table["nll_per_token"] - table["model"].map(untuned)
legend = [
    "One row per model and condition: the negative log-likelihood per token (nats) and perplexity of held-out "
    "text (CPython's reference pages, pydoc_data.topics, in name order, the first `characters` characters; "
    "sha256: the first 16 hex digits of the text's hash; python: the interpreter that shipped it), scored in "
    "windows without a chat template. nll_change: minus the untuned model's (positive: worse fit).",
]
write_table(
    table, snakemake.output.csv, snakemake.output.md, "Calibration: held-out text likelihood", legend=legend
)
