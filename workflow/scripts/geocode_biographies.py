from diffuse.atomic import write_table
from diffuse.biographies import read_biography_table
from diffuse.geocode import birth_places_table, geocoded_biographies, make_geocoder
from diffuse.job_log import start_job

start_job(snakemake)

table = read_biography_table(snakemake.input.parsed)
geocoder = make_geocoder(snakemake.params.geocoder, snakemake.params.journal)
places = birth_places_table([table], geocoder)
write_table(places, snakemake.output.places)
located = geocoded_biographies(table, places)
counts = located["geocoded_level"].value_counts().to_dict()
print(f"{int(located['parsed'].sum())} parsed; birth places by level: {counts}", flush=True)
write_table(located, snakemake.output.table)
