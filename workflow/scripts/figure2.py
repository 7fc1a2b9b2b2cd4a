import pandas as pd

from diffuse.reporting import figure2
from diffuse.rng_generalization import summarise
from diffuse.runlog import start_job

start_job(snakemake)

per_prompt = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
summary = summarise(per_prompt)
summary.to_csv(snakemake.output.table, index=False)
figure2(summary, snakemake.params.tuned, snakemake.output.png, snakemake.output.pdf)
