import pandas as pd

from diffuse.job_log import start_job
from diffuse.paper.section6 import figure6

start_job(snakemake)

utility = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
summary = utility.groupby(["model", "adapter", "category"], as_index=False)[
    ["kl_per_token", "base_loglik_per_token", "tuned_loglik_per_token", "answer_tokens"]
].mean()
summary.to_csv(snakemake.output.table, index=False)
figure6(utility, snakemake.params.conditions, snakemake.output.png, snakemake.output.pdf)
