from diffuse.ssa import natural_distribution, sample_names

p = snakemake.params  # noqa: F821
natural = natural_distribution(p.year)
natural.to_csv(snakemake.output.natural, index=False)  # noqa: F821
sample_names(natural, p.size, p.seed).to_csv(snakemake.output.sample, index=False)  # noqa: F821
