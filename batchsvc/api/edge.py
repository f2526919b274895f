"""What the HTTP edge refuses before a view reads a request, each with a 422 naming where:
JSON bodies nested too deep or outside plain JSON (NaN, infinite or oversized numbers,
duplicate keys, undecodable bytes), and text that no database column can hold (NUL and
unpaired surrogates) anywhere in a body, path, query, header or form field."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from typing import Any

from flask import request

from batchsvc.errors import Invalid

# Objects and arrays, the body itself being level 1. Real bodies use fewer than 10 levels;
# 64 keeps every recursive step after decoding (marshmallow, the JSON columns, jsonify, the
# item task) far from Python's recursion limit.
MAX_JSON_DEPTH = 64
# Postgres refuses NUL in text and JSONB; no encoder can write an unpaired surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The escapes that decode to either (a raw NUL or surrogate is already invalid JSON).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def decode_json(data: bytes) -> Any:
    """Decode a request body as strict JSON: UTF-8 (or UTF-16/32, as RFC 4627 allowed), at
    most MAX_JSON_DEPTH levels deep, finite numbers, unique keys, storable strings."""
    encoding = json.detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Invalid(["body"], f"the request body is not valid {exc.encoding.upper()} "
                      f"text (byte {exc.start})") from None
    utf8 = data if encoding == "utf-8" else text.encode("utf-8")
    if _depth_bound(utf8) > MAX_JSON_DEPTH:
        raise Invalid(["body"], f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels "
                      "of objects and arrays")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                           object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise Invalid(["body"], f"the request body is not valid JSON: {exc}") from None
    except ValueError:
        # The only other one json raises: Python's limit on int() of a long digit string.
        raise Invalid(["body"], "a number in the request body has more than "
                      f"{sys.get_int_max_str_digits()} digits") from None
    if _UNSTORABLE_ESCAPE.search(text):
        _check_strings(value, ["body"])
    return value


def _depth_bound(data: bytes) -> int:
    """A bound of the nesting depth of a UTF-8 JSON text: above MAX_JSON_DEPTH exactly when
    the text, if valid, nests deeper; never below the depth the decoder can reach, valid or
    not. No recursion, and bytes methods only: a Python loop per byte would cost more than
    the decoding it protects."""
    # Escaped quotes and backslashes out, then only quotes and brackets are left; in valid
    # JSON every remaining quote delimits a string, so the even pieces are outside strings.
    marks = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(marks.split(b'"')[::2]).translate(_BRACES_AS_BRACKETS)
    if brackets.count(b"[") <= MAX_JSON_DEPTH:
        return brackets.count(b"[")
    # Each round removes the innermost pairs, one level. What stays when no pair is left is
    # unbalanced: its openers may enclose everything removed, so they add to the bound.
    for rounds in range(MAX_JSON_DEPTH + 1):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return rounds + brackets.count(b"[")
        brackets = shorter
    return MAX_JSON_DEPTH + 1


def _no_constant(name: str) -> Any:
    raise Invalid(["body"], f"{name} is not a JSON number; numbers must be finite")


def _finite(digits: str) -> float:
    number = float(digits)
    if not math.isfinite(number):
        raise Invalid(["body"], f"the number {digits[:40]} is out of the range of a 64-bit "
                      "float")
    return number


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key means different things to different parsers; refuse it instead of
    # silently keeping the last one.
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Invalid(["body"], f"the key {_shown(key)!r} appears more than once in "
                              "one JSON object")
            seen.add(key)
    return obj


def _check_strings(value: Any, loc: list[Any]) -> None:
    """Recursion is safe here: the depth was bounded before decoding."""
    if isinstance(value, str):
        _check_text(loc, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text([*loc, _shown(key)], key)
            _check_strings(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, [*loc, index])


def _check_text(loc: list[Any], text: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise Invalid(loc, "must not contain NUL characters (\\u0000)")
    raise Invalid(loc, "must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)")


def _shown(text: str) -> str:
    """A name fit to quote back: unstorable characters replaced, at most 100 characters."""
    return _UNSTORABLE.sub("\ufffd", text[:100])


def refuse_unstorable_text() -> None:
    """Before every view: path parameters, query, headers and form fields must be storable."""
    sources: list[tuple[str, Iterable[tuple[str, Any]]]] = [
        ("path", (request.view_args or {}).items()),
        ("query", request.args.items(multi=True)),
        ("header", request.headers.items()),
    ]
    if request.mimetype in _FORMS:
        sources.append(("body", request.form.items(multi=True)))
    for where, pairs in sources:
        for raw_name, value in pairs:
            name = raw_name or ""  # a form part may have no name at all
            _check_text([where, _shown(name)], name)
            if isinstance(value, str):
                _check_text([where, _shown(name)], value)
