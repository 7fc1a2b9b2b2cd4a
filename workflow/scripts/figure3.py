import pandas as pd

from diffuse.reporting import figure3
from diffuse.runlog import start_job

start_job(snakemake)

per_task = pd.read_csv(snakemake.input[0])
labels = list(dict.fromkeys(snakemake.params.labels.values()))
figure3(per_task, labels, snakemake.output.png, snakemake.output.pdf)
