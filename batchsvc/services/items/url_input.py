"""Items whose document comes from a URL: a parse job's ``input_url`` parameter (a v2
``source_url``, the llama-parse client's URL input, or a batch's ``input_url``).

The worker fetches it (``webhooks.fetch``: the webhooks' SSRF rules, the item size cap, a
timeout), so a fetch that fails fails that item with the reason, like any bad document. A
fetched document is never matched against earlier results: a URL's content may change."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from batchsvc.services.items.store import Claim, FileInfo
from batchsvc.settings import get_settings
from batchsvc.webhooks.fetch import FetchFailed, fetch


def requested(claim: Claim) -> str | None:
    url = claim.job.params.get("input_url") if claim.job.job_type == "parse" else None
    return str(url) if url else None


def fetch_document(claim: Claim, url: str) -> tuple[Claim, bytes]:
    """(the claim with the fetched document as its file, its bytes); DocumentFetchError."""
    settings = get_settings()
    try:
        fetched = fetch(url, timeout=settings.input_url_timeout_seconds,
                        max_bytes=settings.max_item_bytes,
                        allow_private=settings.private_networks_allowed)
    except FetchFailed as exc:
        raise DocumentFetchError(f"could not fetch input_url {url}: {exc}") from None
    data = fetched.data
    info = FileInfo(len(data), hashlib.sha256(data).hexdigest(), "", None, data)
    return replace(claim, file=info), data


class DocumentFetchError(Exception):
    """The item's document could not be fetched; the message says why."""
