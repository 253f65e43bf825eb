"""JSON from files and fields fanzoo did not write itself, with every malformed text failing one way.

``json.loads`` raises ValueError for most malformed text but RecursionError for text nested deeper than its
parser's stack (about 1,000 levels: ``[[[[...``), which callers that catch ValueError let through as a
traceback. :func:`parse_json` makes that a ValueError too, so each caller handles one exception.
"""
from __future__ import annotations

import json
from typing import Any


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``; text nested too deeply raises ValueError like any other malformed JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def parse_json_object(text: str | bytes) -> dict[str, Any]:
    """:func:`parse_json` of text that must hold a JSON object; anything else raises ValueError too."""
    data = parse_json(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data
