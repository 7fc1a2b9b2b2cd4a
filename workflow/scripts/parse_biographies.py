import pandas as pd

from diffuse.biographies import biography_table
from diffuse.geocode import NominatimGeocoder, OfflineGeocoder, geocode_places
from diffuse.job_log import start_job

start_job(snakemake)

spec = snakemake.params.geocoder
samples = pd.read_parquet(snakemake.input.samples)
table = biography_table(samples["text"].tolist())
table.insert(0, "row", samples["row"].to_numpy())
if spec["kind"] == "nominatim":
    geocoder = NominatimGeocoder(
        spec["user_agent"], snakemake.params.cache, spec.get("min_delay_seconds", 1.0),
        domain=spec.get("domain"), scheme=spec.get("scheme"),
    )  # fmt: skip
else:
    geocoder = OfflineGeocoder()
places = table["birth_place"].where(table["parsed"], None)
hits = geocode_places([p if isinstance(p, str) and p else "" for p in places], geocoder)
table["latitude"] = [h.latitude if h else None for h in hits]
table["longitude"] = [h.longitude if h else None for h in hits]
table["geocoded_level"] = [h.level if h else None for h in hits]
table["geocoded_name"] = [h.name if h else None for h in hits]
table["geocoded_country"] = [h.country_code if h else None for h in hits]
n = {level: sum(h is not None and h.level == level for h in hits) for level in ("city", "region", "country")}
print(f"{len(table)} biographies, {int(table['parsed'].sum())} parsed; birth places: {n}", flush=True)
table.to_csv(snakemake.output[0], index=False)
