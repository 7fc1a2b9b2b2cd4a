from diffuse.biographies import read_biography_table
from diffuse.maps import world_map
from diffuse.runlog import start_job

start_job(snakemake)

table = read_biography_table(snakemake.input[0]).head(snakemake.params.points)
found = table.dropna(subset=["latitude", "longitude"])
parsed = int(table["parsed"].sum())
world_map(
    found["latitude"],
    found["longitude"],
    f"Figure 5: birth places, {snakemake.wildcards.model} ({snakemake.params.label})",
    f"{len(found)} of {parsed} parsed biographies geocoded ({len(table) - parsed} of {len(table)} did not parse)",
    snakemake.output.png,
    snakemake.output.pdf,
)
