"""One document fetched from a caller's URL (``source_url``, ``input_url``) under the webhooks'
SSRF rules: http(s) only, every address of the host vetted (private, loopback and link-local
refused unless allowed; cloud metadata always), the connection pinned to a vetted address,
each redirect vetted again as a new URL, a size cap while reading and one deadline overall."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import unquote, urljoin

from batchsvc.webhooks.safety import Refused, parse_url
from batchsvc.webhooks.sender import describe, pinned

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


class FetchFailed(Exception):
    """The document could not be fetched; the message is fit for an item's error."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    name: str


def name_of(url: str) -> str:
    """A file name for a URL's document: its last path segment, else its host."""
    parts = parse_url(url)
    tail = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return (tail or parts.hostname or "download")[:255]


def fetch(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> Fetched:
    """GET ``url`` (following vetted redirects); raises FetchFailed with the reason."""
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            status, location, data, disposition = _get(current, deadline, timeout,
                                                       max_bytes, allow_private)
        except Refused as exc:
            where = "" if current == url else f" (redirected to {current})"
            raise FetchFailed(f"refused{where}: {exc}") from None
        if status in REDIRECTS and location:
            current = urljoin(current, location)
            continue
        if not 200 <= status < 300:
            raise FetchFailed(f"HTTP {status} from {current}")
        return Fetched(data, _disposition_name(disposition) or name_of(current))
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")


def _get(url: str, deadline: float, timeout: float, max_bytes: int, allow_private: bool
         ) -> tuple[int, str | None, bytes, str | None]:
    try:
        with pinned(url, deadline, allow_private) as (conn, path, host_header):
            conn.request("GET", path, headers={"Host": host_header, "Accept": "*/*",
                                               "User-Agent": "batchsvc"})
            response = conn.getresponse()
            if response.status in REDIRECTS or not 200 <= response.status < 300:
                return response.status, response.getheader("Location"), b"", None
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(f"the document is {declared} bytes; the limit is {max_bytes}")
            chunks, size = [], 0
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(
                        f"the document is larger than the limit of {max_bytes} bytes")
                chunks.append(chunk)
            if time.monotonic() >= deadline:
                raise TimeoutError()
            if declared and declared.isdigit() and size != int(declared):
                raise FetchFailed(
                    f"{url}: the connection closed after {size} of {declared} bytes")
            return response.status, None, b"".join(chunks), response.getheader(
                "Content-Disposition")
    except (FetchFailed, Refused):
        raise
    except Exception as exc:  # noqa: BLE001 - every network failure is a readable reason
        timed_out = time.monotonic() >= deadline
        raise FetchFailed(f"{url}: " + describe(TimeoutError() if timed_out else exc,
                                                timeout)) from None


def _disposition_name(header: str | None) -> str | None:
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', header or "")
    return unquote(match.group(1)).rsplit("/", 1)[-1][:255] if match else None
