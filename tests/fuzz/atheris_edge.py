"""Coverage-guided fuzzing of the HTTP edge with atheris (libFuzzer), outside the test suite:
the same app, routes and property (bar the planted secret) as test_fuzz_edge.py, but the bytes come
from libFuzzer, which keeps the inputs that reach new code in the decoder, marshmallow,
werkzeug's parsers and the views.

    python tests/fuzz/atheris_edge.py --seed CORPUS      # write one seed per route
    python tests/fuzz/atheris_edge.py CORPUS -max_total_time=600

An input is: byte 0 the route, byte 1 the content type (bit 7: real ids in the path), then
the query string and the body, split at the first b"\\xff\\xfe". A failing input is written
to crash-<sha1> and replays with ``python tests/fuzz/atheris_edge.py crash-<sha1>``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote_from_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["batchsvc", "schemas", "werkzeug", "flask",
                                         "marshmallow", "json"]):
    from batchsvc.app import create_app  # noqa: F401  (instrumented before first use)
    from tests.conftest import base_settings, use_settings
    from tests.security.conftest import make_edge
    from tests.security.fuzzing import UPLOADS, check, real_id, routes, template

SPLIT = b"\xff\xfe"
CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "text/plain", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
                 "multipart/form-data", "multipart/form-data; boundary="]


def main() -> None:
    seed = "--seed" in sys.argv
    if seed:
        sys.argv.remove("--seed")
    with use_settings(base_settings(Path(tempfile.mkdtemp(prefix="atheris-edge-")))):
        from batchsvc.settings import get_settings

        edge = make_edge(get_settings())
        table = routes(edge)
        if seed:
            write_seeds(edge, table, Path(sys.argv[1]))
            return
        # Not the canary: mutated bytes move it out of the secret fields (into a query name, a
        # renamed key) where showing it is right; test_fuzz_edge.py checks it where it stays.
        secrets = (edge.key,)

        def one_input(data: bytes) -> None:
            if len(data) < 2:
                return
            route = table[data[0] % len(table)]
            content_type = CONTENT_TYPES[(data[1] & 0x7F) % len(CONTENT_TYPES)]
            query, _, body = data[2:].partition(SPLIT)
            values = {p: (real_id(edge, route, p) if data[1] & 0x80 and route.real_ids_allowed
                          else None) or quote_from_bytes(query[:24] or b"x", safe="")
                      for p in route.params}
            headers = {"Authorization": f"Bearer {edge.key}"}
            if content_type:
                headers["Content-Type"] = content_type
            path = route.path(values) + "?" + quote_from_bytes(query, safe="=&%+")
            check(edge.client.open(path, method=route.method, headers=headers, data=body),
                  secrets)

        atheris.Setup(sys.argv, one_input)
        atheris.Fuzz()


def write_seeds(edge, table, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    corpus.mkdir(parents=True, exist_ok=True)
    for index, route in enumerate(table):
        body = template(edge, route.endpoint)
        if route.endpoint in UPLOADS:
            data = (b'--b\r\nContent-Disposition: form-data; name="' + UPLOADS[
                route.endpoint].encode() + b'"; filename="a.txt"\r\n\r\nhello\r\n--b--\r\n')
            kind = 5
        else:
            data, kind = (json.dumps(body).encode() if body is not None else b""), 0
        seed = bytes([index, 0x80 | kind]) + b"limit=1&page_size=2" + SPLIT + data
        (corpus / f"seed-{index:02d}").write_bytes(seed)
    print(f"wrote {len(table)} seeds to {corpus}")


if __name__ == "__main__":
    main()
