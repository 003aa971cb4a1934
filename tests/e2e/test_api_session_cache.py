"""The session cache (session_cache_ms, 1000 by default: api/session_cache.c): chat-api and
chat-httpd answer a session from memory for at most that long after reading it, so a
revoked session is refused everywhere within 1 s, and at once by the process that
revoked it. The session's servers run with the cache off (conftest.py); this module starts
a chat-httpd with the shipped default and one thread, so that consecutive requests meet
the same cache."""

import time

import pytest
import requests

import conftest
from helpers import auth_headers

TIMEOUT = 30
HTTPD_PORT = conftest.PORT_BASE + 58  # a port the session's servers leave free
CACHE_S = 1.0                         # session_cache_ms of the shipped config


@pytest.fixture(scope="module")
def cached(servers):
    url = servers.spawn_httpd("chat-httpd-cache", HTTPD_PORT,
                              {"CHAT_SESSION_CACHE_MS": "1000", "CHAT_HTTPD_THREADS": "1"})
    try:
        yield url
    finally:
        servers.stop_proc("chat-httpd-cache")


def me(url, user):
    return requests.get(url + "/api/auth/me", headers=auth_headers(user), timeout=TIMEOUT)


def test_a_session_revoked_elsewhere_is_refused_within_the_bound(cached, servers, make_user):
    """The session is ended behind the cached server's back (in MariaDB, as another host
    would): the first request after the bound has passed since the server last read it
    is refused, however recently it was answered from memory."""
    user = make_user("sc")
    assert me(cached, user).status_code == 200  # read from MariaDB, remembered
    read_by = time.monotonic()                  # the server read it before this
    servers.db("DELETE FROM sessions WHERE user_id = %s", (user["id"],))
    while time.monotonic() < read_by + CACHE_S + 0.05:
        time.sleep(0.01)
    r = me(cached, user)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "not_authenticated"


def test_the_revoking_process_forgets_at_once(cached, make_user):
    """Logout, password change and ending other sessions through the cached server: its
    own memory of those sessions goes with them, so the very next request is refused."""
    a = make_user("sl")
    assert me(cached, a).status_code == 200
    r = requests.post(cached + "/api/auth/logout", headers=auth_headers(a), timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert me(cached, a).status_code == 401

    b = make_user("sp")
    other = requests.post(cached + "/api/auth/login",
                          json={"username": b["username"], "password": b["password"]},
                          timeout=TIMEOUT).json()["token"]
    b_other = dict(b, token=other)
    assert me(cached, b_other).status_code == 200  # remembered
    r = requests.delete(cached + "/api/users/me/sessions/", headers=auth_headers(b),
                        timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert me(cached, b_other).status_code == 401
    assert me(cached, b).status_code == 200


def test_a_cached_session_answers_without_reading_it(cached, servers, make_user):
    """Within the bound the session row is not read: with its expiry moved into the past
    in MariaDB, the cached server still knows the caller until the bound has passed."""
    user = make_user("sr")
    assert me(cached, user).status_code == 200
    read_by = time.monotonic()
    servers.db("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
               "WHERE user_id = %s", (user["id"],))
    r = me(cached, user)  # well inside the bound: answered from memory
    assert r.status_code == 200, r.text
    while time.monotonic() < read_by + CACHE_S + 0.05:
        time.sleep(0.01)
    assert me(cached, user).status_code == 401
