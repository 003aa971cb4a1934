"""The web server front ends (nginx, Apache, lighttpd) send their security headers on every kind of
response, once each: files they serve themselves (plain and versioned static), a 413,
the application's pages, JSON and errors over FastCGI, and what they proxy to chat-push.
nginx drops a level's add_header lines in any location with one of its own, which is
how /static/ lost them (etc/nginx/chat-security-headers.conf); Apache merges the
application's copies with its own unless they are unset first
(etc/apache/chat-site.conf.in)."""

import re

import pytest
import requests

from conftest import FRONT_ENDS

TIMEOUT = 30
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}


def versioned(base, name):
    page = requests.get(base + "/chat/", timeout=TIMEOUT).text
    m = re.search(r'/static/v/([0-9a-f]+)/', page)
    assert m, "no versioned asset URL in the page"
    return "/static/v/%s/%s" % (m.group(1), name)


@pytest.mark.parametrize("what", [
    "static", "versioned_static", "missing_static", "page", "api_401", "api_404",
    "too_large_by_front", "too_large_by_app", "events_poll", "ws_without_upgrade"])
@pytest.mark.parametrize("front", [name for name in FRONT_ENDS if name != "httpd"])
def test_security_headers_on_every_location(servers, make_user, front, what):
    base = FRONT_ENDS[front](servers)
    if what == "static":
        r = requests.get(base + "/static/chat.css", timeout=TIMEOUT)
        assert r.status_code == 200
    elif what == "versioned_static":
        r = requests.get(base + versioned(base, "chat.js"), timeout=TIMEOUT)
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    elif what == "missing_static":
        r = requests.get(base + "/static/no-such-file.js", timeout=TIMEOUT)
        assert r.status_code == 404
    elif what == "page":
        user = make_user("hdr")
        s = requests.Session()
        login = s.post(base + "/api/auth/login", timeout=TIMEOUT,
                       json={"username": user["username"], "password": user["password"]})
        assert login.status_code == 200
        r = s.get(base + "/chat/", timeout=TIMEOUT)
        assert r.status_code == 200
        assert "text/html" in r.headers["Content-Type"]
    elif what == "api_401":
        r = requests.get(base + "/api/auth/me", timeout=TIMEOUT)
        assert r.status_code == 401
    elif what == "api_404":
        r = requests.get(base + "/no/such/path", timeout=TIMEOUT)
        assert r.status_code == 404
    elif what == "too_large_by_front":
        # nginx answers this one itself (client_max_body_size); Apache and lighttpd
        # let the application answer every body up to 26 MiB. Either way the JSON 413.
        r = requests.post(base + "/api/auth/login", data=b"x" * (2 * 1024 * 1024),
                          headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert r.headers["X-Request-Id"] == r.json()["request_id"]
    elif what == "too_large_by_app":
        r = requests.post(base + "/api/auth/login", data=b"x" * (1024 * 1024 + 10),
                          headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
    elif what == "events_poll":
        r = requests.get(base + "/events/poll/", timeout=TIMEOUT)
        assert r.status_code == 401
    elif what == "ws_without_upgrade":
        r = requests.get(base + "/ws/", timeout=TIMEOUT)
        assert r.status_code != 101
    for name, value in EXPECTED.items():
        # requests joins repeated headers with ", ", so a header sent twice fails here.
        assert r.headers.get(name) == value, (what, name, r.headers.get(name))
