"""chat-httpd under slow and abusive clients: thousands of connections that never finish
their request head, and logins (argon2id) that would take every request thread. Each
test starts its own chat-httpd with the settings it needs, on the session's database."""

import concurrent.futures
import os
import resource
import socket
import threading
import time

import pytest
import requests

import conftest
from helpers import port_open, unique_name, wait_until

PORT = conftest.PORT_BASE + 43
SLOW = 2000


@pytest.fixture(autouse=True, scope="module")
def enough_descriptors():
    """The test holds 2,000 sockets; the chat-httpd it starts inherits the raised limit
    too, and raises its own towards the hard limit anyway."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = SLOW + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def start_httpd(servers, name, **settings):
    env = {"CHAT_HTTP_PORT": str(PORT)}
    env.update({"CHAT_" + k.upper(): str(v) for k, v in settings.items()})
    return servers.spawn(name, ["chat-httpd"], env, ready=lambda: port_open("127.0.0.1", PORT))


def open_slow(n):
    """n connections from 127.0.0.1 that each send part of a request line and stop."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        try:
            s.sendall(b"GET /api/auth/me HT")
        except OSError:
            pass  # already closed by the per-address limit
        socks.append(s)
    return socks


def me_from(source, timeout):
    """GET /api/auth/me without credentials from the local address `source`."""
    s = requests.Session()
    s.mount("http://", SourceAdapter(source))
    return s.get("http://127.0.0.1:%d/api/auth/me" % PORT, timeout=timeout)


class SourceAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_slow_clients_of_one_address_do_not_shut_out_another(servers):
    """2,000 connections from 127.0.0.1 stuck in their request line: beyond
    httpd_max_connections_per_ip they are closed at once, and a client at 127.0.0.2 is
    answered within 1 s."""
    proc = start_httpd(servers, "chat-httpd-abuse-ip", httpd_max_connections_per_ip=64)
    socks = []
    try:
        socks = open_slow(SLOW)
        r = me_from("127.0.0.2", timeout=1)
        assert r.status_code == 401, r.text
        # The per-address limit is what held them back: far fewer than 2,000 are open.
        assert fd_count(proc.popen.pid) < 64 + 200
    finally:
        for s in socks:
            s.close()
        servers.stop_proc("chat-httpd-abuse-ip")


def test_two_thousand_slow_connections_fit_and_miss_the_head_deadline(servers):
    """With no per-address limit all 2,000 are held open (epoll, a raised connection
    limit), another client is still answered within 1 s, and each slow connection is
    dropped once httpd_head_timeout_s has passed although none was idle for
    MHD's 60 s timeout."""
    proc = start_httpd(servers, "chat-httpd-abuse-head", httpd_max_connections_per_ip=0,
                       httpd_head_timeout_s=3)
    socks = []
    try:
        socks = open_slow(SLOW)
        wait_until(lambda: fd_count(proc.popen.pid) >= SLOW, 10,
                   what="chat-httpd holding all slow connections")
        r = me_from("127.0.0.2", timeout=1)
        assert r.status_code == 401, r.text
        closed = 0
        for s in socks:
            s.settimeout(15)  # the deadline plus a margin for 2,000 shutdowns
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            closed += 1
        assert closed == SLOW
        wait_until(lambda: fd_count(proc.popen.pid) < 200, 10,
                   what="chat-httpd closing the slow connections")
    finally:
        for s in socks:
            s.close()
        servers.stop_proc("chat-httpd-abuse-head")


def test_concurrent_logins_do_not_starve_other_requests(servers):
    """argon2id runs in the request threads; with two threads and a hash of a few seconds,
    four concurrent logins would occupy both. At most httpd_threads - 1 hash at
    once (the others get 503 server_busy with Retry-After), so GET /api/auth/me is
    answered while the logins run. (Which logins find the slot taken depends on how MHD
    spreads the connections over its threads, so the test does not count them.)"""
    start_httpd(servers, "chat-httpd-abuse-hash", httpd_threads=2,
                password_memlimit_kib=163840, password_opslimit=64)
    base = "http://127.0.0.1:%d" % PORT
    try:
        username, password = unique_name("slowpw"), "pw-" + os.urandom(8).hex()
        r = requests.post(base + "/api/auth/register",
                          json={"username": username, "password": password}, timeout=60)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        start = threading.Barrier(5)

        def one_login():
            start.wait()
            return requests.post(base + "/api/auth/login",
                                 json={"username": username, "password": password},
                                 timeout=120)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            logins = [pool.submit(one_login) for _ in range(4)]
            start.wait()
            # Let the logins reach the server first, so the request below arrives while
            # a thread is hashing. The bound under test is the client timeout, shorter
            # than one hash: without the gate both threads would be hashing now.
            time.sleep(0.5)
            me = requests.get(base + "/api/auth/me",
                              headers={"Authorization": "Bearer " + token}, timeout=2)
            assert me.status_code == 200, me.text
            results = [f.result() for f in logins]
        # Each login either started a session or found every hashing slot taken.
        for r in results:
            if r.status_code != 200:
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "server_busy", r.text
                assert r.headers["Retry-After"] == "1"
    finally:
        servers.stop_proc("chat-httpd-abuse-hash")
