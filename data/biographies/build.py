"""Regenerate data/biographies/surnames.csv (columns name, weight): the last names of the Tuned-ID targets.

    python data/biographies/build.py          # rewrite the CSV (needs: pip install faker==40.54.0)
    python data/biographies/build.py --check  # exit 1 if the CSV differs from what would be written

The 1000 most common US surnames of the US Census, weighted by their share, as shipped in the PyPI package
Faker 40.54.0 (faker.providers.person.en_US.Provider.last_names). See PROVENANCE.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def surnames_csv() -> str:
    from faker.providers.person.en_US import Provider

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "weight"])
    for name, weight in Provider.last_names.items():
        writer.writerow([name, weight])
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    path = HERE / "surnames.csv"
    text = surnames_csv()
    if args.check:
        sys.exit(0 if path.read_text() == text else f"{path} differs from what build.py writes")
    path.write_text(text)


if __name__ == "__main__":
    main()
