import pandas as pd

from diffuse.job_log import start_job
from diffuse.paper.section5 import figure3

start_job(snakemake)

per_task = pd.read_csv(snakemake.input[0])
labels = list(dict.fromkeys(snakemake.params.labels.values()))
figure3(per_task, labels, snakemake.output.png, snakemake.output.pdf)
