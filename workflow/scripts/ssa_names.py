from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.ssa import natural_distribution, sample_names

start_job(snakemake)

p = snakemake.params
natural = natural_distribution(p.year)
write_table(natural, snakemake.output.natural)
write_table(sample_names(natural, p.size, p.seed), snakemake.output.sample)
