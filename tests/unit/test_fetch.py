"""Documents fetched from URLs under the webhooks' SSRF rules, against a real loopback server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batchsvc.webhooks.fetch import FetchFailed, fetch, name_of
from tests.document_server import DocumentServer
from tests.harness import CORPUS

DOC = "minimal-document.pdf"


@pytest.fixture(scope="module")
def server() -> Iterator[DocumentServer]:
    running = DocumentServer(CORPUS)
    yield running
    running.stop()


def _get(url: str, **kw: object) -> bytes:
    options = {"timeout": 10.0, "max_bytes": 10_000_000, "allow_private": True, **kw}
    return fetch(url, **options).data  # type: ignore[arg-type]


def test_fetch_and_vetted_redirects(server: DocumentServer) -> None:
    expected = (CORPUS / DOC).read_bytes()
    assert _get(f"{server.url}/docs/{DOC}") == expected
    got = fetch(f"{server.url}/to/docs/{DOC}", timeout=10, max_bytes=10**7, allow_private=True)
    assert got.data == expected and got.name == DOC
    with pytest.raises(FetchFailed, match=r"refused \(redirected to http://169.254.169.254"):
        _get(f"{server.url}/away")
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        _get(f"{server.url}/loop")
    with pytest.raises(FetchFailed, match="HTTP 404"):
        _get(f"{server.url}/docs/none.pdf")


def test_private_addresses_refused_unless_allowed(server: DocumentServer) -> None:
    with pytest.raises(FetchFailed, match="loopback"):
        _get(f"{server.url}/docs/{DOC}", allow_private=False)
    for url in ("ftp://example.com/a.pdf", "http://user:pw@example.com/a", "not a url"):
        with pytest.raises(FetchFailed, match="refused"):
            _get(url)
    assert server.hits[f"/docs/{DOC}"] >= 1


def test_size_cap_and_deadline(server: DocumentServer) -> None:
    with pytest.raises(FetchFailed, match="limit is 1000000"):
        _get(f"{server.url}/big", max_bytes=1_000_000)
    # The error names the deadline that fired (the server would answer far later).
    with pytest.raises(FetchFailed, match="timed out after 2 s"):
        _get(f"{server.url}/slow", timeout=2.0)


def test_names() -> None:
    assert name_of("https://example.com/files/Annual%20Report.pdf?x=1") == "Annual Report.pdf"
    assert name_of("https://example.com/") == "example.com"
