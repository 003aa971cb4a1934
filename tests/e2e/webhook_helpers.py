"""A real HTTP receiver for the webhook suites (test_webhooks.py, test_bots.py), and the
chatctl commands that point chat-notify at it. Signatures are checked with the worked
example of docs/WEBHOOKS.md (docs/examples/webhook_receiver.py), so the documented
receiver is the one under test."""

import contextlib
import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import conftest
from helpers import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "examples"))
from webhook_receiver import verify  # noqa: E402

# Ports the session's servers leave free (conftest.PORT_BASE + 30..34).
RECEIVER_PORT = conftest.PORT_BASE + 30
BOT_RECEIVER_PORT = conftest.PORT_BASE + 31
SLOW_RECEIVER_PORT = conftest.PORT_BASE + 32
WAIT = 60  # seconds; deliveries come within a few seconds (2 s delay, 100 ms polls)


class Receiver:
    """An HTTP server on a fixed port (so it can go away and come back at the same
    address) that records every POST and answers with `status`."""

    def __init__(self, port, tls=None):
        self.port = port
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.url = "%s://127.0.0.1:%d/hook" % ("https" if tls else "http", port)
        self.status = 200
        self.location = None  # with a 3xx status: the Location header
        self.hold = None  # a threading.Event: each request waits for it before answering
        self.holding = threading.Event()  # set while a request waits for `hold`
        self.requests = []  # dicts: path, headers, body (bytes), json, answered
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hold = receiver.hold
                if hold is not None:
                    receiver.holding.set()
                    hold.wait(WAIT)
                with receiver.lock:
                    status = receiver.status
                    receiver.requests.append({
                        "path": self.path, "headers": dict(self.headers.items()),
                        "body": body, "json": json.loads(body), "answered": status})
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        """Closes the port: further attempts get connection refused."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def matching(self, pred):
        with self.lock:
            return [r for r in self.requests if pred(r)]

    def wait_for(self, pred, what, count=1):
        return wait_until(lambda: (lambda got: got if len(got) >= count else None)(self.matching(pred)),
                          WAIT, interval=0.05, what=what)


def add_webhook(servers, url):
    """chatctl webhook add URL -> (webhook id, secret)."""
    out = servers.chatctl("webhook", "add", url).stdout
    return int(re.search(r"^webhook (\d+):", out, re.M).group(1)), \
        re.search(r"^secret: (\S+)$", out, re.M).group(1)


def remove_webhook(servers, webhook_id):
    servers.chatctl("webhook", "remove", str(webhook_id))


@contextlib.contextmanager
def webhook_at(servers, receiver):
    """Starts receiver and adds an offline webhook pointing at it for the with block:
    yields (webhook id, secret); then removes the webhook and stops the receiver."""
    receiver.start()
    webhook_id, secret = add_webhook(servers, receiver.url)
    try:
        yield webhook_id, secret
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        remove_webhook(servers, webhook_id)
        receiver.stop()


def signed_by(secret):
    """pred(request): its X-Chat-Signature verifies with secret and is fresh."""
    return lambda r: verify(secret, r["headers"].get("X-Chat-Signature", ""), r["body"])


def deliveries(servers, **where):
    """Rows (id, state, attempts, last_error) of webhook_deliveries matching where."""
    cond = " AND ".join("%s = %%s" % k for k in where) or "TRUE"
    return servers.db("SELECT id, state, attempts, last_error FROM webhook_deliveries WHERE "
                      + cond + " ORDER BY id", tuple(where.values()))


def wait_delivery_state(servers, state, **where):
    return wait_until(lambda: [d for d in deliveries(servers, **where) if d[1] == state],
                      WAIT, interval=0.05, what="a %s delivery for %r" % (state, where))


def now_unix():
    return time.time()
