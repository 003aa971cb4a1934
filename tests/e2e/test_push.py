"""End-to-end tests of chat-push, the WebSocket push daemon (docs/protocol.md).

They speak WebSocket to the real daemon (python3-websockets 10.4, asyncio API), write
through the real REST API, and write the event log directly with pymysql where a test
needs control over commit order (held-open transactions, concurrent writers).
"""

import asyncio
import json
import socket
import statistics
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
import websockets

from helpers import auth_headers

RECV_TIMEOUT = 8  # seconds; the daemon polls every 500 ms even without a wake-up
QUIET = 1.5  # seconds to wait when asserting that nothing arrives


def run(coro):
    return asyncio.run(coro)


# ---- REST helpers ---------------------------------------------------------------------


def create_conv(api_url, owner, others, is_group=False):
    body = {"participant_ids": [o["id"] for o in others], "is_group": is_group}
    r = requests.post(api_url + "/api/chat/conversations/", json=body,
                      headers=auth_headers(owner), timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def send(api_url, user, conv_id, text):
    r = requests.post("%s/api/chat/conversations/%s/messages/" % (api_url, conv_id),
                      json={"text": text, "client_msg_id": uuid.uuid4().hex},
                      headers=auth_headers(user), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def max_event_id(servers):
    return servers.db("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]


# ---- WebSocket helpers ----------------------------------------------------------------


def ws_base(servers):
    """ws://host:port of the daemon."""
    parts = urlsplit(servers.ws_url)
    return "ws://%s" % parts.netloc


class Client:
    """One WebSocket connection that decodes frames and keeps the ones a wait skipped."""

    def __init__(self, ws):
        self.ws = ws
        self.seen = []

    async def recv(self, timeout=RECV_TIMEOUT):
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(frame)
        return frame

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def wait_for(self, pred, timeout=RECV_TIMEOUT, what="frame"):
        """Receives until pred(frame) is true and returns that frame."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %ss; got %r" % (what, timeout, self.seen[-10:]))
            try:
                frame = await self.recv(left)
            except asyncio.TimeoutError:
                continue
            if pred(frame):
                return frame

    async def events(self, pred, count, timeout=RECV_TIMEOUT, what="events"):
        """Receives until `count` frames matching pred have arrived; returns them."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d of %d %s within %ss" % (len(got), count, what, timeout))
            try:
                frame = await self.recv(left)
            except asyncio.TimeoutError:
                continue
            if pred(frame):
                got.append(frame)
        return got

    async def barrier(self):
        """A ping/pong round trip: every frame queued before it has been received."""
        await self.send({"type": "ping"})
        await self.wait_for(lambda f: f["type"] == "pong", what="pong")

    async def closed(self, timeout=RECV_TIMEOUT):
        """Waits for the close; returns (code, reason) and the frames received before."""
        try:
            while True:
                await self.recv(timeout)
        except websockets.ConnectionClosed as e:
            return e.code, e.reason

    async def close(self):
        await self.ws.close()


async def connect(servers, user=None, path="/ws/", query="", how="bearer", hello=True,
                  origin=None, **kw):
    """Opens a connection as user (bearer header, cookie or first frame) and, with
    hello=True, returns once the hello frame arrived (it is client.hello)."""
    headers = dict(kw.pop("extra_headers", {}))
    if user is not None and how == "bearer":
        headers["Authorization"] = "Bearer " + user["token"]
    elif user is not None and how == "cookie":
        headers["Cookie"] = "theme=dark; chat_session=%s; other=1" % user["token"]
    ws = await websockets.connect(ws_base(servers) + path + query, extra_headers=headers,
                                  origin=origin, open_timeout=10, max_size=2 ** 24, **kw)
    client = Client(ws)
    if user is not None and how == "frame":
        await client.send({"type": "auth", "token": user["token"]})
    if hello:
        client.hello = await client.recv()
        assert client.hello["type"] == "hello", client.hello
    return client


def is_msg(conv_id):
    return lambda f: f["type"] == "message.created" and f["conversation_id"] == conv_id


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture
def pair(servers, make_user):
    """Two users sharing a direct conversation: (a, b, conversation id)."""
    a, b = make_user("pa"), make_user("pb")
    return a, b, create_conv(servers.httpd_url, a, [b])


# ---- handshake and authentication -----------------------------------------------------


def test_hello_contents(servers, pair):
    a, b, conv = pair

    async def scenario():
        before = max_event_id(servers)
        c = await connect(servers, b)
        assert set(c.hello) == {"type", "user", "last_event_id"}
        assert c.hello["user"] == {"id": b["id"], "username": b["username"],
                                   "display_name": b["display_name"], "avatar_url": None,
                                   "deleted": False, "is_bot": False}
        assert isinstance(c.hello["last_event_id"], int)
        assert c.hello["last_event_id"] >= before
        assert c.hello["last_event_id"] <= max_event_id(servers)
        await c.close()

    run(scenario())


@pytest.mark.parametrize("how", ["bearer", "cookie", "frame"])
def test_auth_methods_receive_events(servers, pair, how):
    a, b, conv = pair

    async def scenario():
        c = await connect(servers, b, how=how)
        assert c.hello["user"]["id"] == b["id"]
        msg = send(servers.httpd_url, a, conv, "via " + how)
        f = await c.wait_for(is_msg(conv), what="message.created")
        assert f["data"]["id"] == msg["id"] and f["data"]["text"] == "via " + how
        await c.close()

    run(scenario())


@pytest.mark.parametrize("how", ["bearer", "cookie", "frame"])
def test_bad_token_closes_4401(servers, how):
    async def scenario():
        c = await connect(servers, {"token": "not-a-real-token"}, how=how, hello=False)
        err = await c.recv()
        assert err["type"] == "error" and err["code"] == "not_authenticated", err
        code, _ = await c.closed()
        assert code == 4401

    run(scenario())


def test_no_credentials_closes_4401_after_10s(servers):
    async def scenario():
        c = await connect(servers, None, hello=False)
        await c.barrier()  # ping works before authentication
        t0 = time.monotonic()
        err = await c.recv(timeout=15)
        assert err["type"] == "error" and err["code"] == "not_authenticated", err
        assert 9 <= time.monotonic() - t0 <= 12
        assert (await c.closed())[0] == 4401

    run(scenario())


def test_logged_out_token_closes_4401(servers, make_user):
    u = make_user("out")
    r = requests.post(servers.httpd_url + "/api/auth/logout", headers=auth_headers(u), timeout=30)
    if r.status_code not in (200, 204):
        pytest.skip("logout returned %s" % r.status_code)

    async def scenario():
        c = await connect(servers, u, hello=False)
        assert (await c.recv())["code"] == "not_authenticated"
        assert (await c.closed())[0] == 4401

    run(scenario())


def _raw_upgrade(servers, path, origin=None):
    """Sends a WebSocket upgrade by hand; returns the HTTP status line."""
    parts = urlsplit(servers.ws_url)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           % (path, parts.netloc))
    if origin:
        req += "Origin: %s\r\n" % origin
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall((req + "\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_origin_check(servers, make_user):
    u = make_user("org")
    assert " 403 " in _raw_upgrade(servers, "/ws/", origin="http://evil.example") + " "
    assert " 403 " in _raw_upgrade(servers, "/ws/", origin=servers.ws_origin + ".evil") + " "
    assert " 101 " in _raw_upgrade(servers, "/ws/", origin=servers.ws_origin) + " "
    assert " 101 " in _raw_upgrade(servers, "/ws/") + " "  # no Origin: non-browser client

    async def scenario():
        c = await connect(servers, u, origin=servers.ws_origin)
        assert c.hello["user"]["id"] == u["id"]
        await c.close()
        with pytest.raises((websockets.InvalidStatusCode, websockets.InvalidMessage,
                            websockets.InvalidHandshake)):
            await connect(servers, u, origin="http://evil.example")

    run(scenario())


def test_unknown_paths_404(servers):
    for path in ("/", "/ws", "/ws/chat/", "/ws/chat/abc/", "/ws/chat/0/", "/ws/chat/5",
                 "/wsx/", "/ws/chat/5/extra/"):
        assert " 404 " in _raw_upgrade(servers, path) + " ", path
    r = requests.get(servers.push_url + "/ws/", timeout=10)
    assert r.status_code == 404
    r = requests.get(servers.push_url + "/anything", timeout=10)
    assert r.status_code == 404


# ---- client frames --------------------------------------------------------------------


def test_ping_pong(servers, make_user):
    async def scenario():
        c = await connect(servers, make_user("png"))
        for _ in range(3):
            await c.send({"type": "ping"})
            assert await c.recv() == {"type": "pong"}
        await c.close()

    run(scenario())


def test_bad_frames_get_error_and_keep_connection(servers, make_user):
    async def scenario():
        c = await connect(servers, make_user("bad"))
        for bad in ("not json", "[1,2]", '{"type": 5}', '{"type":"subscribe"}', '{"no":"type"}',
                    '{"type":"resume","last_event_id":"x"}', '{"type":"resume"}'):
            await c.send(bad)
            err = await c.recv()
            assert err["type"] == "error" and err["code"] == "bad_frame", (bad, err)
            assert isinstance(err["detail"], str) and err["detail"]
        await c.ws.send(b"\x00binary")
        assert (await c.recv())["code"] == "bad_frame"
        await c.barrier()  # still open and serving
        await c.close()

    run(scenario())


def test_oversized_frame_closes_1009(servers, make_user):
    async def scenario():
        c = await connect(servers, make_user("big"))
        # push_max_frame_bytes defaults to 64 KiB
        await c.send('{"type":"ping","pad":"%s"}' % ("x" * 70000))
        code, _ = await c.closed()
        assert code == 1009

    run(scenario())


def test_frame_just_under_limit_is_accepted(servers, make_user):
    async def scenario():
        c = await connect(servers, make_user("lim"))
        frame = '{"type":"ping","pad":"%s"}' % ("x" * 60000)
        await c.send(frame)
        assert await c.recv() == {"type": "pong"}  # unknown fields are ignored
        await c.close()

    run(scenario())


# ---- delivery and membership ----------------------------------------------------------


def test_live_delivery_latency(servers, api_url, pair):
    a, b, conv = pair
    n = 50

    async def scenario():
        c = await connect(servers, b)
        loop = asyncio.get_running_loop()
        latencies = []
        for i in range(n):
            t0 = time.perf_counter()
            msg = await loop.run_in_executor(None, send, api_url, a, conv, "lat %d" % i)
            f = await c.wait_for(is_msg(conv), what="message %d" % i)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert f["data"]["id"] == msg["id"]
            assert f["data"]["text"] == "lat %d" % i
            assert isinstance(f["event_id"], int) and f["event_id"] > c.hello["last_event_id"]
        await c.close()
        latencies.sort()
        print("\nPOST->WebSocket latency via %s over %d messages: p50 %.1f ms, p90 %.1f ms, "
              "max %.1f ms" % (api_url, n, statistics.median(latencies),
                               latencies[int(n * 0.9) - 1], latencies[-1]))

    run(scenario())


def test_sender_also_receives_and_frame_shape(servers, pair):
    a, b, conv = pair

    async def scenario():
        ca = await connect(servers, a)
        msg = send(servers.httpd_url, a, conv, "shape")
        f = await ca.wait_for(is_msg(conv))
        assert set(f) == {"type", "event_id", "conversation_id", "data"}
        assert f["data"] == msg
        row = servers.db("SELECT conversation_id, type FROM events WHERE id = %s", (f["event_id"],))
        assert row == ((conv, "message.created"),)
        await ca.close()

    run(scenario())


def test_outsider_gets_4404_on_conversation_url(servers, pair, make_user):
    a, b, conv = pair
    outsider = make_user("out")

    async def scenario():
        c = await connect(servers, outsider, path="/ws/chat/%d/" % conv, hello=False)
        err = await c.recv()
        assert err == {"type": "error", "code": "not_found", "detail": "Conversation not found."}
        assert (await c.closed())[0] == 4404
        # A conversation that does not exist at all looks the same.
        c = await connect(servers, outsider, path="/ws/chat/999999999/", hello=False)
        assert (await c.recv())["code"] == "not_found"
        assert (await c.closed())[0] == 4404

    run(scenario())


def test_outsider_on_all_url_never_sees_other_conversations(servers, pair, make_user):
    a, b, conv = pair
    outsider = make_user("spy")

    async def scenario():
        spy = await connect(servers, outsider)
        cb = await connect(servers, b)
        for i in range(5):
            send(servers.httpd_url, a, conv, "secret %d" % i)
        await cb.events(is_msg(conv), 5)
        await asyncio.sleep(0.2)
        await spy.barrier()
        assert [f["type"] for f in spy.seen] == ["hello", "pong"], spy.seen
        await spy.close()
        await cb.close()

    run(scenario())


def test_new_conversation_is_delivered(servers, make_user):
    a, b = make_user("na"), make_user("nb")

    async def scenario():
        cb = await connect(servers, b)
        conv = create_conv(servers.httpd_url, a, [b])
        created = await cb.wait_for(lambda f: f["type"] == "conversation.created",
                                    what="conversation.created")
        assert created["conversation_id"] == conv
        assert created["data"]["id"] == conv
        assert {p["id"] for p in created["data"]["participants"]} == {a["id"], b["id"]}
        m = send(servers.httpd_url, a, conv, "first words")
        f = await cb.wait_for(is_msg(conv))
        assert f["data"]["id"] == m["id"]
        await cb.close()

    run(scenario())


def _insert_event(cur, conv, type_, payload):
    cur.execute("INSERT INTO events (conversation_id, type, payload) VALUES (%s, %s, %s)",
                (conv, type_, json.dumps(payload)))
    return cur.lastrowid


def test_participant_added_and_removed(servers, pair, make_user):
    """participant.added subscribes the user's open connections; participant.removed is
    delivered to the removed user too, and then nothing more of that conversation."""
    a, b, conv = pair
    c = make_user("pc")

    async def scenario():
        cc = await connect(servers, c)
        cb = await connect(servers, b)
        db = servers.db_connect(autocommit=True)
        try:
            cur = db.cursor()
            cur.execute("INSERT INTO participants (conversation_id, user_id) VALUES (%s, %s)",
                        (conv, c["id"]))
            added = _insert_event(cur, conv, "participant.added",
                                  {"conversation_id": conv, "user_id": c["id"]})
            f = await cc.wait_for(lambda f: f["type"] == "participant.added")
            assert f["event_id"] == added and f["data"]["user_id"] == c["id"]
            m = send(servers.httpd_url, a, conv, "welcome")
            f = await cc.wait_for(is_msg(conv))
            assert f["data"]["id"] == m["id"]

            cur.execute("DELETE FROM participants WHERE conversation_id = %s AND user_id = %s",
                        (conv, c["id"]))
            removed = _insert_event(cur, conv, "participant.removed",
                                    {"conversation_id": conv, "user_id": c["id"]})
            f = await cc.wait_for(lambda f: f["type"] == "participant.removed")
            assert f["event_id"] == removed
            m = send(servers.httpd_url, a, conv, "after removal")
            await cb.wait_for(lambda f: f["type"] == "message.created" and f["data"]["id"] == m["id"])
            await cc.barrier()
            assert not [f for f in cc.seen if f.get("event_id", 0) > removed], cc.seen
        finally:
            db.close()
        await cc.close()
        await cb.close()

    run(scenario())


# ---- resume ---------------------------------------------------------------------------


async def _resume_scenario(servers, a, b, conv, via_query):
    first = await connect(servers, b)
    last = first.hello["last_event_id"]
    await first.close()
    missed = [send(servers.httpd_url, a, conv, "missed %d" % i)["id"] for i in range(3)]
    if via_query:
        c = await connect(servers, b, query="?last_event_id=%d" % last)
    else:
        c = await connect(servers, b)
        await c.send({"type": "resume", "last_event_id": last})
    if via_query:
        # The backlog comes right after hello, before anything live: exactly in order.
        backlog = await c.events(is_msg(conv), 3, what="resumed messages")
    else:
        # A resume frame arrives after hello, so the daemon's tail may already have sent
        # some of the missed events live (docs/protocol.md, Resume): the backlog then
        # repeats them. Clients de-duplicate by event_id; the backlog itself is in order.
        seen = []
        while not set(missed) <= {f["data"]["id"] for f in seen}:
            seen += await c.events(is_msg(conv), 1, what="resumed messages")
        first_replayed = [f["data"]["id"] for f in seen].index(missed[0])
        early = seen[:first_replayed]  # delivered live before the resume ran
        assert {f["data"]["id"] for f in early} <= set(missed)
        backlog = seen[first_replayed:]
        for f in early:  # their replayed copies follow the backlog's first ones
            if f["data"]["id"] not in [g["data"]["id"] for g in backlog]:
                backlog += await c.events(is_msg(conv), 1, what="replayed copy")
    assert [f["data"]["id"] for f in backlog] == missed
    ids = [f["event_id"] for f in backlog]
    assert ids == sorted(ids) and ids[0] > last
    live = send(servers.httpd_url, a, conv, "live after resume")
    # Replayed copies may still be in flight ahead of it (frame variant).
    f = await c.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] not in missed)
    assert f["data"]["id"] == live["id"]
    # At-least-once: anything else that arrived is a duplicate of an event id <= last or
    # an event of another conversation; never an unknown message of this conversation.
    msgs = [f["data"]["id"] for f in c.seen if is_msg(conv)(f)]
    assert set(msgs) <= set(missed) | {live["id"]} | _ids_before(servers, conv, last)
    await c.close()


def _ids_before(servers, conv, last):
    rows = servers.db("SELECT payload FROM events WHERE conversation_id = %s AND id <= %s "
                      "AND type = 'message.created'", (conv, last))
    return {json.loads(r[0])["id"] for r in rows}


def test_resume_with_frame(servers, pair):
    a, b, conv = pair
    run(_resume_scenario(servers, a, b, conv, via_query=False))


def test_resume_with_query_parameter(servers, pair):
    a, b, conv = pair
    run(_resume_scenario(servers, a, b, conv, via_query=True))


@pytest.mark.parametrize("resume", [False, True], ids=["live", "resume"])
def test_conversation_url_receives_only_that_conversation(servers, pair, make_user, resume):
    """/ws/chat/<pk>/ gets that conversation's events only, live and on resume."""
    a, b, conv = pair
    c3 = make_user("c3")
    other = create_conv(servers.httpd_url, b, [c3])

    async def scenario():
        path = "/ws/chat/%d/" % conv
        if resume:
            first = await connect(servers, b)
            last = first.hello["last_event_id"]
            await first.close()
        else:
            cb = await connect(servers, b, path=path)
        send(servers.httpd_url, c3, other, "other conversation")
        m = send(servers.httpd_url, a, conv, "this conversation")
        if resume:
            cb = await connect(servers, b, path=path, query="?last_event_id=%d" % last)
        f = await cb.wait_for(lambda f: f["type"] == "message.created")
        assert f["conversation_id"] == conv and f["data"]["id"] == m["id"]
        await cb.barrier()
        assert all(f.get("conversation_id") in (None, conv) for f in cb.seen)
        await cb.close()

    run(scenario())


def test_resync_required_when_too_old(servers, pair):
    a, b, conv = pair
    send(servers.httpd_url, a, conv, "make sure there are events")
    lowest = servers.db("SELECT MIN(id) FROM events")[0][0]
    # Retention removed the two oldest events: resuming from `lowest` would miss one.
    servers.db("DELETE FROM events WHERE id <= %s", (lowest + 1,))

    async def scenario():
        c = await connect(servers, b)
        await c.send({"type": "resume", "last_event_id": lowest})
        # The setup message may still arrive live first (the tail can lag the connect);
        # what matters is that no backlog is replayed and resync_required comes.
        f = await c.wait_for(lambda f: f["type"] == "resync_required")
        assert f == {"type": "resync_required"}
        assert not [g for g in c.seen if is_msg(conv)(g) and g["event_id"] <= lowest + 1]
        m = send(servers.httpd_url, a, conv, "live after resync")
        f = await c.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == m["id"])
        assert f["data"]["text"] == "live after resync"
        await c.close()

    run(scenario())


# ---- the event log's ordering hazards --------------------------------------------------


def test_out_of_order_commit_direct(servers, pair):
    """Transaction 1 inserts id N and stays open; id N+1 commits first and is delivered;
    when transaction 1 commits, id N is delivered too (gap tracking)."""
    a, b, conv = pair

    async def scenario():
        cb = await connect(servers, b)
        held = servers.db_connect()
        try:
            hcur = held.cursor()
            held.begin()
            first = _insert_event(hcur, conv, "test.held", {"n": "held"})
            db2 = servers.db_connect(autocommit=True)
            try:
                second = _insert_event(db2.cursor(), conv, "test.quick", {"n": "quick"})
            finally:
                db2.close()
            assert second > first
            f = await cb.wait_for(lambda f: f["type"] == "test.quick")
            assert f["event_id"] == second
            await asyncio.sleep(1.2)  # a few tail rounds see `second` while `first` is open
            held.commit()
        finally:
            held.close()
        f = await cb.wait_for(lambda f: f["type"] == "test.held", what="late-committed event")
        assert f["event_id"] == first and f["data"] == {"n": "held"}
        await cb.close()

    run(scenario())


async def _held_behind_a_message(servers, client, conv_x, sender, conv_y, before_commit):
    """A held-open transaction in conv_x takes event id N; sender's message in conv_y
    (id > N) commits first and reaches client. Then `await before_commit(frame)` runs (the
    message's frame), and the transaction commits. Returns N."""
    held = servers.db_connect()
    try:
        hcur = held.cursor()
        held.begin()
        hcur.execute("SELECT id FROM conversations WHERE id = %s FOR UPDATE", (conv_x,))
        first = _insert_event(hcur, conv_x, "test.held", {"n": "x"})
        m = send(servers.httpd_url, sender, conv_y, "committed first")
        f = await client.wait_for(is_msg(conv_y))
        assert f["data"]["id"] == m["id"] and f["event_id"] > first
        await before_commit(f)
        held.commit()
    finally:
        held.close()
    return first


def test_out_of_order_commit_with_api(servers, pair, make_user):
    """A held-open transaction in conversation X takes id N; the API then commits a
    message in conversation Y (id > N). Both reach the user of both conversations."""
    a, b, conv_x = pair
    c3 = make_user("oy")
    conv_y = create_conv(servers.httpd_url, c3, [b])

    async def scenario():
        cb = await connect(servers, b)
        first = await _held_behind_a_message(servers, cb, conv_x, c3, conv_y,
                                             lambda f: asyncio.sleep(1.2))
        f = await cb.wait_for(lambda f: f["type"] == "test.held", what="late-committed event")
        assert f["event_id"] == first and f["conversation_id"] == conv_x
        await cb.close()

    run(scenario())


def test_resume_carries_an_event_below_the_position_that_committed_while_away(servers, pair,
                                                                              make_user):
    """A held-open transaction in X takes id N; a message in Y (id > N) reaches the
    client, whose position is then past N; it disconnects, the transaction commits, and
    the resume from that position carries event N: an event at or below the position,
    created inside the gap window (the second half of SQL_BACKLOG), once. (The window
    also replays what the client had, such as Y's message: at least once.)"""
    a, b, conv_x = pair
    c3 = make_user("ow")
    conv_y = create_conv(servers.httpd_url, c3, [b])

    async def scenario():
        cb = await connect(servers, b)
        position = {}

        async def leave(frame):
            position["at"] = frame["event_id"]
            await cb.close()
        first = await _held_behind_a_message(servers, cb, conv_x, c3, conv_y, leave)
        again = await connect(servers, b, query="?last_event_id=%d" % position["at"])
        f = await again.wait_for(lambda f: f["type"] == "test.held",
                                 what="event below the position")
        assert f["event_id"] == first and f["conversation_id"] == conv_x
        await again.barrier()
        assert [g["event_id"] for g in again.seen if g["type"] == "test.held"] == [first]
        await again.close()

    run(scenario())


def test_burst_from_concurrent_writers_loses_nothing(servers, make_user):
    """Four API writers in four conversations plus three direct writers inserting events
    concurrently: every single event reaches the user who is in all of them."""
    b = make_user("burst")
    writers = [make_user("w%d" % i) for i in range(4)]
    convs = [create_conv(servers.httpd_url, w, [b]) for w in writers]
    per_api_writer, per_db_writer = 25, 150

    async def scenario():
        cb = await connect(servers, b)
        errors = []
        sent_msgs = []
        db_ids = []
        lock = threading.Lock()

        def api_writer(w, conv):
            try:
                for i in range(per_api_writer):
                    m = send(servers.httpd_url, w, conv, "burst %d" % i)
                    with lock:
                        sent_msgs.append(m["id"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def db_writer(k):
            db = servers.db_connect(autocommit=True)
            try:
                cur = db.cursor()
                for i in range(per_db_writer):
                    eid = _insert_event(cur, convs[k % len(convs)], "test.burst", {"k": k, "i": i})
                    with lock:
                        db_ids.append(eid)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                db.close()

        threads = [threading.Thread(target=api_writer, args=(w, c)) for w, c in zip(writers, convs)]
        threads += [threading.Thread(target=db_writer, args=(k,)) for k in range(3)]
        loop = asyncio.get_running_loop()
        for t in threads:
            t.start()
        total = per_api_writer * len(writers) + per_db_writer * 3
        got = await cb.events(lambda f: f["type"] in ("message.created", "test.burst"), total,
                              timeout=60, what="burst events")
        await loop.run_in_executor(None, lambda: [t.join() for t in threads])
        assert not errors, errors
        got_msgs = {f["data"]["id"] for f in got if f["type"] == "message.created"}
        got_db = {f["event_id"] for f in got if f["type"] == "test.burst"}
        assert got_msgs == set(sent_msgs)
        assert got_db == set(db_ids)
        assert len(got) == total  # and no duplicates
        await cb.close()

    run(scenario())


def test_slow_client_is_closed_4008_and_can_resume(servers, pair):
    """A client that stops reading is cut off with 4008 once its queue passes
    push_max_queue_bytes (1 MiB); the daemon's memory does not grow with it. The client
    then resumes and gets what it missed."""
    a, b, conv = pair
    payload = {"pad": "x" * 20000}
    count = 800  # 16 MB: more than the queue bound plus the kernel's socket buffers

    async def scenario():
        # max_queue=1 and a small read limit: the client library stops reading the socket
        slow = await connect(servers, b, max_queue=1, read_limit=2 ** 12)
        last = slow.hello["last_event_id"]
        db = servers.db_connect(autocommit=True)
        try:
            cur = db.cursor()
            ids = [_insert_event(cur, conv, "test.bulk", payload) for _ in range(count)]
        finally:
            db.close()
        await asyncio.sleep(3)  # let the daemon tail, queue and give up on the client
        got = []
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(slow.ws.recv(), RECV_TIMEOUT))
                if frame["type"] == "test.bulk":
                    got.append(frame["event_id"])
        except websockets.ConnectionClosed as e:
            assert e.code == 4008, e
            assert e.reason == "too slow; resume"
        assert len(got) < count
        assert got == ids[: len(got)]  # what did arrive came in order
        resume_from = got[-1] if got else last
        # Resuming reads the rest (within push_resume_max_events and the queue bound,
        # or resync_required).
        c = await connect(servers, b, query="?last_event_id=%d" % resume_from)
        f = await c.wait_for(lambda f: f["type"] in ("test.bulk", "resync_required"))
        assert f["type"] == "resync_required" or f["event_id"] <= ids[len(got)]
        await c.close()

    try:
        run(scenario())
    finally:
        servers.db("DELETE FROM events WHERE type = 'test.bulk'")


def test_port_in_use_is_a_clear_error_without_leaks(servers):
    """chat-push on a taken port exits non-zero with the reason, before libwebsockets
    allocates anything (a failed lws context leaks, which LeakSanitizer would report into
    the session's sanitizer logs and fail the run)."""
    taken = urlsplit(servers.push_url).port  # the session's own chat-push holds it
    env = dict(servers.env, CHAT_PUSH_PORT=str(taken),
               CHAT_PUSH_WAKE_BIND=str(servers.run_dir / "chat-push-taken.sock"))
    r = subprocess.run([str(servers.bin_dir / "chat-push")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "cannot listen on" in r.stderr and "Address already in use" in r.stderr, r.stderr
    assert "LeakSanitizer" not in r.stderr and "falling back" not in r.stderr, r.stderr
