"""Property-based fuzzing of the request layer, beyond schemathesis' schema-shaped requests:
hypothesis builds hostile bodies (deep nesting, huge numbers, NaN, duplicate keys, odd
encodings, broken multipart), query strings, path parameters and headers for every route
of the app's url_map, on SQLite and (fewer examples) Postgres. Every answer must be below
500, a JSON ``{"detail": ...}`` for every 4xx, strict JSON, and free of secrets.

Bounded and deterministic: a fixed number of examples per route, derandomized, no example
database. A case this finds becomes an explicit test in test_edge.py."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from batchsvc.api.edge import MAX_JSON_DEPTH, _depth_bound, decode_json
from batchsvc.errors import Invalid
from batchsvc.services.paging import encode_token
from schemas.common import BIGINT_MAX
from tests.security.conftest import Edge
from tests.security.fuzzing import CANARY, UPLOADS, Route, check, real_id, routes, template

# Examples per route: (routes that read a body, the others), per backend. EDGE_FUZZ_SCALE=10
# (say) runs ten times as many, randomized, to look for new cases rather than guard the
# found ones; a failure prints the request it sent.
SCALE = float(os.environ.get("EDGE_FUZZ_SCALE", "1"))
EXAMPLES = {"sqlite": (60, 20), "postgres": (15, 5)}
BUDGET_SECONDS = 90  # of this process's CPU (about 25 s here): wall time depends on the neighbours


# -- JSON values, rendered to text by hand so that they can hold what json.dumps cannot ----

@dataclass(frozen=True)
class Raw:
    """Inserted verbatim: number literals Python would not write, or JSON would not allow."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object whose keys may repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Deep:
    """``depth`` levels of arrays or objects around a value, near and far past the limit."""

    depth: int
    kind: str
    inner: Any


def render(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        opener, closer = ("[", "]") if value.kind == "array" else ('{"d":', "}")
        return opener * value.depth + render(value.inner) + closer * value.depth
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{render(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return render(Pairs(tuple(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return json.dumps(value)  # escapes NUL and lone surrogates as \u0000, \ud800


NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "1E+2", "0.1e1",
    "9" * 4300, "9" * 4301, "-" + "9" * 5000, "1" + "0" * 400 + ".5", str(2**31), str(2**63),
    str(-(2**63) - 1), str(10**30), "01", "+1", ".5", "1e", "0x10", "1_000",
]
SPECIAL_TEXT = [
    "", "\x00", "a\x00b", "\ud800", "\udfff", "x\ud83d", "\ud83d\ude80", "\ufeff", "\u202e",
    "%00", "../../etc/passwd", "..\\..\\x", "' OR 1=1 --", "{{7*7}}", "\\", '"', "\r\n",
    "\u0000\u0001\u001f", "é 文件 🚀", "http://169.254.169.254/", "bjb-" + "0" * 36,
]
surrogates = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(max_size=20),
    st.lists(st.one_of(st.characters(), surrogates, st.just("\x00")), max_size=8).map("".join),
    st.sampled_from([100, 1025, 10_000, 300_000]).map(lambda n: "x" * n),
)
numbers = st.one_of(st.sampled_from(NUMBERS).map(Raw), st.integers(),
                    st.floats(allow_nan=False, allow_infinity=False))
leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
DEPTHS = [MAX_JSON_DEPTH - 4, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 1000,
          200_000]


def _containers(children: Any) -> Any:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(texts, children, max_size=4),
        st.lists(st.tuples(st.sampled_from(["a", "a", "b", "\x00"]), children), min_size=2,
                 max_size=4).map(lambda p: Pairs(tuple(p))),
        st.builds(Deep, st.sampled_from(DEPTHS), st.sampled_from(["array", "object"]),
                  children),
    )


values = st.recursive(leaves, _containers, max_leaves=10)


def _places(body: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a template (its values are plain dicts and lists)."""
    out = [path]
    if isinstance(body, dict):
        for key, value in body.items():
            out += _places(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            out += _places(value, (*path, index))
    return out


def hostile_like(original: Any) -> Any:
    """Mostly a hostile value of the original's own kind, so that the rest of the body stays
    valid and the value travels as far as the route lets it: into the database and back."""
    if isinstance(original, str):
        return st.one_of(texts, texts, values)
    if isinstance(original, dict):
        return st.one_of(
            st.builds(Deep, st.sampled_from(DEPTHS), st.sampled_from(["array", "object"]),
                      st.just(original)),
            st.tuples(texts, values).map(lambda kv: {**original, kv[0]: kv[1]}),
            st.sampled_from(list(original) or ["a"]).map(
                lambda key: Pairs((*original.items(), (key, original.get(key))))),
            values)
    if isinstance(original, list):
        return st.one_of(
            st.builds(Deep, st.sampled_from(DEPTHS), st.sampled_from(["array", "object"]),
                      st.just(original)),
            values.map(lambda value: [*original, value]), values)
    return st.one_of(numbers, numbers, texts, values)


@st.composite
def mutated(draw: Any, body: Any) -> Any:
    """The template with up to three values made hostile or dropped (or none: the request
    is valid, so that the routes' success paths see the run's hostile headers and query)."""
    holder = {"": copy.deepcopy(body)}
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_places(holder[""])))
        parent, last = holder, ""
        for step in path:
            parent, last = parent[last], step
        if path and draw(st.integers(0, 5)) == 0:
            del parent[last]
        else:
            parent[last] = draw(hostile_like(parent[last]))
    return holder[""]


ENCODINGS = ["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-be", "utf-32-le", "latin-1"]
JSON_TYPES = ["application/json"] * 20 + [
    "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "", "application/json; charset=nonsense", "*/*",
    "application/x-ndjson", "image/png"]


def encode(text: str, encoding: str) -> bytes:
    errors = "replace" if encoding == "latin-1" else "surrogatepass"
    return text.encode(encoding, errors)


@st.composite
def json_bodies(draw: Any, body: Any) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["mutated"] * 4 + ["value", "bytes", "flipped"]))
    if kind == "bytes":
        data = draw(st.binary(max_size=200))
    else:
        text = render(draw(values) if kind == "value" or body is None else draw(mutated(body)))
        if kind == "flipped":
            # A flipped byte can rename "api_key" into a field whose value may be shown.
            text = text.replace(CANARY, "flipped-not-a-secret")
        data = encode(text, draw(st.sampled_from(ENCODINGS)))
        if kind == "flipped" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data, draw(st.sampled_from(JSON_TYPES))


FORM_FIELDS = ["purpose", "external_file_id", "display_name", "metadata", "unique_id"]


@st.composite
def multipart_bodies(draw: Any, file_field: str) -> tuple[bytes, str]:
    """A multipart body, well formed or not, with hostile names, file names and fields."""
    boundary = draw(st.sampled_from([b"b0undary", b"x", b"-" * 70, b"a b", b"\xff"]))
    parts = []
    names = st.one_of(st.sampled_from([file_field, *FORM_FIELDS]), texts)
    for _ in range(draw(st.integers(0, 4))):
        name = encode(draw(names), "utf-8").replace(b'"', b"")
        disposition = b'form-data; name="' + name + b'"' if draw(st.integers(0, 5)) else \
            b"form-data"  # no name at all
        if draw(st.booleans()):
            disposition += b'; filename="' + encode(draw(texts), "utf-8") + b'"'
        content = draw(st.one_of(st.binary(max_size=64), texts.map(lambda t: encode(t,
                                                                                "utf-8"))))
        parts.append(b"--" + boundary + b"\r\nContent-Disposition: " + disposition
                     + b"\r\n\r\n" + content + b"\r\n")
    data = b"".join(parts) + b"--" + boundary + b"--\r\n"
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]  # cut anywhere
    declared = draw(st.sampled_from([boundary, boundary, b"other", b""]))
    return data, "multipart/form-data; boundary=" + declared.decode("latin-1")


QUERY_NAMES = [
    "limit", "offset", "page_size", "page_token", "status", "job_type", "directory_id",
    "name", "include_deleted", "expires_at_seconds", "expires", "signature", "format",
    "interval", "expand", "reason", "project_id", "organization_id", "event_type", "file_ids",
    "file_name", "external_file_id", "display_name_contains", "file_id", "unique_id"]
short_texts = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=20))
query_values = st.one_of(
    st.sampled_from(["true", "yes", "2", "zip", "jsonl", "pending", "parse", "p", "cDoxMDA",
                     "cDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "markdown,text", "x" * 3000]),
    st.sampled_from(NUMBERS), st.sampled_from(NUMBERS), short_texts, st.integers().map(str))


def _escape(text: str) -> str:
    return quote_from_bytes(encode(text, "utf-8"), safe="")


def valid_values(name: str, schema: dict[str, Any]) -> Any:
    """Values the documented parameter accepts, the extremes included."""
    if name == "page_token":
        return st.sampled_from([encode_token(0), encode_token(BIGINT_MAX)])
    if schema.get("type") == "array":
        return valid_values(name, schema["items"])
    if schema.get("enum"):
        return st.sampled_from([v for v in schema["enum"] if v is not None])
    if schema.get("type") == "integer":
        return st.integers(schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
                           ).map(str)
    if schema.get("type") == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                         allow_infinity=False).map(repr)
    if schema.get("type") == "boolean":
        return st.sampled_from(["true", "false", "1", "0"])
    return st.sampled_from(["x", "é 文件"])


@st.composite
def query_strings(draw: Any, documented: dict[str, dict[str, Any]]) -> str:
    """Valid values for some of the route's own parameters, and a hostile one or two: a
    parameter that is wrong on its own reaches the database, not just validation."""
    pairs = [(name, draw(valid_values(name, schema))) for name, schema in documented.items()
             if draw(st.booleans())]
    own = [n for n in documented if n not in ("organization_id", "project_id")] or QUERY_NAMES
    names = st.one_of(st.sampled_from(own), st.sampled_from(own), st.sampled_from(QUERY_NAMES),
                      short_texts)
    hostile = draw(st.lists(st.tuples(names, query_values), max_size=2))
    # Repeated keys: the last one counts, so the hostile value comes last or first.
    pairs = hostile + pairs if draw(st.integers(0, 3)) == 0 else pairs + hostile
    raw = "&".join(f"{_escape(name)}={_escape(value)}" for name, value in pairs)
    return raw + draw(st.sampled_from(["", "", "", "&", "%", "%zz", "&&=", ";a=b", "%ff"]))


path_segments = st.one_of(
    st.sampled_from(["%00", "%ff%fe", "%ED%A0%80", "%C0%AF", "%", "%zz", "..", "%2e%2e",
                     "%2F", "a%2Fb", ".", "~", "bjb-" + "0" * 36, "x" * 5000]),
    st.binary(min_size=1, max_size=30).map(lambda b: quote_from_bytes(b, safe="")),
    texts.filter(bool).filter(lambda t: len(t) < 2000).map(_escape),
)
latin1 = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=40)
header_values = st.one_of(latin1, st.sampled_from(["", "\x00", "k" * 300, "x" * 9000]))
HEADER_NAMES = ["Idempotency-Key", "X-Request-ID", "Accept", "Content-Encoding",
                "Accept-Charset", "Range", "If-None-Match", "X-Forwarded-For", "temporal-namespace"]


@st.composite
def header_sets(draw: Any, key: str) -> dict[str, str]:
    headers = dict(draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values),
                                 max_size=3)))
    auth = draw(st.sampled_from([f"Bearer {key}"] * 40 + [
        "", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer wrong", f"bearer  {key} ",
        f"Bearer {key}\x00", "Bearer " + "k" * 9000]))
    headers["Authorization"] = auth
    return headers


@st.composite
def requests_for(draw: Any, edge: Edge, route: Route, documented: dict[str, Any]
                 ) -> dict[str, Any]:
    values = {}
    for param in route.params:
        real = real_id(edge, route, param) if route.real_ids_allowed else None
        values[param] = real if real and draw(st.booleans()) else draw(path_segments)
    request: dict[str, Any] = {"method": route.method, "path": route.path(values),
                               "query_string": draw(query_strings(documented)),
                               "headers": draw(header_sets(edge.key))}
    if route.endpoint in UPLOADS:
        data, content_type = draw(multipart_bodies(UPLOADS[route.endpoint]))
    elif _reads_body(route) or draw(st.integers(0, 9)) == 0:
        data, content_type = draw(json_bodies(template(edge, route.endpoint)))
    else:
        return request
    request["data"] = data
    if content_type:
        request["headers"]["Content-Type"] = content_type
    return request


def _reads_body(route: Route) -> bool:
    return route.endpoint in UPLOADS or route.method in ("POST", "PATCH")


def _send(edge: Edge, request: dict[str, Any]) -> Any:
    sent = {k: v for k, v in request.items() if k not in ("path", "query_string")}
    return edge.client.open(f"{request['path']}?{request['query_string']}", **sent)


def test_every_route_answers_hostile_requests_with_a_4xx_detail(edge: Edge,
                                                                request: Any) -> None:
    backend = request.node.callspec.params["edge"]
    secrets = (CANARY, edge.key)
    started = time.process_time()
    statuses: Counter[int] = Counter()
    spec = edge.call("GET", "/openapi.json").get_json()["paths"]
    for route in routes(edge):
        operation = spec.get(route.openapi_path, {})
        documented = {p["name"]: p["schema"] for p in operation.get(route.method.lower(), {})
                      .get("parameters", []) if p["in"] == "query"}

        @given(sent=requests_for(edge, route, documented))
        @settings(max_examples=round(SCALE * EXAMPLES[backend][not _reads_body(route)]),
                  derandomize=SCALE == 1,
                  database=None, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(sent: dict[str, Any]) -> None:
            note(f"{sent['method']} {sent['path'][:300]}?{sent['query_string'][:300]} "
                 f"headers={sent['headers']!r:.500} body={sent.get('data', b'')[:1000]!r}")
            response = _send(edge, sent)
            statuses[response.status_code] += 1
            check(response, secrets)

        fuzz()
    # What the run stored (deep metadata, odd names, jobs) is read back by every list and
    # every route on the fixture's rows: whatever went in must come out as JSON.
    for route in routes(edge):
        ids = {p: real_id(edge, route, p) for p in route.params}
        if route.method == "GET" and route.real_ids_allowed and all(ids.values()):
            check(edge.call("GET", route.path(ids)), secrets)  # type: ignore[arg-type]
    assert time.process_time() - started < BUDGET_SECONDS * SCALE
    # The run got past validation often enough to exercise the routes' own code.
    assert sum(n for status, n in statuses.items() if status < 300) > 2 * EXAMPLES[backend][0], \
        statuses


# -- the depth bound against independent truths --------------------------------------------

def _depth(value: Any) -> int:
    """The nesting of a decoded value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack += [(child, level + 1) for child in
                      (node.values() if isinstance(node, dict) else node)]
    return deepest


tricky_text = st.text(st.sampled_from('[]{}"\\ab\u00e9\U0001f680:,'), max_size=12)
json_trees = st.recursive(st.one_of(st.integers(), tricky_text, st.none()),
                          lambda c: st.one_of(st.lists(c, max_size=3),
                                              st.dictionaries(tricky_text, c, max_size=3)),
                          max_leaves=30)


@given(tree=json_trees, wraps=st.integers(0, 80), ascii_only=st.booleans())
@settings(max_examples=300, derandomize=True, database=None, deadline=None)
def test_depth_bound_decides_the_limit_exactly_for_valid_json(tree: Any, wraps: int,
                                                             ascii_only: bool) -> None:
    for _ in range(wraps):
        tree = [tree]
    bound, depth = _depth_bound(json.dumps(tree, ensure_ascii=ascii_only).encode()), _depth(tree)
    assert (bound > MAX_JSON_DEPTH) == (depth > MAX_JSON_DEPTH)
    assert bound >= min(depth, MAX_JSON_DEPTH + 1)


@given(text=st.text(st.sampled_from('[[[{{{]]}}"\\:,1 a'), max_size=60),
       openers=st.integers(0, 3 * sys.getrecursionlimit()))
@settings(max_examples=300, derandomize=True, database=None, deadline=None)
def test_no_text_reaches_the_decoder_deeper_than_the_bound(text: str, openers: int) -> None:
    # Whatever the text, decoding it either works or is a 422: never a RecursionError.
    for data in (("[" * openers + text).encode(), (text + "{\"a\":" * openers).encode()):
        with contextlib.suppress(Invalid):
            decode_json(data)
