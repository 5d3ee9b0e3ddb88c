"""Webhooks out (payload, signature, delivery queue) and a loopback sink that receives them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.jira.standin.base import StandinBase
from tests.jira.standin.records import (
    Delivery,
    Json,
    Subscription,
    WebhookEvent,
    epoch_ms,
)

T = TypeVar("T")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` header JIRA sends for ``body`` under a webhook ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks(StandinBase):
    """Changes queue their webhooks; they are POSTed once the state lock is released."""

    # -- webhooks --------------------------------------------------------------------------

    def subscribe(
        self, url: str, *, secret: str | None = None, events: Sequence[str] | None = None
    ) -> Subscription:
        """POST every webhook (or only ``events``) to ``url``, signed when ``secret`` is set."""
        with self._lock:
            sub = Subscription(
                len(self._subs) + 1, url, secret, frozenset(events) if events else None
            )
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.remove(sub)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Block until every queued webhook has been POSTed (or failed)."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"{self._pending} webhook(s) still queued after {timeout}s")

    def _emit(self, name: str, payload: Json) -> None:
        event = WebhookEvent(
            name, {"timestamp": epoch_ms(self._now()), "webhookEvent": name} | payload
        )
        self.emitted.append(event)
        self._outbox.extend((s, event) for s in self._subs if s.events is None or name in s.events)

    def _dispatch(self, outbox: list[tuple[Subscription, WebhookEvent]]) -> None:
        if self.webhook_delivery == "sync":
            for item in outbox:
                self._deliver(*item)
            return
        with self._cv:
            self._pending += len(outbox)
        for item in outbox:
            self._queue.put(item)

    def _deliver_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._deliver(*item)
            finally:
                with self._cv:
                    self._pending -= 1
                    self._cv.notify_all()

    def _deliver(self, sub: Subscription, event: WebhookEvent) -> None:
        payload = event.payload | ({"matchedWebhookIds": [sub.id]} if self.cloud else {})
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(self._next("webhook")),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if sub.secret:
            headers["X-Hub-Signature"] = sign(body, sub.secret)
        status: int | None = None
        error: str | None = None
        try:
            request = urllib.request.Request(sub.url, body, headers, method="POST")
            with urllib.request.urlopen(request, timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        self.deliveries.append(Delivery(sub.id, sub.url, event.name, body, headers, status, error))

    def _locked(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the state lock, then send its webhooks (a receiver may call back)."""
        outbox: list[tuple[Subscription, WebhookEvent]] = []
        try:
            with self._lock:
                try:
                    return fn()
                finally:
                    outbox, self._outbox = self._outbox, []
        finally:
            self._dispatch(outbox)


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Json:
        return json.loads(self.body)


class WebhookSink:
    """A loopback endpoint that keeps every POST it gets: a webhook receiver for tests."""

    def __init__(self, status: int = 200, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status, self.host, self.port = status, host, port
        self.received: list[ReceivedWebhook] = []
        self._cv = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhook"

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._cv:
                    sink.received.append(
                        ReceivedWebhook(self.path, dict(self.headers.items()), raw)
                    )
                    sink._cv.notify_all()
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """At least ``count`` webhooks received (all of them returned), or TimeoutError."""
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} webhooks after {timeout}s")
            return list(self.received)

    def events(self) -> list[str]:
        with self._cv:
            return [r.payload["webhookEvent"] for r in self.received]
