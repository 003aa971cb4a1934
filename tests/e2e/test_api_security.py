"""Security items tried as an attacker would: X-Forwarded-For from trusted proxies only,
the per-username login bucket, uploads refused before their body is read, the FastCGI
socket's mode and address, the page's exact connect-src, and display names without
control or bidi characters. HTTP tests run through chat-httpd and nginx + chat-api."""

import grp
import http.client
import json
import os
import socket
import stat
import uuid

import pytest
import requests

import conftest
from helpers import auth_headers, port_open, unique_name, unix_socket_open

TIMEOUT = 30
HTTPD_PORT = conftest.PORT_BASE + 40   # the trusting chat-httpd
NGINX_PORT = conftest.PORT_BASE + 41   # nginx in front of the trusting chat-api
FCGI_TCP_PORT = conftest.PORT_BASE + 42
AUTH_BURST = 3
USER_BURST = 20
UPLOAD_BURST = 1


@pytest.fixture(scope="module")
def trusting(servers):
    """{"httpd": url, "nginx": url} of a chat-httpd and an nginx + chat-api that believe
    X-Forwarded-For from 127.0.0.1 (as if the test were a TLS proxy in front of them),
    with small login and upload buckets that do not refill while the tests run."""
    d = servers.var_dir / "trusting"
    for sub in ("run", "log", "nginx/tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    sock = str(d / "run" / "chat-api.sock")
    env = {
        "CHAT_FCGI_SOCKET": sock, "CHAT_HTTP_PORT": str(HTTPD_PORT),
        "CHAT_TRUSTED_PROXIES": "127.0.0.1",
        "CHAT_RATE_AUTH_PER_MINUTE": "1", "CHAT_RATE_AUTH_BURST": str(AUTH_BURST),
        "CHAT_RATE_LOGIN_PER_USER_PER_MINUTE": "1",
        "CHAT_RATE_LOGIN_PER_USER_BURST": str(USER_BURST),
        "CHAT_RATE_UPLOAD_PER_MINUTE": "1", "CHAT_RATE_UPLOAD_BURST": str(UPLOAD_BURST),
    }
    names = []
    try:
        servers.spawn("chat-api-trusting", ["chat-api", "--workers", "2"], env,
                      ready=lambda: unix_socket_open(sock))
        names.append("chat-api-trusting")
        servers.spawn("nginx-trusting", servers.nginx_config(d, sock, NGINX_PORT),
                      ready=lambda: port_open("127.0.0.1", NGINX_PORT))
        names.append("nginx-trusting")
        servers.spawn("chat-httpd-trusting", ["chat-httpd"], env,
                      ready=lambda: port_open("127.0.0.1", HTTPD_PORT))
        names.append("chat-httpd-trusting")
        yield {"httpd": "http://127.0.0.1:%d" % HTTPD_PORT,
               "nginx": "http://127.0.0.1:%d" % NGINX_PORT}
    finally:
        for name in reversed(names):
            servers.stop_proc(name)


@pytest.fixture(params=["httpd", "nginx"])
def trusting_url(request, trusting):
    return trusting[request.param]


def fresh_ip():
    """A documentation-range address no other test uses (TEST-NET-3 and 2001:db8::)."""
    b = uuid.uuid4().bytes
    return "203.0.%d.%d" % (b[0], b[1])


def post_from(url, path, body, source="127.0.0.1", headers=None):
    """POST JSON from the local address `source` (loopback answers on all of 127/8), so
    the server sees that peer. Returns (status, headers dict, parsed body)."""
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT,
                                      source_address=(source, 0))
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", path, body=json.dumps(body), headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data)
    finally:
        conn.close()


def login(url, username, password, xff=None, source="127.0.0.1"):
    return post_from(url, "/api/auth/login", {"username": username, "password": password},
                     source, {"X-Forwarded-For": xff} if xff else None)


def assert_429(status, headers, body):
    assert status == 429, body
    assert body["code"] == "rate_limited" and body["request_id"], body
    assert 1 <= int(headers["retry-after"]) <= 60, headers


# ---- trusted proxies and the login buckets ---------------------------------------------

def test_forwarded_client_from_a_trusted_proxy_has_its_own_bucket(trusting_url, make_user):
    """Behind a trusted proxy every client is its own address: one client's bad logins
    exhaust its bucket only, and a user behind the same proxy still logs in."""
    victim = make_user("xffv")
    attacker = fresh_ip()
    for _ in range(AUTH_BURST):
        status, _, body = login(trusting_url, unique_name("nobody"), "wrong-password", attacker)
        assert status == 401, body
    assert_429(*login(trusting_url, unique_name("nobody"), "wrong-password", attacker))
    status, _, body = login(trusting_url, victim["username"], victim["password"], fresh_ip())
    assert status == 200, body


def test_forwarded_for_from_an_untrusted_peer_is_ignored(trusting_url, make_user):
    """A client that is not a trusted proxy cannot pick its bucket with X-Forwarded-For:
    every forged address lands in its own peer address's bucket."""
    source = "127.0.0.%d" % (3 if "%d" % HTTPD_PORT in trusting_url else 4)
    for _ in range(AUTH_BURST):
        status, _, body = login(trusting_url, unique_name("nobody"), "wrong-password",
                                fresh_ip(), source)
        assert status == 401, body
    assert_429(*login(trusting_url, unique_name("nobody"), "wrong-password", fresh_ip(),
                      source))


def test_forged_entries_left_of_the_proxys_do_not_count(trusting_url):
    """The client's own X-Forwarded-For entries sit left of the one the proxy appended;
    only the right-most untrusted entry is the client."""
    client = fresh_ip()
    for _ in range(AUTH_BURST):
        status, _, body = login(trusting_url, unique_name("nobody"), "wrong-password",
                                "%s, %s" % (fresh_ip(), client))
        assert status == 401, body
    assert_429(*login(trusting_url, unique_name("nobody"), "wrong-password",
                      "%s, %s" % (fresh_ip(), client)))


def test_bad_logins_for_one_account_from_many_addresses_lock_that_account(trusting_url,
                                                                         make_user):
    """Twenty wrong passwords for one username, each from another address, use up that
    username's bucket: the next login for it is a 429 even with the right password,
    while another account logs in from the same address."""
    target, other = make_user("lockv"), make_user("locko")
    for _ in range(USER_BURST):
        status, _, body = login(trusting_url, target["username"], "wrong-password", fresh_ip())
        assert status == 401, body
    ip = fresh_ip()
    # Usernames are unique case-insensitively: the bucket is the account's.
    assert_429(*login(trusting_url, target["username"].upper(), target["password"], ip))
    status, _, body = login(trusting_url, other["username"], other["password"], ip)
    assert status == 200, body


# ---- uploads are admitted before their body ---------------------------------------------

def upload_head_only(url, headers, announced=8 * 1024 * 1024, sent=1024):
    """Sends an upload's head announcing `announced` bytes and only `sent` of them, then
    reads the answer without sending more. Returns (status, body, socket) with the
    socket still open."""
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    head = ["POST /api/chat/attachments/ HTTP/1.1", "Host: %s:%s" % (host, port),
            "Content-Type: multipart/form-data; boundary=xyz",
            "Content-Length: %d" % announced]
    head += ["%s: %s" % kv for kv in headers.items()]
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    s.sendall(b"--xyz\r\n" + b"a" * (sent - 7))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)  # times out (failing the test) if no answer comes
        assert chunk, "connection closed without an answer: %r" % data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                  if ln.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk
        rest += chunk
    status = int(head.split(b" ")[1])
    return status, json.loads(rest[:length]), s


def spool_files(servers):
    """The names in data_dir/tmp (a previous request's spool may still be going)."""
    tmp = servers.var_dir / "data" / "tmp"
    return set(p.name for p in tmp.iterdir()) if tmp.exists() else set()


def test_anonymous_upload_is_refused_before_its_body(api_url, servers):
    """401 while the client has sent 1 KiB of an announced 8 MiB, and no spool file."""
    before = spool_files(servers)
    status, body, s = upload_head_only(api_url, {})
    try:
        assert status == 401, body
        assert body["code"] == "not_authenticated" and body["request_id"], body
        assert spool_files(servers) - before == set()
    finally:
        s.close()


def test_upload_over_the_rate_limit_is_refused_before_its_body(trusting_url, servers,
                                                               make_user):
    user = make_user("uplim")
    files = {"file": ("a.txt", b"hello", "text/plain")}
    r = requests.post(trusting_url + "/api/chat/attachments/", files=files,
                      headers=auth_headers(user), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    before = spool_files(servers)
    status, body, s = upload_head_only(trusting_url, auth_headers(user))
    try:
        assert status == 429, body
        assert body["code"] == "rate_limited", body
        assert spool_files(servers) - before == set()
    finally:
        s.close()


def test_chunked_upload_is_streamed_whole(api_url, make_user):
    """Without Content-Length nginx streams the chunked body (fastcgi_request_buffering
    off); chat-api reads it to the end of the stream, all of it."""
    user = make_user("chunk")
    data = os.urandom(300 * 1024)

    def chunks():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]
    r = requests.post(api_url + "/api/chat/attachments/", data=chunks(), timeout=TIMEOUT,
                      headers=dict(auth_headers(user), **{"Content-Type": "application/zip"}))
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(data)


# ---- the FastCGI socket --------------------------------------------------------------

def test_fcgi_socket_is_0660_in_its_group(servers):
    st = os.stat(servers.fcgi_socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == grp.getgrnam("www-data").gr_gid


def test_fcgi_port_alone_binds_loopback_only(servers):
    """fcgi_socket = :PORT listens on 127.0.0.1, not on every interface (FastCGI has no
    authentication): 127.0.0.2, another local address, is refused."""
    servers.spawn("chat-api-tcp", ["chat-api", "--workers", "1"],
                  {"CHAT_FCGI_SOCKET": ":%d" % FCGI_TCP_PORT},
                  ready=lambda: port_open("127.0.0.1", FCGI_TCP_PORT))
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", FCGI_TCP_PORT), timeout=5).close()
    finally:
        servers.stop_proc("chat-api-tcp")


# ---- the page's Content-Security-Policy -------------------------------------------------

def connect_src(csp):
    for directive in csp.split(";"):
        words = directive.split()
        if words and words[0] == "connect-src":
            return words[1:]
    raise AssertionError("no connect-src in " + csp)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_csp_connect_src_is_the_exact_push_origin(api_url, host):
    """push_public_url ':PORT/ws/' is the page's own host on that port: connect-src names
    that origin (WebSocket and the HTTP fallbacks), not every host on the port."""
    port = api_url.rsplit(":", 1)[1]
    r = requests.get(api_url + "/chat/", headers={"Host": "%s:%s" % (host, port)},
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    push = conftest.PUSH_PORT
    assert connect_src(r.headers["Content-Security-Policy"]) == [
        "'self'", "ws://%s:%d" % (host, push), "http://%s:%d" % (host, push)]


# ---- display names ------------------------------------------------------------------

def register(url, display_name):
    return requests.post(url + "/api/auth/register", json={
        "username": unique_name("dn"), "password": "pw-" + os.urandom(8).hex(),
        "display_name": display_name}, timeout=TIMEOUT)


def test_display_name_loses_control_and_bidi_characters(api_url):
    """A right-to-left override would show 'evil\u202egnp.exe' reversed; controls could
    break a log or a terminal. Both are removed before the name is stored."""
    r = register(api_url, "\u202eAl\u0007ice\u200f\u2066 \u0085B\u007fob\u2069\u202a")
    assert r.status_code == 201, r.text
    assert r.json()["user"]["display_name"] == "Alice Bob"
    me = requests.get(api_url + "/api/auth/me",
                      headers={"Authorization": "Bearer " + r.json()["token"]}, timeout=TIMEOUT)
    assert me.json()["display_name"] == "Alice Bob"


def test_display_name_of_only_formatting_characters_is_refused(api_url):
    r = register(api_url, "\u202e\u200f\u0001")
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
