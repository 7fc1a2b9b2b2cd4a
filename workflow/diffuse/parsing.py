"""Parsing answers out of model text. An unparseable answer is None, never an exception."""

from __future__ import annotations

import re
import unicodedata

_BRACES = re.compile(r"\{([^{}\n]*)\}")


def parse_braces(text: str | None) -> str | None:
    """The content of the first non-empty `{...}` on one line, whitespace-normalised; None if there is none."""
    if not isinstance(text, str):
        return None
    for match in _BRACES.finditer(text):
        answer = normalise(match.group(1))
        if answer:
            return answer
    return None


def normalise(answer: str) -> str:
    """NFC, collapsed whitespace, stripped of surrounding quotes and a trailing full stop."""
    answer = unicodedata.normalize("NFC", answer)
    answer = " ".join(answer.split())
    answer = answer.rstrip(".").strip("\"'`").rstrip(".")
    return answer.strip()


def parse_number(text: str | None) -> str | None:
    """The whole answer, stripped, when it is one plain decimal number (sign, digits, point, exponent)."""
    if not isinstance(text, str):
        return None
    answer = text.strip()
    return answer if _NUMBER.fullmatch(answer) else None


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

PARSERS = {"braces": parse_braces, "number": parse_number}


def get_parser(name: str):
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"unknown parser {name!r}; known: {sorted(PARSERS)}") from None


def match_key(answer: str, how: str) -> str:
    """The form in which a parsed answer is compared with target values."""
    return answer.casefold() if how == "casefold" else answer
