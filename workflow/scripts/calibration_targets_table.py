from diffuse.calibration import describe_targets
from diffuse.job_log import start_job
from diffuse.paper.tables import write_table

start_job(snakemake)

table = describe_targets(snakemake.params.block)
legend = [
    "One row per spec (split seen: the training specs). values: grid points of the target set; low, high: its "
    "first and last value; kept_mass: the distribution's mass between the grid's ends before the tails are "
    "folded into the edge values (continuous: between the configured quantiles, within the support; "
    "discrete: the integers kept under max_bins). A spec keeping less than min_mass stops the run.",
]
write_table(table, snakemake.output.csv, snakemake.output.md, "Calibration target sets", legend=legend)
