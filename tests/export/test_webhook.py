"""Webhook delivery against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from export_store import ATTACK
from typer.testing import CliRunner

from detector.cli import app
from detector.export import load_alerts, new_alerts
from detector.export.webhook import check_url, deliver, failure_message

runner = CliRunner()


class Receiver:
    """A loopback server that answers with the queued statuses, then 200; records every body."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.keys: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.keys.append(self.headers.get("Idempotency-Key"))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver_factory() -> Iterator:
    started: list[Receiver] = []

    def start(statuses: list[int]) -> Receiver:
        r = Receiver(statuses)
        r.thread.start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.server.shutdown()
        r.server.server_close()


def test_a_500_then_success_is_delivered_on_the_second_try(con, receiver_factory):
    receiver = receiver_factory([500])
    pending = new_alerts(load_alerts(con))
    waits: list[float] = []
    results = deliver(receiver.url, pending, sleep=waits.append, backoff=0.25)
    assert [(r.alert_id, r.delivered, r.attempts) for r in results] == [(ATTACK.alert_id, True, 2)]
    assert waits == [0.25]
    assert failure_message(results) is None
    assert receiver.bodies == [pending[0].to_json_obj()] * 2
    assert receiver.keys == [ATTACK.alert_id] * 2


def test_persistent_failure_is_tried_three_times_with_backoff_and_reported(con, receiver_factory):
    receiver = receiver_factory([503, 503, 503])
    waits: list[float] = []
    results = deliver(receiver.url, load_alerts(con), sleep=waits.append, backoff=1.0)
    failed = [r for r in results if not r.delivered]
    assert len(failed) == 1 and failed[0].attempts == 3 and failed[0].error == "HTTP 503"
    assert waits == [1.0, 2.0]
    # the failure did not stop the other alerts from being tried and delivered
    assert sum(r.delivered for r in results) == len(results) - 1
    message = failure_message(results)
    assert message is not None and "1 of 3" in message and "\n" not in message


def test_a_refused_connection_is_a_failure_not_a_crash(con):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    results = deliver(f"http://127.0.0.1:{port}/", new_alerts(load_alerts(con)), sleep=lambda _: None, timeout=2)
    assert [r.delivered for r in results] == [False] and results[0].attempts == 3


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "127.0.0.1:8080", "http://"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(ValueError, match="http"):
        check_url(url)


def test_cli_posts_only_new_alerts(store_path, receiver_factory, tmp_path):
    receiver = receiver_factory([])
    result = runner.invoke(app, ["export", "--db", str(store_path), "--format", "jsonl",
                                 "--out", str(tmp_path / "a.jsonl"), "--webhook", receiver.url])
    assert result.exit_code == 0, result.output
    assert [b["alert_id"] for b in receiver.bodies] == [ATTACK.alert_id]
    assert all(b["status"] == "new" for b in receiver.bodies)


def test_cli_exits_3_with_one_line_when_delivery_fails(store_path, receiver_factory, tmp_path):
    receiver = receiver_factory([404])  # not retryable: fails fast
    out = tmp_path / "a.jsonl"
    result = runner.invoke(app, ["export", "--db", str(store_path), "--format", "jsonl",
                                 "--out", str(out), "--webhook", receiver.url])
    assert result.exit_code == 3
    assert "webhook: 1 of 1 new alerts not delivered" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert out.exists()  # the export itself was still written


def test_cli_rejects_a_non_http_webhook(store_path):
    result = runner.invoke(app, ["export", "--db", str(store_path), "--format", "jsonl", "--webhook", "file:///tmp/x"])
    assert result.exit_code == 2
