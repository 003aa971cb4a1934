"""The batched connect path of chat-push (push/job_batch.c): the DB worker answers every
auth, resume and presence job a round has queued a batch at a time. These tests open many
sockets at once, so that their jobs share batches, and check that each connection still
gets its own answer: valid, revoked, expired and garbage tokens, a conversation URL the
user is not in, presence to exactly the right users (presence_max_group_size), a restart
with every client connected that loses nothing, and the daemon's own keepalive (which
replaced lws's per-connection validity timer)."""

import asyncio
import contextlib
import socket
import threading
import time

import pytest
import requests
import websockets

from helpers import auth_headers, port_open
from test_push import Client, connect, create_conv, is_msg, run, send
from test_push_realtime import HOST, connect_url, port

STORM = 24  # sockets of each kind opened at once


def push_spawner(servers, name, offset, **settings):
    """(ws:// URL, start) of a chat-push of its own on port(servers, offset) with extra
    settings; start() starts it (again) and returns its Proc once it listens."""
    push_port = port(servers, offset)
    env = {"CHAT_PUSH_PORT": str(push_port),
           "CHAT_PUSH_WAKE_BIND": str(servers.run_dir / ("%s.sock" % name))}
    env.update({"CHAT_" + k.upper(): str(v) for k, v in settings.items()})
    url = "ws://%s:%d/ws/" % (HOST, push_port)
    return url, lambda: servers.spawn(name, ["chat-push"], env,
                                      ready=lambda: port_open(HOST, push_port))


@contextlib.contextmanager
def private_push(servers, name, offset, **settings):
    """push_spawner's daemon, started; yields its URL and stops it afterwards (a dirty
    exit fails the session)."""
    url, start = push_spawner(servers, name, offset, **settings)
    start()
    try:
        yield url
    finally:
        servers.stop_proc(name)


async def open_ws(url, token, query=""):
    """A connection with a bearer token, without waiting for anything."""
    headers = {"Authorization": "Bearer " + token} if token is not None else {}
    ws = await websockets.connect(url + query, extra_headers=headers, open_timeout=20,
                                  max_size=2 ** 24)
    return Client(ws)


async def first_then_close(client):
    """The first frame and the close code that follows it (None while still open)."""
    first = await client.recv(timeout=20)
    if first["type"] == "hello":
        return first, None
    code, _ = await client.closed(timeout=20)
    return first, code


def test_a_storm_of_mixed_tokens_gets_one_answer_each(servers, make_user):
    """Valid tokens (one user twice), logged-out, expired, garbage and empty-looking
    tokens, and a conversation URL of a non-participant, all at once: every valid one gets
    its own hello, every other one not_authenticated and 4401 (4404 for the URL)."""
    valid = [make_user("bv") for _ in range(STORM)]
    revoked = [make_user("br") for _ in range(STORM // 3)]
    expired = [make_user("be") for _ in range(STORM // 3)]
    for u in revoked:
        r = requests.post(servers.httpd_url + "/api/auth/logout", headers=auth_headers(u),
                          timeout=30)
        assert r.status_code == 204, r.text
    for u in expired:
        servers.db("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
                   "WHERE user_id = %s", (u["id"],))
    garbage = ["x" * n for n in (1, 43, 300)] + ["%00%ff", valid[0]["token"] + "x"]
    outsider_conv = create_conv(servers.httpd_url, valid[1], [valid[2]])
    outsider = valid[3]

    async def scenario():
        url = servers.ws_url
        tokens = ([u["token"] for u in valid] + [valid[0]["token"]] +
                  [u["token"] for u in revoked + expired] + garbage)
        conns = await asyncio.gather(*(open_ws(url, t) for t in tokens),
                                     open_ws(url.replace("/ws/", "/ws/chat/%d/" % outsider_conv),
                                             outsider["token"]))
        answers = await asyncio.gather(*(first_then_close(c) for c in conns))
        n = len(valid)
        for i, u in enumerate(valid + [valid[0]]):
            hello, code = answers[i]
            assert hello["type"] == "hello" and hello["user"]["id"] == u["id"], hello
            assert code is None
        for first, code in answers[n + 1:-1]:
            assert first["type"] == "error" and first["code"] == "not_authenticated", first
            assert code == 4401
        first, code = answers[-1]
        assert first["type"] == "error" and first["code"] == "not_found", first
        assert code == 4404
        # The admitted ones are live: a message reaches both of valid[0]'s sockets.
        conv = create_conv(servers.httpd_url, valid[1], [valid[0]])
        m = send(servers.httpd_url, valid[1], conv, "after the storm")
        for c in (conns[0], conns[n]):
            f = await c.wait_for(is_msg(conv), what="message.created")
            assert f["data"]["id"] == m["id"]
        for c in conns:
            await c.close()

    run(scenario())


def test_presence_in_a_storm_reaches_exactly_the_right_users(servers, make_user):
    """Users coming online together (one presence batch, one recipients query per batch):
    a direct-chat partner gets each one's presence exactly once, a member of a group over
    presence_max_group_size (here 2) and a stranger get none, proven by a marker message
    that arrives after the storm's presence events."""
    partner, grouped, stranger = make_user("pp"), make_user("pg"), make_user("ps")
    arrivals = [make_user("pa") for _ in range(STORM)]
    for u in arrivals:
        create_conv(servers.httpd_url, u, [partner])
    group = create_conv(servers.httpd_url, grouped, arrivals[:2] + [stranger], is_group=True)
    marker_conv = create_conv(servers.httpd_url, stranger, [partner, grouped], is_group=True)
    ids = {u["id"] for u in arrivals}

    def presence_until_marker(w, marker_id):
        async def collect():
            got = []
            while True:
                f = await w.wait_for(lambda f: f["type"] in ("presence", "message.created"),
                                     what="presence or the marker")
                if f["type"] == "message.created":
                    assert f["data"]["id"] == marker_id
                    return got
                got.append(f["data"])
        return collect()

    async def scenario(url):
        watchers = [await connect_url(url, w) for w in (partner, grouped, stranger)]
        storm = await asyncio.gather(*(connect_url(url, u) for u in arrivals))
        # The partner hears of every arrival, each online.
        first = await watchers[0].events(lambda f: f["type"] == "presence", len(arrivals),
                                         what="presence of every arrival")
        assert sorted(f["data"]["user_id"] for f in first) == sorted(ids)
        assert all(f["data"]["online"] for f in first)
        # Every presence event is committed now; the marker comes after them in the log.
        marker = send(servers.httpd_url, stranger, marker_conv, "marker")
        later = [await presence_until_marker(w, marker["id"]) for w in watchers]
        assert later == [[], [], []]  # no repeat for the partner; nothing through the
        # group of 4 (over presence_max_group_size 2) nor for the stranger
        assert group
        for c in watchers + list(storm):
            await c.close()

    with private_push(servers, "chat-push-pb", 40, presence_max_group_size=2) as url:
        run(scenario(url))


def test_restart_with_every_client_connected_loses_nothing(servers, make_user):
    """SIGKILL with every client connected while messages are being sent, then a new
    daemon: all clients reconnect at once with ?last_event_id (one batch of resumes) and
    each gets every message of its conversation, a /ws/chat/<pk>/ client only its own;
    a client whose session ended meanwhile gets 4401 instead of a backlog."""
    url, spawn = push_spawner(servers, "chat-push-rs", 41)
    sender = make_user("rs")
    clients = [make_user("rc") for _ in range(STORM)]
    convs = [create_conv(servers.httpd_url, sender, [u]) for u in clients]
    leaver = make_user("rl")
    leaver_conv = create_conv(servers.httpd_url, sender, [leaver])
    sent = {c: [] for c in convs + [leaver_conv]}
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            conv = convs[i % len(convs)]
            sent[conv].append(send(servers.httpd_url, sender, conv, "m%d" % i)["id"])
            i += 1
    proc = spawn()

    async def scenario():
        socks = await asyncio.gather(*(connect_url(url, u) for u in clients))
        only = await connect_url(url.replace("/ws/", "/ws/chat/%d/" % convs[0]), clients[0])
        gone = await connect_url(url, leaver)
        last = {id(c): c.hello["last_event_id"] for c in socks + [only, gone]}
        t = threading.Thread(target=writer)
        t.start()
        await asyncio.sleep(1.0)
        proc.popen.kill()
        proc.popen.wait()
        servers.procs.pop("chat-push-rs", None)
        for c in socks + [only, gone]:  # what arrived before the kill
            try:
                while True:
                    f = await c.recv(timeout=1)
                    last[id(c)] = max(last[id(c)], f.get("event_id", 0))
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                pass
        r = requests.post(servers.httpd_url + "/api/auth/logout", headers=auth_headers(leaver),
                          timeout=30)
        assert r.status_code == 204
        spawn()
        await asyncio.sleep(0.5)  # messages keep coming while everyone reconnects
        queries = ["?last_event_id=%d" % last[id(c)] for c in socks]
        again = await asyncio.gather(*(connect_url(url, u, query=q)
                                       for u, q in zip(clients, queries)))
        only2 = await connect_url(url.replace("/ws/", "/ws/chat/%d/" % convs[0]), clients[0],
                                  query="?last_event_id=%d" % last[id(only)])
        gone2 = await open_ws(url, leaver["token"], "?last_event_id=%d" % last[id(gone)])
        first, code = await first_then_close(gone2)
        assert first["code"] == "not_authenticated" and code == 4401, first
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        # Every message of each conversation reached its client: before the kill on the
        # old socket, or by backlog or live on the new one.
        pairs = list(zip(socks, again, convs)) + [(only, only2, convs[0])]
        for old, new, conv in pairs:
            missing = set(sent[conv]) - {f["data"]["id"] for f in old.seen + new.seen
                                         if is_msg(conv)(f)}
            while missing:
                f = await new.wait_for(is_msg(conv), what="messages %s" % sorted(missing)[:5])
                missing.discard(f["data"]["id"])
        assert sum(len(v) for v in sent.values()) > len(convs)  # the writer ran throughout
        # /ws/chat/<pk>/ never carries another conversation, backlog or live.
        assert all(f.get("conversation_id") in (None, convs[0]) for f in only2.seen)
        for c in list(again) + [only2]:
            await c.close()

    try:
        run(scenario())
    finally:
        stop.set()
        servers.stop_proc("chat-push-rs")


HISTORY = 20_000  # old events of the group in the test below


def handler_reads(servers):
    """MariaDB's rows and index entries read so far, by every connection (the server's
    Handler_read_* counters, and the index entries index condition pushdown filtered)."""
    rows = servers.db("SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_read_key', "
                      "'Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd', "
                      "'Handler_read_rnd_next', 'Handler_icp_attempts')")
    return sum(int(v) for _, v in rows)


def _poll_after(servers, member, position, count):
    """The first `count` message frames member's long-polls from position give."""
    got = []
    while len(got) < count:
        r = requests.get(servers.push_url + "/events/poll/", headers=auth_headers(member),
                         params={"last_event_id": position, "timeout": 10}, timeout=30)
        assert r.status_code == 200, r.text
        got += [e for e in r.json()["events"] if e["type"] == "message.created"]
        position = r.json()["last_event_id"]
    return got


@pytest.mark.parametrize("way", ["resume", "long-poll"])
def test_a_catch_up_reads_its_backlog_not_the_conversations_history(servers, make_user, way):
    """Members of a group with 20,000 old events catch up on three new messages each, by
    WebSocket resume or by long-poll: each gets exactly those three, and the database
    reads fewer rows for all eight than one pass over the group's history. Joined by
    conversation id, MariaDB took the join as a ref and walked every event the
    conversation ever had, for each member (SQL_BACKLOG in push/job_batch.c, SQL_POLL in
    push/jobs.c, sql/014): 180,640 reads here before the change. And the resume's
    removals statement, written with an OR, at times read the whole table once per batch
    (SQL_REMOVALS). Now 540-910 reads for the resumes, about 1,580 for the polls."""
    owner = make_user("hr")
    members = [make_user("hm") for _ in range(8)]
    conv = create_conv(servers.httpd_url, owner, members, is_group=True)
    # Old, and of a type no client is sent (the tail reads them and passes them over).
    # pymysql's executemany sends multi-row VALUES, which take one AUTO_INCREMENT id per
    # row: INSERT ... SELECT would leave thousands of ids as gaps that the daemons
    # re-read (and count as reads) for their gap timeout.
    day_ago = servers.db("SELECT UTC_TIMESTAMP(6) - INTERVAL 1 DAY")[0][0]
    conn = servers.db_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO events (conversation_id, type, payload, created_at) "
                            "VALUES (%s, %s, %s, %s)",
                            [(conv, "test.history", "{}", day_ago)] * HISTORY)
    finally:
        conn.close()
    history_top = servers.db("SELECT MAX(id) FROM events WHERE conversation_id = %s",
                             (conv,))[0][0]

    async def scenario():
        deadline = time.monotonic() + 60
        while True:  # every reader of the log (chat-push's tail, chat-notify) is past it
            probe = await connect(servers, members[0])
            position = probe.hello["last_event_id"]
            await probe.close()
            notified = servers.db("SELECT MIN(event_id) FROM notify_cursors")[0][0]
            if position >= history_top and (notified is None or notified >= history_top):
                break
            assert time.monotonic() < deadline, "the readers did not pass the history"
            await asyncio.sleep(0.2)
        sent = [send(servers.httpd_url, owner, conv, "after %d" % i)["id"] for i in range(3)]
        before = handler_reads(servers)
        if way == "long-poll":
            got = [_poll_after(servers, m, position, 3) for m in members]
            reads = handler_reads(servers) - before
            assert [[f["data"]["id"] for f in g] for g in got] == [sent] * len(members)
            assert reads < HISTORY, reads
            return
        clients = await asyncio.gather(*(connect(servers, m, query="?last_event_id=%d"
                                                 % position) for m in members))
        for c in clients:
            got = await c.events(is_msg(conv), 3, what="the three messages")
            assert [f["data"]["id"] for f in got] == sent
        reads = handler_reads(servers) - before
        assert reads < HISTORY, reads
        for c in clients:
            await c.barrier()  # and nothing else of the conversation came
            assert [f["data"]["id"] for f in c.seen if is_msg(conv)(f)] == sent
            await c.close()

    try:
        run(scenario())
    finally:
        servers.db("DELETE FROM events WHERE type = 'test.history'")


def _raw_client(push_port, token):
    """A WebSocket upgrade on a plain socket that then never reads or answers: the
    daemon's keepalive pings get no pong."""
    s = socket.create_connection((HOST, push_port), timeout=30)
    s.sendall(("GET /ws/ HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
               % (HOST, push_port, token)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head[:60]
    return s, head.split(b"\r\n\r\n", 1)[1]


def test_keepalive_pings_idle_sockets_and_drops_silent_ones(servers, make_user):
    """With push_ping_interval_s = 5: an idle client that answers pings (the websockets
    library does) stays connected past twice the interval; one that never answers is sent
    a WebSocket ping and is dropped."""
    push_port = port(servers, 42)
    alive, silent, other = make_user("ka"), make_user("ks"), make_user("ko")
    conv = create_conv(servers.httpd_url, other, [alive])

    async def scenario(url):
        good = await connect_url(url, alive)
        raw, data = await asyncio.get_running_loop().run_in_executor(
            None, _raw_client, push_port, silent["token"])
        raw.settimeout(30)

        def read_until_closed():
            got = data
            while True:
                try:
                    chunk = raw.recv(4096)
                except ConnectionResetError:
                    return got
                if not chunk:
                    return got
                got += chunk
        t0 = time.monotonic()
        got = await asyncio.get_running_loop().run_in_executor(None, read_until_closed)
        raw.close()
        assert time.monotonic() - t0 < 25  # dropped, not left open until the read timeout
        assert b"\x89\x01k" in got  # FIN + ping with its one-byte payload: pinged first
        assert b'"hello"' in got
        m = send(servers.httpd_url, other, conv, "still here")  # the answering one lives
        f = await good.wait_for(is_msg(conv), what="message.created")
        assert f["data"]["id"] == m["id"]
        await good.close()

    with private_push(servers, "chat-push-ka", 42, push_ping_interval_s=5) as url:
        run(scenario(url))
