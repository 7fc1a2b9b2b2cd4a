import pandas as pd

from diffuse.biographies import biography_places, ssa_first_names, tuned_id_targets
from diffuse.job_log import start_job

start_job(snakemake)

spec = snakemake.params.spec
low, high = spec["years"]
table = tuned_id_targets(
    first_names=ssa_first_names(range(low, high + 1)),
    surnames=pd.read_csv(snakemake.input.surnames),
    places=biography_places(spec["min_city_population"]),
    size=spec["size"],
    seed=spec["seed"],
    years=(low, high),
)
# `value` is the target text the task file points at; the attributes stay beside it for inspection.
table.insert(0, "value", table.pop("text"))
table.to_csv(snakemake.output[0], index=False)
