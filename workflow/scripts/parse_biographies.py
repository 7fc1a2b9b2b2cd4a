import pandas as pd

from diffuse.atomic import write_table
from diffuse.biographies import biography_table
from diffuse.job_log import start_job

start_job(snakemake)

samples = pd.read_parquet(snakemake.input.samples)
table = biography_table(samples["text"].tolist())
table.insert(0, "row", samples["row"].to_numpy())
print(f"{len(table)} biographies, {int(table['parsed'].sum())} parsed", flush=True)
write_table(table, snakemake.output[0])
