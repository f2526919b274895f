"""The HTTP sender against a real local receiver: status, refusal, redirects, caps, deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from batchsvc.webhooks.sender import post
from tests.webhook_receiver import Receiver


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_posts_and_reports_the_status(receiver: Receiver) -> None:
    receiver.scripts["/five"] = [503]
    ok = post(receiver.url("/ok?x=1"), b'{"a":1}', {"X-A": "b"}, timeout=5, allow_private=True)
    bad = post(receiver.url("/five"), b"{}", {}, timeout=5, allow_private=True)
    assert ok.ok and ok.status_code == 200 and ok.error is None and ok.latency_ms > 0
    assert (bad.ok, bad.status_code, bad.error) == (False, 503, "HTTP 503")
    first = receiver.requests[0]
    assert (first.path, first.body, first.headers["x-a"]) == ("/ok?x=1", b'{"a":1}', "b")


def test_connects_to_the_vetted_address_with_the_original_host(receiver: Receiver) -> None:
    assert post(receiver.url("/named", host="localhost"), b"{}", {}, timeout=5,
                allow_private=True).ok
    assert receiver.at("/named")[0].headers["host"] == f"localhost:{receiver.port}"


def test_send_time_refusal_never_connects(receiver: Receiver) -> None:
    for host in ("127.0.0.1", "localhost"):
        outcome = post(receiver.url("/private", host=host), b"{}", {}, timeout=5,
                       allow_private=False)
        assert outcome.status_code is None and "refused" in (outcome.error or "")
        assert "loopback" in (outcome.error or "")
    assert receiver.requests == []


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    outcome = post(receiver.url("/redirect/x"), b"{}", {}, timeout=5, allow_private=True)
    assert not outcome.ok and outcome.status_code == 302 and "not followed" in outcome.error
    assert [r.path for r in receiver.requests] == ["/redirect/x"]


def test_response_body_is_read_with_a_cap(receiver: Receiver) -> None:
    outcome = post(receiver.url("/big/x"), b"{}", {}, timeout=10, allow_private=True)
    assert outcome.ok
    deadline = time.time() + 10
    while not receiver.big_fully_sent and time.time() < deadline:
        time.sleep(0.05)
    assert receiver.big_fully_sent == [False]


def _silent_server(trickle: bool) -> tuple[socket.socket, threading.Event]:
    """Accepts and reads, then never answers (or answers one header byte at a time)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        while not stop.wait(0.05):
            if trickle:
                try:
                    conn.send(b"X" if conn.fileno() >= 0 else b"")
                except OSError:
                    return
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, stop


@pytest.mark.parametrize("trickle", [False, True])
def test_a_silent_or_trickling_receiver_hits_the_deadline(trickle: bool) -> None:
    server, stop = _silent_server(trickle)
    try:
        port = server.getsockname()[1]
        outcome = post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=0.5, allow_private=True)
        assert outcome.status_code is None and outcome.error == "timed out after 0.5 s"
    finally:
        stop.set()
        server.close()


def test_connection_refused_is_an_outcome() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    outcome = post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=2, allow_private=True)
    assert outcome.status_code is None and outcome.error == "connection refused"
