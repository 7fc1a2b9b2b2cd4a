import pandas as pd

from diffuse.atomic import write_table
from diffuse.calibration import discretisation
from diffuse.families import discretise, make_spec
from diffuse.job_log import start_job

start_job(snakemake)

p = snakemake.params
spec = make_spec(p.spec["family"], p.spec["params"])
target = discretise(spec, discretisation({"discretisation": p.discretisation}))
write_table(pd.DataFrame({"value": target.values, "weight": target.probs}), snakemake.output[0])
