"""Rate limits: token buckets in MariaDB shared by every process. The session's servers
run with huge limits; this module starts its own front ends with low ones — chat-api
with two FastCGI workers behind its own nginx (rendered from the production
etc/nginx/chat-locations.conf.in), and a chat-httpd — all on the session's database,
and stops them at the end of the module."""

import concurrent.futures
import math
import os
import re
import time

import pytest
import requests

import conftest
from helpers import auth_headers, port_open, unix_socket_open, wait_until

TIMEOUT = 30
WRITE_BURST = 5
UPLOAD_BURST = 2
AUTH_BURST = 3
LOW_LIMITS = {
    # One token a minute: nothing refills while a test runs.
    "CHAT_RATE_AUTH_PER_MINUTE": "1", "CHAT_RATE_AUTH_BURST": str(AUTH_BURST),
    "CHAT_RATE_READ_PER_MINUTE": "1", "CHAT_RATE_READ_BURST": "50",
    "CHAT_RATE_WRITE_PER_MINUTE": "1", "CHAT_RATE_WRITE_BURST": str(WRITE_BURST),
    "CHAT_RATE_UPLOAD_PER_MINUTE": "1", "CHAT_RATE_UPLOAD_BURST": str(UPLOAD_BURST),
    # Every request takes its token from MariaDB here, so counts are exact across the
    # workers; test_api_rate_leases.py covers the leases (rate_lease_max) and their bound.
    "CHAT_RATE_LEASE_MAX": "0",
}
HTTPD_PORT = conftest.PORT_BASE + 51  # a port the session's servers leave free


@pytest.fixture(scope="module")
def limited(servers):
    """{"nginx": url, "httpd": url, "api_log": path} of the low-limit front ends."""
    rl = servers.var_dir / "ratelimit"
    for d in (rl / "run", rl / "log", rl / "nginx" / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    sock = str(rl / "run" / "chat-api.sock")
    env = dict(LOW_LIMITS, CHAT_FCGI_SOCKET=sock, CHAT_HTTP_PORT=str(HTTPD_PORT))
    names = []
    try:
        servers.spawn("chat-api-ratelimit", ["chat-api", "--workers", "2"], env,
                      ready=lambda: unix_socket_open(sock))
        names.append("chat-api-ratelimit")
        servers.spawn("nginx-ratelimit", servers.nginx_config(rl, sock, servers.extra_port),
                      ready=lambda: port_open("127.0.0.1", servers.extra_port))
        names.append("nginx-ratelimit")
        servers.spawn("chat-httpd-ratelimit", ["chat-httpd"], env,
                      ready=lambda: port_open("127.0.0.1", HTTPD_PORT))
        names.append("chat-httpd-ratelimit")
        yield {"nginx": "http://127.0.0.1:%d" % servers.extra_port,
               "httpd": "http://127.0.0.1:%d" % HTTPD_PORT,
               "api_log": servers.log_path("chat-api-ratelimit")}
    finally:
        for name in reversed(names):
            servers.stop_proc(name)


def send(url, user, conv_id, text="hi", headers=None):
    h = dict(auth_headers(user), **(headers or {}))
    return requests.post("%s/api/chat/conversations/%d/messages/" % (url, conv_id),
                         json={"text": text}, headers=h, timeout=TIMEOUT)


def direct_conv(url, a, b):
    r = requests.post(url + "/api/chat/conversations/", json={"participant_ids": [b["id"]]},
                      headers=auth_headers(a), timeout=TIMEOUT)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def assert_limited(r, burst):
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["code"] == "rate_limited" and body["request_id"], body
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60, r.headers  # one token a minute
    assert r.headers["X-RateLimit-Limit"] == str(burst)
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(r.headers["X-RateLimit-Reset"]) <= 60 * burst


def worker_pids(log_path, user_id):
    """The chat-api worker pids that logged a request of user_id."""
    text = log_path.read_text(errors="replace")
    return set(re.findall(r"chat-api\[(\d+)\][^\n]*/messages/ \d+ [^\n]*user=%d\b" % user_id, text))


def test_write_bucket_holds_across_two_fastcgi_workers(limited, servers, make_user):
    alice, bob = make_user("rl"), make_user("rl")
    conv = direct_conv(servers.httpd_url, alice, bob)  # the session's server: no limits
    url = limited["nginx"]
    start = time.monotonic()
    statuses = []
    # Concurrent batches keep both workers busy; go on until both have served this user.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            statuses += [r.status_code for r in pool.map(lambda i: send(url, alice, conv), range(8))]
            if len(worker_pids(limited["api_log"], alice["id"])) >= 2:
                break
    elapsed = time.monotonic() - start
    assert len(worker_pids(limited["api_log"], alice["id"])) == 2, "one worker served everything"
    assert set(statuses) <= {201, 429}, statuses
    # Exactly the burst got through (plus one per full minute the test took, at 1/min).
    assert WRITE_BURST <= statuses.count(201) <= WRITE_BURST + math.floor(elapsed / 60)
    assert_limited(send(url, alice, conv), WRITE_BURST)
    # Another user has a bucket of their own; reads are another class.
    assert send(url, bob, conv).status_code == 201
    r = requests.get("%s/api/chat/conversations/%d/messages/" % (url, conv),
                     headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "50", r.headers


def test_headers_count_down_and_the_bucket_is_shared_by_both_front_ends(limited, servers,
                                                                      make_user):
    alice, bob = make_user("rl"), make_user("rl")
    conv = direct_conv(servers.httpd_url, alice, bob)
    remaining = []
    for i in range(WRITE_BURST):
        # Alternate chat-httpd and nginx + chat-api: separate processes, one bucket.
        r = send(limited["httpd" if i % 2 else "nginx"], alice, conv)
        assert r.status_code == 201, r.text
        assert r.headers["X-RateLimit-Limit"] == str(WRITE_BURST)
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
        assert int(r.headers["X-RateLimit-Reset"]) >= 1
    assert remaining == list(range(WRITE_BURST - 1, -1, -1))
    assert_limited(send(limited["httpd"], alice, conv), WRITE_BURST)
    assert_limited(send(limited["nginx"], alice, conv), WRITE_BURST)
    # The refused sends stored nothing.
    n = servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s", (conv,))[0][0]
    assert n == WRITE_BURST


def test_login_and_register_are_limited_per_address(limited, servers, make_user):
    users = [make_user("rl") for _ in range(2)]  # before the bucket is used up
    # The session's servers refilled the shared 127.0.0.1 bucket above our burst; the
    # low-limit servers cap it at AUTH_BURST on their first request.
    codes = []
    for i in range(AUTH_BURST + 2):
        u = users[i % 2]
        # X-Forwarded-For is not trusted: every attempt comes from 127.0.0.1.
        h = {"X-Forwarded-For": "10.0.0.%d" % i}
        r = requests.post(limited["nginx" if i % 2 else "httpd"] + "/api/auth/login",
                          json={"username": u["username"], "password": u["password"]},
                          headers=h, timeout=TIMEOUT)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert_limited(r, AUTH_BURST)
    assert codes == [200] * AUTH_BURST + [429, 429], codes
    r = requests.post(limited["httpd"] + "/api/auth/register",
                      json={"username": "rl_never_%s" % os.urandom(4).hex(),
                            "password": "password123"}, timeout=TIMEOUT)
    assert_limited(r, AUTH_BURST)
    assert servers.db("SELECT COUNT(*) FROM users WHERE username LIKE 'rl\\_never\\_%%'") == ((0,),)


def test_upload_bucket_refuses_without_storing(limited, servers, make_user):
    alice = make_user("rl")
    h = dict(auth_headers(alice), **{"Content-Type": "text/plain"})
    url = limited["nginx"] + "/api/chat/attachments/"
    for i in range(UPLOAD_BURST):
        r = requests.post(url, data=os.urandom(100), headers=h, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
    rows = servers.db("SELECT COUNT(*) FROM attachments WHERE uploader_id = %s", (alice["id"],))
    r = requests.post(url, data=os.urandom(100), headers=h, timeout=TIMEOUT)
    assert_limited(r, UPLOAD_BURST)
    assert servers.db("SELECT COUNT(*) FROM attachments WHERE uploader_id = %s",
                      (alice["id"],)) == rows
    wait_until(lambda: not any((servers.var_dir / "data" / "tmp").iterdir()), 30,
               what="upload temp files to go away")
