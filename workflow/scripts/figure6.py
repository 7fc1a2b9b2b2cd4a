from diffuse.job_log import start_job
from diffuse.paper.section6 import figure6
from diffuse.paper.tables import concat_csv

start_job(snakemake)

utility = concat_csv(snakemake.input)
summary = utility.groupby(["model", "adapter", "category"], as_index=False)[
    ["kl_per_token", "base_loglik_per_token", "tuned_loglik_per_token", "answer_tokens"]
].mean()
summary.to_csv(snakemake.output.table, index=False)
figure6(utility, snakemake.params.conditions, snakemake.output.png, snakemake.output.pdf)
