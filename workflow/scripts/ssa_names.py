from diffuse.job_log import start_job
from diffuse.ssa import natural_distribution, sample_names

start_job(snakemake)

p = snakemake.params
natural = natural_distribution(p.year)
natural.to_csv(snakemake.output.natural, index=False)
sample_names(natural, p.size, p.seed).to_csv(snakemake.output.sample, index=False)
