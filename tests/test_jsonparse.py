"""parse_json: every malformed text is a ValueError, even one nested beyond the JSON parser's depth."""
from __future__ import annotations

import json

import pytest

from fanzoo.jsonparse import parse_json

DEEP = "[" * 100_000 + "]" * 100_000


def test_well_formed_json_is_parsed_as_json_loads_would() -> None:
    text = '{"a": [1, 2.5, null, true], "b": {"c": "d"}}'
    assert parse_json(text) == json.loads(text)
    assert parse_json(text.encode()) == json.loads(text)


def test_json_nested_too_deeply_is_a_value_error() -> None:
    with pytest.raises(RecursionError):  # why the helper exists: json.loads itself does not raise ValueError
        json.loads(DEEP)
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json(DEEP)


@pytest.mark.parametrize("text", ["", "{not json", "[1,", "\x00"])
def test_malformed_json_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


@pytest.mark.parametrize("text", ["[1]", '"text"', "3", "null"])
def test_parse_json_object_refuses_what_is_not_an_object(text: str) -> None:
    from fanzoo.jsonparse import parse_json_object

    assert parse_json_object('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_json_object(text)
