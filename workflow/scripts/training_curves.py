from pathlib import Path

import pandas as pd

from diffuse.reporting import training_curves
from diffuse.runlog import start_job

start_job(snakemake)

logs = {
    name: pd.read_csv(Path(folder) / "train_log.csv")
    for name, folder in zip(snakemake.params.trainsets, snakemake.input, strict=True)
}
training_curves(logs, snakemake.output[0], snakemake.wildcards.model)
