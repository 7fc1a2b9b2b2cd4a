"""Geocoding birth places at the finest level they resolve to: offline gazetteers, and geopy's Nominatim
against a local server that speaks Nominatim's /search JSON API (never the real service)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from diffuse.geocode import NominatimGeocoder, OfflineGeocoder, fold, geocode_places, nominatim_level


@pytest.fixture(scope="module")
def geocoder():
    return OfflineGeocoder()


@pytest.mark.parametrize(
    ("place", "city", "country", "lat", "lon"),
    [
        ("Cambridge, Massachusetts, USA", "Cambridge", "US", 42.4, -71.1),
        ("Cambridge, UK", "Cambridge", "GB", 52.2, 0.1),
        ("Paris, France", "Paris", "FR", 48.9, 2.4),
        ("São Paulo, Brazil", "São Paulo", "BR", -23.5, -46.6),
        ("sao paulo, brasil", "São Paulo", "BR", -23.5, -46.6),  # unknown country name, one country has it
        ("Lagos, Nigeria", "Lagos", "NG", 6.5, 3.4),
        ("Springfield, Illinois", "Springfield", "US", 39.8, -89.6),
        ("Atlanta, Georgia", "Atlanta", "US", 33.7, -84.4),  # Georgia the state, not the country
        ("Kyoto, Japan", "Kyoto", "JP", 35.0, 135.8),
        ("Sydney, Australia", "Sydney", "AU", -33.9, 151.2),
        ("Toronto, Ontario", "Toronto", "CA", 43.7, -79.4),  # a region alone names its country
        ("Singapore", "Singapore", "SG", 1.3, 103.9),  # a city-state is a city
        # US postal codes that are also country codes: MA is Morocco's, CA Canada's.
        ("Boston, Boston, MA", "Boston", "US", 42.4, -71.1),
        ("Cambridge, MA", "Cambridge", "US", 42.4, -71.1),
        ("Los Angeles, CA", "Los Angeles", "US", 34.1, -118.2),
        ("Toronto, CA", "Toronto", "CA", 43.7, -79.4),
        ("Austin, TX", "Austin", "US", 30.3, -97.7),
    ],
)
def test_city_lookups(geocoder, place, city, country, lat, lon):
    hit = geocoder.lookup(place)
    assert hit is not None and hit.level == "city" and hit.country_code == country
    assert fold(hit.name) == fold(city)
    assert hit.latitude == pytest.approx(lat, abs=0.5) and hit.longitude == pytest.approx(lon, abs=0.5)


# Bounding boxes (lat_min, lat_max, lon_min, lon_max) read off an atlas: the point must lie inside.
BAVARIA = (47.2, 50.6, 8.9, 13.9)
ONTARIO = (41.6, 56.9, -95.2, -74.3)
PUNJAB_INDIA = (29.5, 32.6, 73.8, 77.0)
ENGLAND = (49.9, 55.9, -5.8, 1.8)


@pytest.mark.parametrize(
    ("place", "name", "country", "box"),
    [
        ("Bavaria, Germany", "Bavaria", "DE", BAVARIA),
        (
            "Bayern, Deutschland",
            "Bavaria",
            "DE",
            BAVARIA,
        ),  # native names: one region anywhere is called Bayern
        ("Ontario, Canada", "Ontario", "CA", ONTARIO),
        ("Punjab, India", "Punjab", "IN", PUNJAB_INDIA),
        ("Texas", "Texas", "US", (25.8, 36.5, -106.7, -93.5)),
        ("England", "England", "GB", ENGLAND),  # a country alias that is also a region of GB
        ("Yorkshire, England", "England", "GB", ENGLAND),  # Yorkshire is no gazetteer entry; England is
    ],
)
def test_region_only_lookups(geocoder, place, name, country, box):
    hit = geocoder.lookup(place)
    assert hit is not None and hit.level == "region" and hit.name == name and hit.country_code == country
    assert box[0] <= hit.latitude <= box[1] and box[2] <= hit.longitude <= box[3]


@pytest.mark.parametrize(
    ("place", "country", "box"),
    [
        ("Germany", "DE", (47.3, 55.1, 5.9, 15.0)),
        ("Nigeria", "NG", (4.2, 13.9, 2.7, 14.7)),
        ("Gotham, USA", "US", (24.5, 49.4, -125.0, -66.9)),  # an invented city in a real country
        ("Georgia", "GE", (41.0, 43.6, 40.0, 46.7)),  # alone, the country
        ("Mexico", "MX", (14.5, 32.7, -118.4, -86.7)),  # the country, not the State of Mexico
    ],
)
def test_country_only_lookups(geocoder, place, country, box):
    hit = geocoder.lookup(place)
    assert hit is not None and hit.level == "country" and hit.country_code == country
    assert box[0] <= hit.latitude <= box[1] and box[2] <= hit.longitude <= box[3]


def test_misses_are_misses(geocoder):
    # Invented places, and a city or region name several countries share with nothing saying which.
    for place in (
        "Hogwarts",
        "Hippocampus City, Narnia",
        "",
        "Zorblat, Quuxland",
        "Cambridge, Narnia",
        "Punjab",
        "Zorblat, MA",  # Massachusetts or Morocco: no guess
    ):
        assert geocoder.lookup(place) is None, place


def test_each_place_looked_up_once():
    class Counting:
        calls = 0

        def lookup(self, place):
            self.calls += 1
            return None

    counting = Counting()
    assert geocode_places(["a", "b", "a", "a", ""], counting) == [None] * 5 and counting.calls == 2


def test_birth_places_of_every_condition_are_looked_up_once_and_joined_back():
    import pandas as pd

    from diffuse.geocode import birth_places_table, geocoded_biographies

    class Recording:
        def __init__(self):
            self.asked = []

        def lookup(self, place):
            self.asked.append(place)
            return None if place == "Atlantis" else OfflineGeocoder().lookup(place)

    untuned = pd.DataFrame(
        {"birth_place": ["Paris, France", "Atlantis", None, "Ohio"], "parsed": [True, True, False, True]}
    )
    tuned = pd.DataFrame({"birth_place": ["Ohio", "Paris, France", "Lyon"], "parsed": [True, True, False]})
    recording = Recording()
    places = birth_places_table([untuned, tuned], recording)
    # Distinct parsed places of both tables, each asked once; Lyon's row is unparsed, so never asked.
    assert sorted(recording.asked) == ["Atlantis", "Ohio", "Paris, France"]
    assert places["place"].tolist() == ["Atlantis", "Ohio", "Paris, France"]
    located = geocoded_biographies(untuned, places)
    assert located["geocoded_level"].fillna("-").tolist() == ["city", "-", "-", "region"]
    assert located.loc[0, "geocoded_country"] == "FR" and abs(located.loc[0, "latitude"] - 48.85) < 0.1
    tuned_levels = geocoded_biographies(tuned, places)["geocoded_level"].fillna("-")
    assert tuned_levels.tolist() == ["region", "city", "-"]


# What a Nominatim server answers to /search?q=...&format=json&addressdetails=1 (fields as its API docs).
NOMINATIM_ANSWERS = {
    "Munich, Germany": {"lat": "48.1371079", "lon": "11.5753822", "name": "München", "addresstype": "city",
                        "class": "boundary", "type": "administrative", "place_rank": 16,
                        "display_name": "München, Bayern, Deutschland", "address": {"country_code": "de"}},
    "Bavaria, Germany": {"lat": "48.9467562", "lon": "11.4038717", "name": "Bayern", "addresstype": "state",
                         "class": "boundary", "type": "administrative", "place_rank": 8,
                         "display_name": "Bayern, Deutschland", "address": {"country_code": "de"}},
    "Germany": {"lat": "51.1638175", "lon": "10.4478313", "name": "Deutschland", "addresstype": "country",
                "class": "boundary", "type": "administrative", "place_rank": 4,
                "display_name": "Deutschland", "address": {"country_code": "de"}},
    "Old Town, Somewhere": {"lat": "1.0", "lon": "2.0", "name": "Old Town", "class": "place",
                            "type": "square", "place_rank": 25, "display_name": "Old Town",
                            "address": {"country_code": "xx"}},
}  # fmt: skip


@pytest.fixture
def nominatim_server():
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            requests.append({"path": url.path, "query": query, "agent": self.headers["User-Agent"],
                             "time": time.monotonic()})  # fmt: skip
            answer = NOMINATIM_ANSWERS.get(query.get("q"))
            body = json.dumps([answer] if answer else []).encode()
            self.send_response(200 if url.path == "/search" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def test_nominatim_levels_rate_limit_and_cache(nominatim_server, tmp_path):
    domain, requests = nominatim_server
    cache = tmp_path / "nominatim.json"
    geocoder = NominatimGeocoder("diffuse-tests (tests@localhost)", cache, 0.2, domain=domain, scheme="http")
    places = [
        "Munich, Germany",
        "Bavaria, Germany",
        "Germany",
        "Atlantis",
        "Munich, Germany",
        "Old Town, Somewhere",
    ]
    hits = geocode_places(places, geocoder)
    assert [h.level if h else None for h in hits] == ["city", "region", "country", None, "city", "city"]
    assert (hits[0].latitude, hits[0].longitude, hits[0].name, hits[0].country_code) == (
        48.1371079, 11.5753822, "München", "DE",
    )  # fmt: skip
    assert len(requests) == 5 and all(r["path"] == "/search" for r in requests)
    assert requests[0]["query"]["q"] == "Munich, Germany" and requests[0]["query"]["format"] == "json"
    assert requests[0]["query"]["addressdetails"] == "1"
    assert requests[0]["agent"] == "diffuse-tests (tests@localhost)"
    # geopy's RateLimiter spaces the calls by at least min_delay_seconds; arrival times at the server jitter
    # with the machine's load, so the span of all five is checked (without the limiter it is a few ms).
    times = [r["time"] for r in requests]
    assert times[-1] - times[0] >= 4 * 0.2 - 0.05
    # A second geocoder reads the cache and asks nothing.
    again = NominatimGeocoder("diffuse-tests (tests@localhost)", cache, 0.2, domain=domain, scheme="http")
    assert [again.lookup(p) for p in places] == hits and len(requests) == 5


def _geocode_in_a_process(domain, cache, places, start):
    start.wait()
    geocoder = NominatimGeocoder("diffuse-tests (tests@localhost)", cache, 0.2, domain=domain, scheme="http")
    geocode_places(places, geocoder)


def test_nominatim_cache_is_shared_safely_by_parallel_jobs(nominatim_server, tmp_path):
    """Three jobs geocoding overlapping places at once: one request per place in all, none in parallel and
    all spaced by the delay (the rate limit holds across jobs), and a whole cache with every place."""
    import multiprocessing

    domain, requests = nominatim_server
    cache = tmp_path / "nominatim.json"
    jobs = [["Munich, Germany", "Germany"], ["Germany", "Bavaria, Germany"], ["Atlantis", "Munich, Germany"]]
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_geocode_in_a_process, args=(domain, cache, j, start)) for j in jobs]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    asked = sorted(r["query"]["q"] for r in requests)
    assert asked == ["Atlantis", "Bavaria, Germany", "Germany", "Munich, Germany"]
    times = sorted(r["time"] for r in requests)
    assert times[-1] - times[0] >= 3 * 0.2 - 0.05
    assert sorted(json.loads(cache.read_text())) == asked
    assert not list(tmp_path.glob(".nominatim.json.partial-*"))


def test_nominatim_level_from_addresstype_or_rank():
    assert nominatim_level({"addresstype": "town"}) == "city"
    assert nominatim_level({"addresstype": "province"}) == "region"
    assert nominatim_level({"addresstype": "country"}) == "country"
    assert nominatim_level({"place_rank": 8}) == "region" and nominatim_level({"place_rank": 4}) == "country"
    assert nominatim_level({"addresstype": "square", "place_rank": 25}) == "city"


def test_nominatim_needs_a_real_user_agent(tmp_path):
    with pytest.raises(ValueError, match="user agent"):
        NominatimGeocoder("you@example.org diffuse", tmp_path / "c.json")


def test_offline_geocoder_speaks_geopys_interface(geocoder):
    from geopy.location import Location

    from diffuse.geocode import location_hit

    found = geocoder.geocode("Toronto, Ontario, Canada")
    assert isinstance(found, Location) and found.raw["level"] == "city" and found.raw["country_code"] == "CA"
    assert (
        location_hit(found)
        == geocoder.lookup("Toronto, Ontario, Canada")
        == geocoder.resolve("Toronto, Ontario, Canada")
    )
    assert geocoder.geocode("Xqzzyville, Nowhereland") is None
