from diffuse.job_log import start_job
from diffuse.mt_bench import category_scores, score_table
from diffuse.paper.section6 import figure6_mt_bench
from diffuse.paper.tables import concat_csv

start_job(snakemake)

judgments = concat_csv(snakemake.input)
conditions = snakemake.params.conditions
scores = score_table(judgments)
scores.insert(2, "condition", scores["adapter"].map(conditions))
scores.to_csv(snakemake.output.table, index=False)
categories = category_scores(judgments)
categories.to_csv(snakemake.output.categories, index=False)
figure6_mt_bench(categories, scores, conditions, snakemake.output.png, snakemake.output.pdf)
