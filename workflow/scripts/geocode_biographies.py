from diffuse.atomic import write_table
from diffuse.biographies import read_biography_table
from diffuse.geocode import birth_places_table, geocoded_biographies, make_geocoder
from diffuse.job_log import start_job

start_job(snakemake)

# One job per model geocodes the birth places of every condition: the only writer of the answers.
tables = [read_biography_table(path) for path in snakemake.input.parsed]
geocoder = make_geocoder(snakemake.params.geocoder, snakemake.params.journal)
places = birth_places_table(tables, geocoder)
write_table(places, snakemake.output.places)
for table, path in zip(tables, snakemake.output.tables, strict=True):
    located = geocoded_biographies(table, places)
    counts = located["geocoded_level"].value_counts().to_dict()
    print(f"{path}: {int(located['parsed'].sum())} parsed; birth places by level: {counts}", flush=True)
    write_table(located, path)
