"""The REST side at its edges and under failure, through both front ends where a test
takes `api_url`: HEAD without a body, multibyte search and login input, chunked bodies
over the limit, the no-JavaScript form, a stopped or frozen MariaDB (503, then recovery), a deadlock (run again, not a 503),
and input rules counted in characters."""

import signal
import socket
import threading
import time
import urllib.parse

import pymysql
import pytest
import requests

from api_helpers import assert_error, direct, group, msgs_url, send
from helpers import auth_headers, port_open

TIMEOUT = 30


def raw_http(url, request_bytes, read_timeout=15):
    """Sends request_bytes to the front end of url and returns the whole answer."""
    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=read_timeout) as s:
        s.sendall(request_bytes)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


# ---- transport and CSRF checks that held --------------------------------------------------------------------------

def test_head_has_no_body(api_url, make_user):
    alice = make_user("rv")
    r = requests.head(api_url + "/api/auth/me", headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b""


@pytest.mark.parametrize("q", ["é" * 64, "字" * 100, "x" * 63 + "字" * 10])
def test_user_search_multibyte_q_is_cut_at_characters(api_url, make_user, q):
    """q is documented as truncated to 64 characters; the cut was made in bytes, twice (a
    256-byte query buffer, then a 130-byte LIKE pattern), so a valid query could end in
    half a character: 400 invalid_utf8, or invalid UTF-8 sent to MariaDB."""
    alice = make_user("rv", display_name=q[:64])
    r = requests.get(api_url + "/api/users/", params={"q": q, "limit": 50},
                     headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert alice["id"] in [u["id"] for u in r.json()["results"]], r.text


def test_form_send_without_csrf_cookie_auth(api_url, make_user):
    alice, bob = make_user("rv"), make_user("rv")
    conv = direct(api_url, alice, bob)["id"]
    r = requests.post(api_url + "/chat/%d/send" % conv, data={"text": "hi", "csrf_token": ""},
                      cookies={"chat_session": alice["token"]}, allow_redirects=False,
                      timeout=TIMEOUT)
    assert r.status_code == 403, r.text


def test_chunked_json_over_limit(api_url, make_user):
    alice = make_user("rv")
    def chunks():
        block = b" " * 65536
        for _ in range(20):
            yield block
    r = requests.post(api_url + "/api/chat/conversations/", data=chunks(),
                      headers=dict(auth_headers(alice), **{"Content-Type": "application/json"}),
                      timeout=TIMEOUT)
    assert r.status_code == 413, r.text


@pytest.mark.parametrize("username", ["é", "字" * 32, "ok\u202e"])
def test_login_with_a_non_ascii_username_is_401(api_url, username):
    r = requests.post(api_url + "/api/auth/login", json={"username": username, "password": "x" * 8},
                      timeout=TIMEOUT)
    assert_error(r, 401)


def test_db_down_is_503_then_recovers(servers, make_user):
    """With MariaDB stopped every request that needs it is a quick 503 (never a crash or
    a hung worker), on both front ends, and the next requests after its restart work."""
    alice = make_user("rv")
    urls = [servers.httpd_url, servers.nginx_url]
    for url in urls:  # every worker holds an open connection
        for _ in range(4):
            assert requests.get(url + "/api/auth/me", headers=auth_headers(alice),
                                timeout=TIMEOUT).status_code == 200
    servers.db_proc.send_signal(signal.SIGTERM)
    servers.db_proc.wait(60)
    servers.db_proc = None
    try:
        for url in urls:
            for _ in range(4):
                r = requests.get(url + "/api/auth/me", headers=auth_headers(alice), timeout=TIMEOUT)
                assert_error(r, 503, "database_unavailable")
                r = requests.post(url + "/api/chat/conversations/", json={"participant_ids": [1]},
                                  headers=auth_headers(alice), timeout=TIMEOUT)
                assert_error(r, 503, "database_unavailable")
    finally:
        servers._start_db()
    for url in urls:
        for _ in range(4):
            r = requests.get(url + "/api/auth/me", headers=auth_headers(alice), timeout=TIMEOUT)
            assert r.status_code == 200, r.text


def test_frozen_db_is_a_503_not_a_hung_worker(servers, make_user):
    """A MariaDB that stops answering (paused, partitioned) fails a request after
    db_timeout_s with 503 instead of holding the worker for ever; after it resumes the
    same worker answers again."""
    alice = make_user("fz")
    port = servers.extra_port
    url = "http://127.0.0.1:%d" % port
    servers.spawn("chat-httpd-frozen", ["chat-httpd"],
                  {"CHAT_HTTP_PORT": str(port), "CHAT_DB_TIMEOUT_S": "2", "CHAT_HTTPD_THREADS": "1"},
                  ready=lambda: port_open("127.0.0.1", port))
    try:
        r = requests.get(url + "/api/auth/me", headers=auth_headers(alice), timeout=TIMEOUT)
        assert r.status_code == 200, r.text  # the worker holds a connection now
        servers.db_proc.send_signal(signal.SIGSTOP)
        try:
            r = requests.get(url + "/api/auth/me", headers=auth_headers(alice), timeout=90)
            assert_error(r, 503, "database_unavailable")
        finally:
            servers.db_proc.send_signal(signal.SIGCONT)
        r = requests.get(url + "/api/auth/me", headers=auth_headers(alice), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
    finally:
        servers.stop_proc("chat-httpd-frozen")


def test_form_send_redirect_has_its_reason_phrase(api_url, make_user):
    """The no-JavaScript send answers 303; chat-api wrote "Status: 303 Unknown" (303 was
    missing from its reason table) and nginx passed "303 Unknown" on to the browser."""
    alice, bob = make_user("rv"), make_user("rv")
    conv = direct(api_url, alice, bob)["id"]
    s = requests.Session()
    r = s.post(api_url + "/api/auth/login",
               json={"username": alice["username"], "password": alice["password"]},
               timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = s.post(api_url + "/chat/%d/send" % conv,
               data={"text": "hi", "csrf_token": s.cookies["chat_csrf"]},
               allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 303, r.text
    assert r.reason == "See Other", r.reason


def test_escaped_nul_blank_group_name_and_short_password_in_characters(api_url, make_user):
    """Inputs that used to slip through: an escaped NUL (stored text was cut at it), an
    all-white-space group name at creation (rename already refused it), and a password
    of 4 two-byte characters (8 bytes, under the 8-character minimum)."""
    alice, bob = make_user("nz"), make_user("nz")
    conv = direct(api_url, alice, bob)["id"]
    r = requests.post(api_url + "/api/chat/conversations/%d/messages/" % conv,
                      data=b'{"text": "before\\u0000after"}', timeout=TIMEOUT,
                      headers=dict(auth_headers(alice), **{"Content-Type": "application/json"}))
    assert_error(r, 400, "invalid_utf8")
    history = requests.get(api_url + "/api/chat/conversations/%d/messages/" % conv,
                           headers=auth_headers(alice), timeout=TIMEOUT).json()["results"]
    assert history == []  # nothing stored
    r = requests.post(api_url + "/api/chat/conversations/",
                      json={"participant_ids": [bob["id"]], "is_group": True, "name": " \t "},
                      headers=auth_headers(alice), timeout=TIMEOUT)
    assert_error(r, 422, "validation_error")
    r = requests.post(api_url + "/api/auth/register",
                      json={"username": "short_%s" % alice["username"][-8:],
                            "password": "\u00e9\u00e9\u00e9\u00e9"}, timeout=TIMEOUT)
    body = assert_error(r, 422, "validation_error")
    assert "at least 8 characters" in body["detail"]


# ---- a deadlock is run again, not answered 503 ------------------------------------------------------------------

def test_a_deadlocked_post_is_run_again_and_stored_once(api_url, servers, make_user):
    """A real InnoDB deadlock between a POST and another transaction: the other one
    changes 40 rows (so InnoDB picks the POST, the lighter one, as the victim), holds the
    gap of the conversation's messages index where the POST inserts, and once the POST
    waits there asks for the conversation row the POST has locked. MariaDB rolls the POST
    back with error 1213; chat-api runs the request again (after the other transaction
    ends) and answers 201 with the message stored once, instead of 503."""
    alice, bob = make_user("dl"), make_user("dl")
    conv = direct(api_url, alice, bob)["id"]
    ballast = group(api_url, alice, [bob], name="ballast")["id"]
    for i in range(40):
        send(api_url, alice, ballast, "ballast %d" % i)
    other = servers.db_connect()
    result = {}
    try:
        with other.cursor() as cur:
            assert cur.execute("UPDATE messages SET text = CONCAT(text, '.') "
                               "WHERE conversation_id = %s", (ballast,)) == 40
            cur.execute("SELECT id FROM messages WHERE conversation_id = %s FOR UPDATE", (conv,))
            poster = threading.Thread(target=lambda: result.update(r=requests.post(
                msgs_url(api_url, conv), json={"text": "deadlocked once"},
                headers=auth_headers(alice), timeout=TIMEOUT)))
            poster.start()
            # The POST has locked the conversation row (its first statement) when a
            # NOWAIT lock on it fails; its INSERT then waits for our gap lock.
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    servers.db("SELECT id FROM conversations WHERE id = %s FOR UPDATE NOWAIT",
                               (conv,))
                except pymysql.err.OperationalError as e:
                    assert e.args[0] == 1205, e.args  # lock wait timeout: it is held
                    break
                assert time.monotonic() < deadline, "the POST never locked the conversation"
                time.sleep(0.005)
            # Closes the cycle: InnoDB rolls the POST's transaction back at once.
            cur.execute("SELECT id FROM conversations WHERE id = %s FOR UPDATE", (conv,))
        other.rollback()  # nothing of the ballast change stays
    finally:
        other.close()
    poster.join(TIMEOUT)
    r = result["r"]
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "deadlocked once"
    rows = servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s AND text = %s",
                      (conv, "deadlocked once"))
    assert rows[0][0] == 1
    request_id = r.headers["X-Request-Id"]
    logs = "".join(p.read_text(errors="replace") for p in servers.log_dir.glob("*.log"))
    assert any("req=%s" % request_id in line and "running it again" in line
               for line in logs.splitlines()), "no retry logged for request %s" % request_id
