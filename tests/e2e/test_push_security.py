"""End-to-end tests of chat-push's security rules (docs/protocol.md), written as an attacker
would try them: a user who left or was removed reads on, a revoked or expired session
keeps its sockets, a forged wake-up datagram reaches subscribers.

"Nothing arrived" is always proved with a marker: a real event sent after the forbidden
one, on a path that delivers in order, must arrive, and nothing forbidden before it.
"""

import asyncio
import json
import threading
import time

import pytest
import requests

from helpers import auth_headers
from test_push import RECV_TIMEOUT, connect, create_conv, is_msg, run, send

HOST = "127.0.0.1"


# ---- helpers ----------------------------------------------------------------------------


def rest(method, url, user, body=None, expect=(200, 201, 204)):
    r = requests.request(method, url, json=body, headers=auth_headers(user), timeout=30)
    assert r.status_code in expect, "%s %s: %s %s" % (method, url, r.status_code, r.text)
    return r


def leave(api, user, conv):
    rest("DELETE", "%s/api/chat/conversations/%d/" % (api, conv), user, expect=(204,))


def remove(api, owner, conv, user):
    rest("DELETE", "%s/api/chat/conversations/%d/participants/%d/" % (api, conv, user["id"]),
         owner, expect=(204,))


def removal_of(user, conv):
    return lambda f: (f["type"] == "participant.removed" and f["conversation_id"] == conv
                      and f["data"]["user_id"] == user["id"])


class SSE:
    """One /events/stream/ response read record by record."""

    def __init__(self, servers, user, headers=None, params=None):
        h = dict(auth_headers(user), **(headers or {}))
        self.resp = requests.get(servers.push_url + "/events/stream/", headers=h,
                                 params=params, stream=True, timeout=RECV_TIMEOUT + 5)
        assert self.resp.status_code == 200, self.resp.text
        self.lines = self.resp.iter_lines(chunk_size=1, decode_unicode=True)
        self.seen = []

    def next(self):
        """The next record's frame, or None when the stream ended."""
        data = ""
        for raw in self.lines:
            if raw == "" and data:
                frame = json.loads(data)
                self.seen.append(frame)
                return frame
            if raw.startswith("data: "):
                data += raw[6:]
        return None

    def until(self, pred, what="frame"):
        while True:
            f = self.next()
            assert f is not None, "stream ended before %s; got %r" % (what, self.seen[-10:])
            if pred(f):
                return f

    def close(self):
        self.resp.close()


def long_poll(servers, user, last, timeout=5):
    r = requests.get(servers.push_url + "/events/poll/",
                     params={"last_event_id": last, "timeout": timeout},
                     headers=auth_headers(user), timeout=timeout + 30)
    return r


@pytest.fixture
def trio(servers, make_user):
    """Alice owns a group with Bob and Carol; Bob and Carol also share a direct chat
    (the marker conversation). Returns (alice, bob, carol, group, marker_conv)."""
    a, b, c = make_user("sa"), make_user("sb"), make_user("sc")
    group = create_conv(servers.httpd_url, a, [b, c], is_group=True)
    direct = create_conv(servers.httpd_url, c, [b])
    return a, b, c, group, direct


# ---- 1. membership on every read path ---------------------------------------------------


RESUME_WAYS = ["ws_frame", "ws_query", "sse_header", "sse_query", "long_poll"]


@pytest.mark.parametrize("way", RESUME_WAYS)
def test_user_who_left_resumes_and_gets_only_their_removal(servers, trio, way):
    """Bob leaves; Alice posts a secret; Bob resumes from before he left, by every way a
    client can. He gets his own participant.removed and nothing else of the group: not
    the secret, not the message from before he left (the rule: conversations he takes
    part in now). A marker Carol posts to Bob afterwards arrives after the backlog."""
    a, b, c, group, direct = trio
    api = servers.httpd_url

    async def scenario():
        first = await connect(servers, b)
        last = first.hello["last_event_id"]
        await first.close()
        before = send(api, a, group, "before Bob left")
        leave(api, b, group)
        secret = send(api, a, group, "secret after Bob left")
        marker = send(api, c, direct, "marker")
        is_marker = is_msg(direct)

        if way.startswith("ws"):
            if way == "ws_query":
                cb = await connect(servers, b, query="?last_event_id=%d" % last)
            else:
                cb = await connect(servers, b)
                await cb.send({"type": "resume", "last_event_id": last})
                # A resume frame sent after hello may follow the marker arriving live
                # (docs/protocol.md); the backlog comes in id order, so its removal and
                # then its copy of the marker mark its end.
                await cb.wait_for(lambda f: f["type"] == "participant.removed"
                                  and f.get("conversation_id") == group, what="removal")
            await cb.wait_for(lambda f: is_marker(f) and f["data"]["id"] == marker["id"],
                              what="marker")
            await cb.barrier()
            seen = cb.seen
            await cb.close()
        elif way.startswith("sse"):
            if way == "sse_header":
                s = SSE(servers, b, headers={"Last-Event-ID": str(last)})
            else:
                s = SSE(servers, b, params={"last_event_id": last})
            s.until(lambda f: is_marker(f) and f["data"]["id"] == marker["id"], "marker")
            seen = s.seen
            s.close()
        else:
            # Polls follow the cursor until the marker: an answer stops at the daemon's
            # safe position, which an open gap (another test's rolled-back insert) can
            # hold back for up to push_gap_timeout_ms.
            seen, cursor, deadline = [], last, time.monotonic() + 30
            while not any(is_marker(f) and f["data"]["id"] == marker["id"] for f in seen):
                assert time.monotonic() < deadline, seen
                r = long_poll(servers, b, cursor)
                assert r.status_code == 200, r.text
                seen += r.json()["events"]
                cursor = r.json()["last_event_id"]
        of_group = [f for f in seen if f.get("conversation_id") == group]
        assert [f["type"] for f in of_group] == ["participant.removed"], of_group
        assert of_group[0]["data"]["user_id"] == b["id"]
        texts = json.dumps(seen)
        assert secret["text"] not in texts and before["text"] not in texts

    run(scenario())


@pytest.mark.parametrize("how", ["leave", "removed"])
def test_conversation_url_closes_4404_on_own_removal(servers, trio, how):
    """Bob watches /ws/chat/<group>/; when he leaves (or Alice removes him) he gets the
    participant.removed that names him and the connection closes 4404 right after it;
    what Alice posts next never reaches him."""
    a, b, c, group, direct = trio
    api = servers.httpd_url

    async def scenario():
        cb = await connect(servers, b, path="/ws/chat/%d/" % group)
        hello = send(api, a, group, "hello Bob")
        await cb.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == hello["id"])
        if how == "leave":
            leave(api, b, group)
        else:
            remove(api, a, group, b)
        await cb.wait_for(removal_of(b, group), what="participant.removed")
        code, _ = await cb.closed()
        assert code == 4404
        after = [f for f in cb.seen if f["type"] != "participant.removed"]
        assert [f["data"]["id"] for f in after if is_msg(group)(f)] == [hello["id"]]
        # And he cannot come back through the conversation URL, resuming or not.
        for query in ("", "?last_event_id=%d" % cb.hello["last_event_id"]):
            again = await connect(servers, b, path="/ws/chat/%d/" % group, query=query,
                                  hello=False)
            err = await again.recv()
            assert err["type"] == "error" and err["code"] == "not_found", err
            code, _ = await again.closed()
            assert code == 4404

    run(scenario())


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_all_url_stops_delivering_a_conversation_the_user_left(servers, trio, transport):
    """Bob on /ws/ (or SSE) leaves the group: Alice's next message and her typing there
    never reach him; Carol's marker in their direct chat, sent after, does."""
    a, b, c, group, direct = trio
    api = servers.httpd_url

    async def scenario():
        if transport == "ws":
            cb = await connect(servers, b)
        else:
            cb = SSE(servers, b)
            cb.until(lambda f: f["type"] == "hello")
        ca = await connect(servers, a)
        leave(api, b, group)
        if transport == "ws":
            await cb.wait_for(removal_of(b, group), what="participant.removed")
        else:
            cb.until(removal_of(b, group), "participant.removed")
        await ca.wait_for(removal_of(b, group), what="participant.removed (Alice)")
        await ca.send({"type": "typing", "conversation_id": group, "is_typing": True})
        await ca.barrier()
        secret = send(api, a, group, "secret after Bob left")
        marker = send(api, c, direct, "marker")
        done = lambda f: is_msg(direct)(f) and f["data"]["id"] == marker["id"]  # noqa: E731
        if transport == "ws":
            await cb.wait_for(done, what="marker")
        else:
            cb.until(done, "marker")
        removed_at = next(i for i, f in enumerate(cb.seen) if removal_of(b, group)(f))
        later = [f for f in cb.seen[removed_at + 1:] if f.get("conversation_id") == group]
        assert later == [], later
        assert secret["text"] not in json.dumps(cb.seen)
        await ca.close()
        if transport == "ws":
            await cb.close()
        else:
            cb.close()

    run(scenario())


def test_resume_frame_on_conversation_url_after_leaving_replays_nothing(servers, trio):
    """Bob, on /ws/chat/<group>/, leaves and at once asks to resume from before: whichever
    the daemon handles first (his participant.removed or the resume), the connection
    closes 4404 and the secret Alice posted after he left never arrives."""
    a, b, c, group, direct = trio
    api = servers.httpd_url

    async def scenario():
        cb = await connect(servers, b, path="/ws/chat/%d/" % group)
        last = cb.hello["last_event_id"]
        leave(api, b, group)
        secret = send(api, a, group, "secret after Bob left")
        await cb.send({"type": "resume", "last_event_id": last})
        code, _ = await cb.closed()
        assert code == 4404
        assert secret["text"] not in json.dumps(cb.seen), cb.seen
        assert not [f for f in cb.seen if is_msg(group)(f)], cb.seen

    run(scenario())


# ---- 2. revocation reaches open connections -----------------------------------------------


def port(servers, offset):
    return servers.extra_port - 2 + offset  # CHAT_TEST_PORT_BASE + offset


def login(servers, user):
    r = requests.post(servers.httpd_url + "/api/auth/login",
                      json={"username": user["username"], "password": user["password"]},
                      timeout=30)
    assert r.status_code == 200, r.text
    return dict(user, token=r.json()["token"])


def token_hash(token):
    import hashlib
    return hashlib.sha256(token.encode()).digest()


class Poll(threading.Thread):
    """A long-poll waiting in the background; .result is the response."""

    def __init__(self, servers, user, push_url=None, timeout=20):
        super().__init__(daemon=True)
        self.url = (push_url or servers.push_url) + "/events/poll/"
        # From the newest event: nothing older (held back by another test's gap) can
        # answer this poll before the revocation does.
        last = servers.db("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
        self.params = {"last_event_id": last, "timeout": timeout}
        self.headers = auth_headers(user)
        self.result = None
        self.ended_at = None
        self.start()

    def run(self):
        self.result = requests.get(self.url, params=self.params, headers=self.headers,
                                   timeout=90)
        self.ended_at = time.monotonic()


async def sse_ended(s):
    """Reads an SSE stream to its end in a thread; returns (frames after hello, end time)."""
    def read():
        frames = []
        while True:
            f = s.next()
            if f is None:
                return frames, time.monotonic()
            frames.append(f)
    return await asyncio.get_running_loop().run_in_executor(None, read)


async def closed_at(c):
    code, _ = await c.closed(timeout=RECV_TIMEOUT)
    return code, time.monotonic()


async def open_everything(servers, user, conv, ws_urls=None):
    """Every kind of connection as user's session: /ws/ and /ws/chat/<conv>/ on each daemon
    URL, an SSE stream and a waiting long-poll on the harness daemon."""
    clients = []
    for base in ws_urls or [None]:
        for path in ("/ws/", "/ws/chat/%d/" % conv):
            if base is None:
                clients.append(await connect(servers, user, path=path))
            else:
                from test_push_realtime import connect_url
                clients.append(await connect_url(base.replace("/ws/", path), user))
    s = SSE(servers, user)
    s.until(lambda f: f["type"] == "hello")
    poll = Poll(servers, user)
    await asyncio.sleep(0.3)  # the long-poll is waiting at the daemon
    return clients, s, poll


async def assert_all_ended_soon(clients, s, poll, since, within=1.0):
    results = await asyncio.gather(*(closed_at(c) for c in clients))
    for code, at in results:
        assert code == 4401
        assert at - since < within, "closed %.2fs after the revocation" % (at - since)
    frames, at = await sse_ended(s)
    assert at - since < within, "SSE ended %.2fs after the revocation" % (at - since)
    assert frames and frames[-1]["type"] == "error" and frames[-1]["code"] == "not_authenticated"
    poll.join(RECV_TIMEOUT)
    assert poll.result is not None and poll.result.status_code == 401, poll.result
    assert poll.result.json()["code"] == "not_authenticated"
    assert poll.ended_at - since < within, "long-poll ended %.2fs after" % (poll.ended_at - since)


def test_logout_ends_every_socket_stream_and_poll_of_that_session_only(servers, trio):
    """Bob logs out one session: its /ws/, /ws/chat/<pk>/, SSE and long-poll all end within
    1 s (4401, the stream's end, 401). His other session's socket stays open: a message
    Alice posts after the logout reaches it."""
    a, b, c, group, direct = trio
    other = login(servers, b)

    async def scenario():
        keep = await connect(servers, other)
        clients, s, poll = await open_everything(servers, b, group)
        r = requests.post(servers.httpd_url + "/api/auth/logout", headers=auth_headers(b),
                          timeout=30)
        assert r.status_code == 204
        since = time.monotonic()
        await assert_all_ended_soon(clients, s, poll, since)
        m = send(servers.httpd_url, a, group, "after the logout")
        f = await keep.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == m["id"])
        assert not [f for f in keep.seen if f["type"] == "error"], keep.seen
        await keep.close()
        # The logged-out token cannot come back.
        again = await connect(servers, b, hello=False)
        assert (await again.recv())["code"] == "not_authenticated"
        assert (await again.closed())[0] == 4401

    run(scenario())


@pytest.fixture
def second_daemon(servers):
    """Another chat-push on its own UNIX wake-up socket, woken by chatctl too."""
    sock = str(servers.run_dir / "chat-push-sec.sock")
    push_port = port(servers, 30)
    wake_all = servers.wake_socket + " " + sock
    servers.spawn("chat-push-sec", ["chat-push"],
                  {"CHAT_PUSH_PORT": str(push_port), "CHAT_PUSH_WAKE_BIND": sock,
                   "CHAT_PUSH_WAKE_SOCKETS": wake_all},
                  ready=lambda: __import__("helpers").port_open(HOST, push_port))
    yield {"url": "ws://%s:%d/ws/" % (HOST, push_port), "wake_all": wake_all}
    servers.stop_proc("chat-push-sec")


def test_password_change_ends_sessions_on_every_daemon(servers, trio, second_daemon):
    """`chatctl user passwd` ends Bob's sessions: his sockets on both daemons, his SSE
    stream and long-poll close within 1 s. A login with the new password right after
    keeps its socket."""
    a, b, c, group, direct = trio
    other = login(servers, b)

    async def scenario():
        clients, s, poll = await open_everything(
            servers, b, group, ws_urls=[servers.ws_url, second_daemon["url"]])
        from test_push_realtime import connect_url
        clients.append(await connect_url(second_daemon["url"], other))
        env = dict(servers.env, CHAT_PUSH_WAKE_SOCKETS=second_daemon["wake_all"])
        servers.chatctl("user", "passwd", b["username"], "--password", "new-pw-123456",
                        env=env)
        since = time.monotonic()
        await assert_all_ended_soon(clients, s, poll, since)
        fresh = login(servers, dict(b, password="new-pw-123456"))
        keep = await connect_url(second_daemon["url"], fresh)
        m = send(servers.httpd_url, a, group, "after the password change")
        await keep.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == m["id"])
        await keep.close()

    run(scenario())


def test_expired_session_is_closed_when_it_expires(servers, trio):
    """A session that expires while its connections are open: they end within 1 s of
    expires_at, with no event and no wake-up (each daemon keeps its own deadline)."""
    a, b, c, group, direct = trio

    async def scenario():
        servers.db("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) + INTERVAL 3 SECOND "
                   "WHERE token_hash = %s", (token_hash(b["token"]),))
        expires = time.monotonic() + 3
        clients, s, poll = await open_everything(servers, b, group)
        await assert_all_ended_soon(clients, s, poll, expires)
        for c_ in clients:
            assert not [f for f in c_.seen if is_msg(group)(f)]

    run(scenario())


def test_frames_racing_a_revocation_are_refused(servers, trio):
    """Bob's session is deleted in the database before any daemon has heard of it (no
    event, no wake-up: the moment between a logout's commit and the daemon reading it).
    His message.send, read and typing frames are each refused by the job's session check:
    nothing is stored, Alice sees no typing, and the socket closes 4401. Carol's marker,
    sent after, reaches Alice with nothing of Bob's before it."""
    a, b, c, group, direct = trio
    api = servers.httpd_url
    first = send(api, a, group, "to be read")

    async def scenario():
        ca = await connect(servers, a)
        for frame in ({"type": "message.send", "conversation_id": group, "text": "forged",
                       "client_msg_id": "race-1"},
                      {"type": "read", "conversation_id": group, "message_id": first["id"]},
                      {"type": "typing", "conversation_id": group, "is_typing": True}):
            bob = login(servers, b)
            cb = await connect(servers, bob)
            servers.db("DELETE FROM sessions WHERE token_hash = %s", (token_hash(bob["token"]),))
            await cb.send(frame)
            code, _ = await cb.closed()
            assert code == 4401, frame
            errors = [f for f in cb.seen if f["type"] == "error"]
            assert errors and all(e["code"] == "not_authenticated" for e in errors), cb.seen
            if frame["type"] == "message.send":
                assert errors[0].get("client_msg_id") == "race-1"
        marker = send(api, c, group, "marker")
        await ca.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == marker["id"])
        from_bob = [f for f in ca.seen if f["type"] == "typing" or (
            is_msg(group)(f) and f["data"]["sender"]["id"] == b["id"])]
        assert from_bob == [], from_bob
        assert servers.db("SELECT COUNT(*) FROM messages WHERE client_msg_id = 'race-1'")[0][0] == 0
        assert servers.db("SELECT last_read_message_id FROM participants WHERE "
                          "conversation_id = %s AND user_id = %s", (group, b["id"]))[0][0] == 0
        await ca.close()

    run(scenario())


def test_user_wide_revocation_ends_every_connection_and_bad_ones_end_none(servers, trio):
    """A session.revoked event without session_ids (account deactivation) ends every
    connection of the user, whatever session; malformed ones end nothing, and are never
    delivered as frames."""
    a, b, c, group, direct = trio
    other = login(servers, b)
    api = servers.httpd_url

    def revoke(payload):
        servers.db("INSERT INTO events (conversation_id, type, payload) "
                   "VALUES (NULL, 'session.revoked', %s)", (json.dumps(payload),))

    async def scenario():
        c1 = await connect(servers, b)
        c2 = await connect(servers, other, path="/ws/chat/%d/" % group)
        for bad in ({"user_id": b["id"], "session_ids": "all"},
                    {"user_id": b["id"], "session_ids": []},
                    {"user_id": str(b["id"])}, {"session_ids": [1, 2, 3]}):
            revoke(bad)
        marker = send(api, a, group, "marker")
        for cl in (c1, c2):
            await cl.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == marker["id"])
            assert not [f for f in cl.seen if f["type"] in ("session.revoked", "error")]
        revoke({"user_id": b["id"]})
        for cl in (c1, c2):
            assert (await cl.closed())[0] == 4401

    run(scenario())


def test_deactivated_account_is_shut_out_at_once(servers, trio):
    """`chatctl user deactivate bob`: both of Bob's sessions lose every socket, SSE stream
    and long-poll within 1 s (4401), his tokens answer 401, and his right password gets
    403 permission_denied (a wrong one still the usual 401). Reactivated, he logs in."""
    a, b, c, group, direct = trio
    other = login(servers, b)

    async def scenario():
        keep = await connect(servers, other)
        clients, s, poll = await open_everything(servers, b, group)
        servers.chatctl("user", "deactivate", b["username"])
        since = time.monotonic()
        await assert_all_ended_soon(clients + [keep], s, poll, since)

    run(scenario())
    for token in (b["token"], other["token"]):
        r = requests.get(servers.httpd_url + "/api/auth/me", timeout=30,
                         headers={"Authorization": "Bearer " + token})
        assert r.status_code == 401
    for api in (servers.httpd_url, servers.nginx_url):
        r = requests.post(api + "/api/auth/login", timeout=30,
                          json={"username": b["username"], "password": b["password"]})
        assert r.status_code == 403 and r.json()["code"] == "permission_denied", r.text
        r = requests.post(api + "/api/auth/login", timeout=30,
                          json={"username": b["username"], "password": b["password"] + "x"})
        assert r.status_code == 401 and r.json()["code"] == "authentication_failed"
    assert servers.db("SELECT COUNT(*) FROM sessions WHERE user_id = %s", (b["id"],))[0][0] == 0
    servers.chatctl("user", "reactivate", b["username"])
    back = login(servers, b)

    async def after():
        c2 = await connect(servers, back)
        m = send(servers.httpd_url, a, group, "welcome back")
        await c2.wait_for(lambda f: is_msg(group)(f) and f["data"]["id"] == m["id"])
        await c2.close()

    run(after())


# ---- 3. wake-ups cannot be forged ---------------------------------------------------------


import hashlib  # noqa: E402
import hmac  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402

from helpers import port_open  # noqa: E402


def typing_datagram(conv, user, display_name, typing=True, user_extra=None, **extra):
    """A typing relay "T<conv> <user> <frame>" naming user, marked by display_name."""
    frame = dict({"type": "typing", "conversation_id": conv,
                  "user": dict({"id": user["id"], "username": user["username"],
                                "display_name": display_name}, **(user_extra or {})),
                  "is_typing": typing}, **extra)
    return ("T%d %d %s" % (conv, user["id"], json.dumps(frame))).encode()


def seal(secret, msg, at_ms=None):
    """What chat_wake_seal writes: 'S', the time in ms (8 bytes big-endian), the message,
    HMAC-SHA512-256 (HMAC-SHA512 cut to 32 bytes) under BLAKE2b-256(secret)."""
    key = hashlib.blake2b(secret, digest_size=32).digest()
    body = b"S" + struct.pack(">Q", int(at_ms if at_ms is not None else time.time() * 1000)) + msg
    return body + hmac.new(key, body, hashlib.sha512).digest()[:32]


def wake_rejected(push_url):
    text = requests.get(push_url + "/metrics", timeout=15).text
    out = {}
    for line in text.splitlines():
        if line.startswith("chat_push_wake_rejected_total{"):
            reason = line.split('"')[1]
            out[reason] = int(line.split()[-1])
    return out


def send_as_nobody(path, datagram):
    """Sends datagram to the UNIX socket path from a forked child running as nobody;
    returns the child's exit status (0: the kernel accepted the send)."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.sendto(datagram, path)
            status = 0
        except BaseException:
            status = 2
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


async def first_typing(client, conv):
    """The first typing frame of conv. The daemon reads its wake socket in order and
    relays in that order, so when a control relay sent after forged datagrams is the
    first to arrive, every forged one before it was read and dropped. (Waiting for a
    message instead would race: the message comes through the event log, a different
    path, and may overtake a datagram still unread.)"""
    return await client.wait_for(lambda f: f["type"] == "typing" and f["conversation_id"] == conv,
                                 what="the control typing relay")


async def typing_until_marker(client, conv, marker_id):
    """Receives until the message marker_id arrives; returns the typing frames before it."""
    await client.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == marker_id,
                          what="marker message")
    return [f for f in client.seen if f["type"] == "typing"]


def test_unix_wake_datagram_from_another_uid_never_reaches_subscribers(servers, trio):
    """Someone running as `nobody` on the host (the socket made writable for them, as a
    careless deployment might) forges a typing relay of Alice into Bob's group: dropped
    and counted. The same datagram from root (an allowed uid) is relayed, rebuilt, and
    both arrive, if at all, before the real message Alice posts after them."""
    a, b, c, group, direct = trio
    path = servers.wake_socket
    before = wake_rejected(servers.push_url).get("uid", 0)
    mode = os.stat(path).st_mode

    async def scenario():
        cb = await connect(servers, b)
        os.chmod(path, 0o666)
        try:
            assert send_as_nobody(path, typing_datagram(group, a, "FORGED")) == 0
        finally:
            os.chmod(path, mode & 0o7777)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(typing_datagram(group, a, "control"), path)
        s.close()
        assert (await first_typing(cb, group))["user"]["display_name"] == "control"
        marker = send(servers.httpd_url, a, group, "marker")
        typing = await typing_until_marker(cb, group, marker["id"])
        assert [t["user"]["display_name"] for t in typing] == ["control"], typing
        await cb.close()

    run(scenario())
    assert wake_rejected(servers.push_url).get("uid", 0) >= before + 1


@pytest.fixture
def udp_daemon(servers):
    """A chat-push woken over UDP with a shared secret; its own poll (500 ms) delivers the
    marker messages."""
    secret = os.urandom(48)
    path = servers.run_dir / "wake-secret-sec"
    path.write_bytes(secret)
    os.chmod(path, 0o600)
    push_port, udp_port = port(servers, 31), port(servers, 32)
    addr = "%s:%d" % (HOST, udp_port)
    servers.spawn("chat-push-udp", ["chat-push"],
                  {"CHAT_PUSH_PORT": str(push_port), "CHAT_PUSH_WAKE_BIND": addr,
                   "CHAT_PUSH_WAKE_SOCKETS": servers.wake_socket + " " + addr,
                   "CHAT_PUSH_WAKE_SECRET_FILE": str(path), "CHAT_LOG_LEVEL": "debug"},
                  ready=lambda: port_open(HOST, push_port))
    yield {"ws": "ws://%s:%d/ws/" % (HOST, push_port), "http": "http://%s:%d" % (HOST, push_port),
           "udp": (HOST, udp_port), "secret": secret}
    servers.stop_proc("chat-push-udp")


def test_forged_udp_wake_datagrams_never_reach_subscribers(servers, trio, udp_daemon):
    """Typing relays sent to a daemon's UDP wake-up port: unsealed, sealed with a wrong
    secret, authentic but 60 s old (a replay), or authentic but not a typing frame are
    all dropped and counted. An authentic one padded with extra fields arrives rebuilt
    (only type, conversation_id, user{id,username,display_name}, is_typing). Nothing
    forged arrives before the real message Alice posts after them."""
    a, b, c, group, direct = trio
    from test_push_realtime import connect_url
    key = udp_daemon["secret"]
    before = wake_rejected(udp_daemon["http"])

    async def scenario():
        cb = await connect_url(udp_daemon["ws"], b)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for datagram in (
                typing_datagram(group, a, "FORGED-plain"),
                seal(b"x" * 48, typing_datagram(group, a, "FORGED-wrong-key")),
                seal(key, typing_datagram(group, a, "FORGED-replay"),
                     at_ms=time.time() * 1000 - 60000),
                seal(key, ("T%d %d %s" % (group, a["id"], json.dumps(
                    {"type": "message.created", "conversation_id": group,
                     "data": {"text": "FORGED-event"}}))).encode()),
                seal(key, typing_datagram(group, a, "FORGED-other-user")
                     .replace(b'"id": %d' % a["id"], b'"id": %d' % c["id"])),
                seal(key, typing_datagram(group, a, "control", html="<script>",
                                          user_extra={"is_admin": True}))):
            s.sendto(datagram, udp_daemon["udp"])
        s.close()
        assert (await first_typing(cb, group))["user"]["display_name"] == "control"
        marker = send(servers.httpd_url, a, group, "marker")
        typing = await typing_until_marker(cb, group, marker["id"])
        relays = [line for line in requests.get(udp_daemon["http"] + "/metrics", timeout=15)
                  .text.splitlines() if line.startswith("chat_push_typing_relays_total")]
        assert [t["user"]["display_name"] for t in typing] == ["control"], (typing, relays)
        assert typing[0] == {"type": "typing", "conversation_id": group, "is_typing": True,
                             "user": {"id": a["id"], "username": a["username"],
                                      "display_name": "control"}}
        assert "FORGED" not in json.dumps(cb.seen)
        await cb.close()

    run(scenario())
    after = wake_rejected(udp_daemon["http"])
    assert after["mac"] >= before.get("mac", 0) + 2
    assert after["stale"] >= before.get("stale", 0) + 1
    assert after["malformed"] >= before.get("malformed", 0) + 2


@pytest.mark.parametrize("problem", ["no secret", "world-readable secret", "short secret"])
def test_udp_wake_address_without_a_usable_secret_is_a_startup_error(servers, problem):
    path = servers.run_dir / "wake-secret-bad"
    path.write_bytes(os.urandom(8 if problem == "short secret" else 32))
    os.chmod(path, 0o644 if problem == "world-readable secret" else 0o600)
    env = dict(servers.env, CHAT_PUSH_PORT=str(port(servers, 33)),
               CHAT_PUSH_WAKE_BIND="%s:%d" % (HOST, port(servers, 34)),
               CHAT_PUSH_WAKE_SECRET_FILE="" if problem == "no secret" else str(path))
    r = subprocess.run([str(servers.bin_dir / "chat-push")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "push_wake_secret_file" in r.stderr, r.stderr
