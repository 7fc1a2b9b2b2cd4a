import pytest

from diffuse.parsing import get_parser, match_key, normalise, parse_braces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{7}", "7"),
        ("Sure! {  Olivia }", "Olivia"),
        ("{} then {42}", "42"),
        ('{"Mary Ann".}', "Mary Ann"),
        ("{number}", "number"),
        ("no braces here", None),
        ("{unclosed", None),
        ("{multi\nline}", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_braces(text, expected):
    assert parse_braces(text) == expected


def test_normalise_unicode_and_whitespace():
    assert normalise("Ame\u0301lie  ") == "Amélie"
    assert normalise("  'x'  ") == "x"


def test_match_key():
    assert match_key("Olivia", "casefold") == "olivia"
    assert match_key("Olivia", "exact") == "Olivia"


def test_unknown_parser_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown parser 'xml'"):
        get_parser("xml")
