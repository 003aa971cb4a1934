"""What passes through the web server front ends (nginx, lighttpd, and Apache with
chat-api's own socket, under mod_fcgid and as CGI, as configured in etc/):
the WebSocket upgrade on /ws/ and /ws/chat/<pk>/ with the Origin check still applied
behind the proxy, a live message posted through the same front end, Server-Sent Events
that arrive one by one while the stream stays open, long-poll, and uploads up to the
limit."""

import http.client
import json
import re
import socket
import ssl
import threading

import pytest
import requests
import websockets

from conftest import FRONT_ENDS
from helpers import auth_headers, port_open, unix_socket_open
from test_push import Client, create_conv, is_msg, run, send
from test_push_realtime import sse_events, sse_lines

TIMEOUT = 15


# Every web server front end of conftest.FRONT_ENDS (not chat-httpd, which has no
# proxying of its own): nginx, lighttpd, and Apache with each way of running chat-api.
FRONTS = [name for name in FRONT_ENDS if name != "httpd"]


def front_url(servers, front):
    return FRONT_ENDS[front](servers)


async def ws_connect(servers, base, path, user, origin):
    tls = base.startswith("https://")
    url = ("wss://" + base[len("https://"):]) if tls else ("ws://" + base[len("http://"):])
    ws = await websockets.connect(url + path,
                                  extra_headers={"Authorization": "Bearer " + user["token"]},
                                  origin=origin, open_timeout=10,
                                  ssl=ssl.create_default_context(cafile=servers.tls_cert)
                                  if tls else None)
    client = Client(ws)
    client.hello = await client.recv()
    assert client.hello["type"] == "hello", client.hello
    return client


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("shape", ["/ws/", "/ws/chat/<pk>/"])
def test_websocket_through_the_front_end(servers, make_user, front, shape):
    base = front_url(servers, front)
    a, b = make_user("fa"), make_user("fb")
    conv = create_conv(base, a, [b])
    path = shape.replace("<pk>", str(conv))

    async def scenario():
        c = await ws_connect(servers, base, path, b, origin=base)
        m = send(base, a, conv, "through %s" % front)
        got = await c.wait_for(is_msg(conv), what="message.created")
        assert got["data"]["id"] == m["id"] and got["data"]["text"] == "through %s" % front
        await c.close()
        # The Origin check holds behind the proxy: the daemon sees the browser's Origin.
        with pytest.raises(websockets.InvalidStatusCode) as info:
            await ws_connect(servers, base, path, b, origin="http://evil.example")
        assert info.value.status_code == 403
    run(scenario())


@pytest.mark.parametrize("front", FRONTS)
def test_sse_is_not_buffered_by_the_front_end(servers, make_user, front):
    base = front_url(servers, front)
    a, b = make_user("sa"), make_user("sb")
    conv = create_conv(base, a, [b])
    with requests.get(base + "/events/stream/", headers=auth_headers(b), stream=True,
                      timeout=TIMEOUT) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = sse_lines(r)
        assert sse_events(lines, 1)[0]["data"]["type"] == "hello"
        # Each event must come out while the stream stays open, one at a time (a
        # proxy or filter that held the response, such as a compressing one, would
        # make these reads time out).
        for i in range(3):
            m = send(base, a, conv, "sse %d via %s" % (i, front))
            ev = sse_events(lines, 1, lambda e: e["data"]["type"] == "message.created")[0]
            assert ev["data"]["data"]["id"] == m["id"]


@pytest.mark.parametrize("front", FRONTS)
def test_long_poll_through_the_front_end(servers, make_user, front):
    base = front_url(servers, front)
    a, b = make_user("pa"), make_user("pb")
    conv = create_conv(base, a, [b])
    url = base + "/events/poll/"
    start = requests.get(url, params={"timeout": 0}, headers=auth_headers(b), timeout=TIMEOUT)
    assert start.status_code == 200 and start.json()["events"] == []
    result = {}

    def poll():
        result["r"] = requests.get(url, params={"last_event_id": start.json()["last_event_id"],
                                                "timeout": 20},
                                   headers=auth_headers(b), timeout=60)
    t = threading.Thread(target=poll)
    t.start()
    m = send(base, a, conv, "long-poll via %s" % front)
    t.join()
    assert result["r"].status_code == 200
    msgs = [e for e in result["r"].json()["events"] if e["type"] == "message.created"]
    assert [e["data"]["id"] for e in msgs] == [m["id"]]


@pytest.mark.parametrize("front", FRONTS)
def test_uploads_up_to_the_limit_pass_the_front_end(servers, make_user, front):
    """The front end's own body limit stays above attachment_max_bytes, so an upload of
    exactly the limit is stored and one byte more gets the application's JSON 413 (not
    the web server's HTML one). The download comes back whole through the same front."""
    base = front_url(servers, front)
    user = make_user("up")
    limit = 8 * 1024 * 1024  # attachment_max_bytes in the test config (conftest.py)
    headers = dict(auth_headers(user), **{"Content-Type": "application/octet-stream"})
    data = bytes(range(256)) * (limit // 256)
    r = requests.post(base + "/api/chat/attachments/", params={"filename": "big.bin"},
                      data=data, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == limit
    got = requests.get(base + r.json()["url"], headers=auth_headers(user), timeout=60)
    assert got.status_code == 200 and got.content == data
    r = requests.post(base + "/api/chat/attachments/", params={"filename": "big.bin"},
                      data=data + b"x", headers=headers, timeout=60)
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["code"] == "payload_too_large"


def test_chat_api_under_spawn_fcgi(servers, make_user):
    """spawn-fcgi hands chat-api a listening socket on fd 0 (the way lighttpd's bin-path
    and mod_fcgid do): chat-api serves it in that one process, with no workers of its
    own, and answers exactly as in its other modes."""
    d = servers.var_dir / "spawn-fcgi"
    for sub in ("run", "log", "nginx/tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    sock = str(d / "run" / "chat-api.sock")
    # -n: spawn-fcgi opens the socket and then becomes chat-api (exec), so the harness
    # stops chat-api itself.
    proc = servers.spawn("chat-api-spawn-fcgi",
                         ["spawn-fcgi", "-n", "-s", sock, "-M", "0600", "--",
                          str(servers.bin_dir / "chat-api")],
                         ready=lambda: unix_socket_open(sock))
    port = servers.extra_port
    servers.spawn("nginx-spawn-fcgi", servers.nginx_config(d, sock, port),
                  ready=lambda: port_open("127.0.0.1", port))
    try:
        base = "http://127.0.0.1:%d" % port
        r = requests.get(base + "/api/auth/me", timeout=TIMEOUT)
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
        user = make_user("sf")
        r = requests.get(base + "/api/auth/me", headers=auth_headers(user), timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["id"] == user["id"]
        r = requests.post(base + "/api/chat/conversations/", data="{", timeout=TIMEOUT,
                          headers=dict(auth_headers(user), **{"Content-Type": "application/json"}))
        assert r.status_code == 400 and r.json()["code"] == "parse_error"
        # One process: the program spawn-fcgi exec'ed is chat-api, and it forked nothing.
        pid = proc.popen.pid
        assert open("/proc/%d/comm" % pid).read().strip() == "chat-api"
        children = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
        assert children == []
        log = servers.log_path("chat-api-spawn-fcgi").read_text()
        assert "FastCGI on the socket passed on fd 0" in log
    finally:
        servers.stop_proc("nginx-spawn-fcgi")
        servers.stop_proc("chat-api-spawn-fcgi")


@pytest.mark.parametrize("front", ["nginx_tls", "apache_tls"])
def test_production_server_blocks(servers, make_user, front):
    """etc/nginx/chat.conf and etc/apache/chat.conf as deployed: HTTPS with HTTP/2
    offered by ALPN, session cookies marked Secure (cookie_secure = true), the page
    pointing its WebSocket at its own origin's /ws/, and the plain-HTTP server sending
    everything to HTTPS."""
    base = FRONT_ENDS[front](servers)
    port = int(base.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=servers.tls_cert)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    user = make_user("tls")
    r = requests.post(base + "/api/auth/login", timeout=TIMEOUT,
                      json={"username": user["username"], "password": user["password"]})
    assert r.status_code == 200
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert len(cookies) == 2 and all("; Secure" in c for c in cookies), cookies
    page = requests.get(base + "/chat/", cookies=r.cookies, timeout=TIMEOUT)
    assert page.status_code == 200
    boot = re.search(r'<script type="application/json" id="bootstrap">(.*?)</script>',
                     page.text, re.S)
    assert json.loads(boot.group(1))["ws_url"] == "/ws/"
    redirect = {"nginx_tls": (servers.nginx_redirect_url, "https://127.0.0.1/chat/?x=1"),
                "apache_tls": (servers.apache_redirect_url,
                               "https://chat.example.org/chat/?x=1")}[front]
    # http.client, not requests: the redirect server is not the API that openapi_check
    # holds every requests response to.
    conn = http.client.HTTPConnection("127.0.0.1", int(redirect[0].rsplit(":", 1)[1]),
                                      timeout=TIMEOUT)
    try:
        conn.request("GET", "/chat/?x=1")
        r = conn.getresponse()
        assert r.status == 301 and r.getheader("Location") == redirect[1]
    finally:
        conn.close()
