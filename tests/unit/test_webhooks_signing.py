"""Bodies, headers, signatures and the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from batchsvc.settings import Settings
from batchsvc.webhooks.delivery import backoff
from batchsvc.webhooks.signing import custom_headers, render_body, request_headers

PAYLOAD = {"event_id": "evt-1", "event_type": "parse.success", "data": {"job_id": "bjb-1",
                                                                        "name": "façade"}}


def test_json_posts_the_object_and_string_posts_it_json_encoded() -> None:
    as_json = render_body(PAYLOAD, "json")
    assert json.loads(as_json) == PAYLOAD
    for fmt in ("string", None):  # the SDK documents string as the default
        body = render_body(PAYLOAD, fmt)
        decoded = json.loads(body)
        assert isinstance(decoded, str) and json.loads(decoded) == PAYLOAD
        assert decoded.encode() == as_json


def test_both_signatures_cover_what_they_claim() -> None:
    body = render_body(PAYLOAD, "json")
    headers = request_headers(event_id="evt-1", event_type="parse.success", delivery_id="whd-1",
                              attempt=2, timestamp=1700000000, body=body, secret="s3cret",
                              extra={"X-Token": "t"})
    digest = hmac.new(b"s3cret", body, hashlib.sha256)
    assert headers["LC-Signature"] == "sha256=" + digest.hexdigest()
    signed = b"evt-1.1700000000." + body
    expected = base64.b64encode(hmac.new(b"s3cret", signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == "v1," + expected
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("evt-1", "1700000000")
    assert headers["X-Token"] == "t" and headers["LC-Attempt"] == "2"
    other = request_headers(event_id="evt-1", event_type="parse.success", delivery_id="whd-1",
                            attempt=2, timestamp=1700000001, body=body, secret="s3cret", extra={})
    # A replayed body with a fresh timestamp needs a fresh signature.
    assert other["webhook-signature"] != headers["webhook-signature"]
    assert other["LC-Signature"] == headers["LC-Signature"]


def test_unsigned_without_a_secret() -> None:
    headers = request_headers(event_id="e", event_type="parse.pending", delivery_id="d",
                              attempt=1, timestamp=1, body=b"{}", secret=None, extra={})
    assert "LC-Signature" not in headers and "webhook-signature" not in headers


def test_custom_headers_cannot_override_the_protocol() -> None:
    extra = custom_headers({"X-Ok": "1", "Content-Type": "text/plain", "webhook-id": "x",
                            "X-Num": 7, "X-Flag": True, "Bad Name": "v", "X-Crlf": "a\r\nb"})
    assert extra == {"X-Ok": "1", "X-Num": "7", "X-Flag": "true"}
    assert custom_headers("[redacted]") == {}


def test_retry_delays_grow_and_span_more_than_an_hour() -> None:
    settings = Settings()
    base, attempts = settings.webhook_retry_base_seconds, settings.webhook_max_attempts
    for n in range(1, attempts):
        samples = [backoff(n, base) for _ in range(200)]
        following = [backoff(n + 1, base) for _ in range(200)]
        assert max(samples) < min(following)
        assert min(samples) >= 0.9 * base * 2 ** (n - 1)
    shortest_schedule = sum(0.9 * base * 2 ** (n - 1) for n in range(1, attempts))
    assert shortest_schedule >= 3600
