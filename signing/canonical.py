"""The canonical serialisation that signatures cover: JSON with sorted keys (by code point), no
insignificant whitespace, non-ASCII characters as themselves, UTF-8.

Only dicts with string keys, lists, tuples, strings, integers, booleans and None are accepted.
Floats are refused: their text is not stable across producers, so a re-serialisation could
break a valid signature. Money and doses are passed as strings (``str(Decimal)``) or integers.
"""

import json
from typing import Any


class CanonicalJSONError(TypeError):
    """A value the canonical form cannot represent unambiguously."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        # bool is an int subclass; both are exact.
        return
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed; pass a string or integer.")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: keys must be strings, not {type(key).__name__}.")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise CanonicalJSONError(f"{path}: {type(value).__name__} is not allowed.")


def canonical_json(value: Any) -> bytes:
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
