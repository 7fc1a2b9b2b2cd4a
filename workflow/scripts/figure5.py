from diffuse.biographies import parse_counts, read_biography_table
from diffuse.job_log import start_job
from diffuse.maps import world_map

start_job(snakemake)

table = read_biography_table(snakemake.input[0]).head(snakemake.params.points)
counts = parse_counts(table)
parsed = table[table["parsed"]]
points = {
    level: (part["latitude"], part["longitude"])
    for level, part in parsed.dropna(subset=["latitude", "longitude"]).groupby("geocoded_level")
}
unresolved = int(parsed["latitude"].isna().sum())
world_map(
    points,
    f"Figure 5: birth places, {snakemake.wildcards.model} ({snakemake.params.label})",
    f"first {counts['n_biographies']} biographies: {counts['n_parsed']} parsed, each drawn at the finest level "
    f"its birth place resolved to ({counts['n_placeholder_echo']} placeholder echoes, {counts['n_unparsed']} "
    "unparsed, not drawn)",
    snakemake.output.png,
    snakemake.output.pdf,
    unresolved=unresolved,
)
