"""End-to-end tests of the real-time layer (issue 4, docs/protocol.md): every event type
live, typing, presence across daemons, sends and receipts over the socket, several
daemons woken over UNIX and UDP sockets, SIGKILL and resume, a MariaDB restart, limits,
the SSE and long-poll fallbacks, /metrics and /healthz.

Extra programs (second and third chat-push, a chat-httpd that wakes all of them) are
started under the harness with ports above CHAT_TEST_PORT_BASE + 2.
"""

import asyncio
import json
import os
import signal
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
import websockets

from helpers import auth_headers, port_open, wait_until
from test_push import RECV_TIMEOUT, Client, connect, create_conv, is_msg, run, send

QUIET = 1.5
HOST = "127.0.0.1"


def port(servers, offset):
    return servers.extra_port - 2 + offset  # CHAT_TEST_PORT_BASE + offset


# ---- REST shortcuts ---------------------------------------------------------------------


def rest(method, url, user, body=None, expect=(200, 201, 204)):
    r = requests.request(method, url, json=body, headers=auth_headers(user), timeout=30)
    assert r.status_code in expect, "%s %s: %s %s" % (method, url, r.status_code, r.text)
    return r.json() if r.content else None


def conv_url(api, conv):
    return "%s/api/chat/conversations/%d/" % (api, conv)


def group(api, owner, others):
    return create_conv(api, owner, others, is_group=True)


# ---- connections to any daemon ------------------------------------------------------------


async def connect_url(url, user, query="", **kw):
    ws = await websockets.connect(url + query, open_timeout=10, max_size=2 ** 24,
                                  extra_headers={"Authorization": "Bearer " + user["token"]},
                                  **kw)
    c = Client(ws)
    c.hello = await c.recv()
    assert c.hello["type"] == "hello", c.hello
    return c


def of_type(t, **fields):
    def pred(f):
        return f["type"] == t and all(
            f.get(k) == v or f.get("data", {}).get(k) == v for k, v in fields.items())
    return pred


async def nothing_more(c, pred):
    """A quiet period, a barrier, then: no frame matching pred arrived."""
    await asyncio.sleep(QUIET)
    await c.barrier()
    return [f for f in c.seen if pred(f)]


# ---- several daemons ------------------------------------------------------------------------


class Cluster:
    """chat-push B (wake-up over UDP) and C (own UNIX socket) beside the harness's daemon,
    and a chat-httpd whose push_wake_sockets lists all three. B and C tail the log only
    every 60 s on their own, so a timely delivery through them proves the wake-up."""

    def __init__(self, servers):
        self.servers = servers
        self.udp_b = "%s:%d" % (HOST, port(servers, 5))
        self.sock_c = str(servers.run_dir / "chat-push-c.sock")
        self.wake_all = " ".join([servers.wake_socket, self.udp_b, self.sock_c])
        self.port_b, self.port_c, self.port_api = port(servers, 3), port(servers, 4), port(servers, 2)
        self.url_b = "ws://%s:%d/ws/" % (HOST, self.port_b)
        self.url_c = "ws://%s:%d/ws/" % (HOST, self.port_c)
        self.url_a = servers.ws_url
        self.api = "http://%s:%d" % (HOST, self.port_api)
        # UDP wake-ups are sealed with a shared secret (docs/protocol.md, Several daemons).
        self.secret = servers.run_dir / "wake-secret"
        self.secret.write_bytes(os.urandom(32))
        os.chmod(self.secret, 0o600)

    def push_env(self, push_port, bind):
        return {"CHAT_PUSH_PORT": str(push_port), "CHAT_PUSH_WAKE_BIND": bind,
                "CHAT_PUSH_WAKE_SOCKETS": self.wake_all, "CHAT_PUSH_POLL_INTERVAL_MS": "60000",
                "CHAT_PUSH_PRESENCE_OFFLINE_DELAY_MS": "1500",
                "CHAT_PUSH_WAKE_SECRET_FILE": str(self.secret)}

    def start(self):
        s = self.servers
        s.spawn("chat-push-b", ["chat-push"], self.push_env(self.port_b, self.udp_b),
                ready=lambda: port_open(HOST, self.port_b))
        s.spawn("chat-push-c", ["chat-push"], self.push_env(self.port_c, self.sock_c),
                ready=lambda: port_open(HOST, self.port_c))
        s.spawn("chat-httpd-b", ["chat-httpd"],
                {"CHAT_HTTP_PORT": str(self.port_api), "CHAT_PUSH_WAKE_SOCKETS": self.wake_all,
                 "CHAT_PUSH_WAKE_SECRET_FILE": str(self.secret)},
                ready=lambda: port_open(HOST, self.port_api))

    def stop(self):
        for name in ("chat-httpd-b", "chat-push-b", "chat-push-c"):
            self.servers.stop_proc(name)


@pytest.fixture(scope="module")
def cluster(servers):
    c = Cluster(servers)
    c.start()
    yield c
    c.stop()


# ---- every event type -----------------------------------------------------------------------


def test_every_event_type_is_delivered_live(servers, make_user):
    api = servers.httpd_url
    a, b, c = make_user("ea"), make_user("eb"), make_user("ec")
    conv = group(api, a, [b])
    user_keys = {"id", "username", "display_name", "avatar_url", "deleted", "is_bot"}

    async def scenario():
        cb = await connect(servers, b)
        cc = await connect(servers, c)
        m = send(api, a, conv, "hello all")
        f = await cb.wait_for(of_type("message.created", id=m["id"]))
        assert f["data"]["reactions"] == [] and f["data"]["attachments"] == []

        rest("PATCH", conv_url(api, conv) + "messages/%d/" % m["id"], a, {"text": "edited"})
        f = await cb.wait_for(of_type("message.updated", id=m["id"]))
        assert f["data"]["text"] == "edited" and f["data"]["edited_at"]

        emoji = urllib.parse.quote("👍")
        rest("PUT", conv_url(api, conv) + "messages/%d/reactions/%s/" % (m["id"], emoji), a)
        f = await cb.wait_for(of_type("reaction.added", message_id=m["id"]))
        assert f["data"]["emoji"] == "👍" and set(f["data"]["user"]) == user_keys
        assert f["data"]["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [a["id"]]}]
        rest("DELETE", conv_url(api, conv) + "messages/%d/reactions/%s/" % (m["id"], emoji), a)
        f = await cb.wait_for(of_type("reaction.removed", message_id=m["id"]))
        assert f["data"]["reactions"] == []

        rest("POST", conv_url(api, conv) + "read/", b, {"message_id": m["id"]})
        f = await cb.wait_for(of_type("receipt.updated", user_id=b["id"]))
        assert f["data"]["kind"] == "read" and f["data"]["message_id"] == m["id"]
        assert f["conversation_id"] == conv and f["data"]["at"]

        rest("PATCH", conv_url(api, conv), a, {"name": "renamed"})
        f = await cb.wait_for(of_type("conversation.updated"))
        assert f["data"]["name"] == "renamed" and "unread_count" not in f["data"]

        rest("PATCH", conv_url(api, conv) + "participants/%d/" % b["id"], a, {"role": "admin"})
        f = await cb.wait_for(of_type("participant.role_changed", user_id=b["id"]))
        assert f["conversation_id"] == conv and f["data"]["role"] == "admin"
        assert f["data"]["actor_id"] == a["id"] and set(f["data"]["user"]) == user_keys

        # c is added: c's open socket receives the event and the conversation from then on.
        rest("POST", conv_url(api, conv) + "participants/", a, {"user_id": c["id"]})
        f = await cc.wait_for(of_type("participant.added", user_id=c["id"]))
        assert f["conversation_id"] == conv and f["data"]["conversation"]["id"] == conv
        assert set(f["data"]["user"]) == user_keys
        m2 = send(api, a, conv, "welcome c")
        await cc.wait_for(of_type("message.created", id=m2["id"]))

        # c is removed: c gets participant.removed, then nothing more of the conversation.
        rest("DELETE", conv_url(api, conv) + "participants/%d/" % c["id"], a)
        f = await cc.wait_for(of_type("participant.removed", user_id=c["id"]))
        removed_at = f["event_id"]
        rest("DELETE", conv_url(api, conv) + "messages/%d/" % m["id"], a)
        f = await cb.wait_for(of_type("message.deleted", id=m["id"]))
        assert f["data"]["deleted"] is True and f["data"]["text"] == ""
        later = await nothing_more(cc, lambda f: f.get("conversation_id") == conv
                                   and f.get("event_id", 0) > removed_at)
        assert later == []

        # A new display name: user.updated (no conversation) to those sharing one.
        rest("PATCH", api + "/api/users/me/", a, {"display_name": "A renamed"})
        f = await cb.wait_for(lambda f: f["type"] == "user.updated" and f["data"]["user_id"] == a["id"])
        assert f["conversation_id"] is None and set(f["data"]["user"]) == user_keys
        assert f["data"]["user"]["display_name"] == "A renamed"
        for client in (cb, cc):
            await client.close()

    run(scenario())


# ---- typing ---------------------------------------------------------------------------------


def test_typing_relay_limit_and_expiry(servers, make_user):
    a, b = make_user("ta"), make_user("tb")
    conv = create_conv(servers.httpd_url, a, [b])
    before = servers.db("SELECT COUNT(*) FROM events")[0][0]

    async def scenario():
        ca, cb = await connect(servers, a), await connect(servers, b)
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        f = await cb.wait_for(of_type("typing"))
        assert f == {"type": "typing", "conversation_id": conv, "is_typing": True,
                     "user": {"id": a["id"], "username": a["username"],
                              "display_name": a["display_name"]}}
        t0 = time.monotonic()
        # Repeats within 2 s are absorbed; the state lives on while they keep coming.
        for _ in range(3):
            await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await ca.barrier()
        await cb.barrier()
        if time.monotonic() - t0 < 1.9:
            assert [f for f in cb.seen if f["type"] == "typing"] == [f]
        # Without a repeat it expires by itself and the others hear is_typing false.
        f = await cb.wait_for(of_type("typing", is_typing=False), timeout=15)
        assert f["user"]["id"] == a["id"]
        assert not [f for f in ca.seen if f["type"] == "typing"]  # never to the typist
        # An explicit stop goes out at once.
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await cb.wait_for(of_type("typing", is_typing=True))
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": False})
        await cb.wait_for(of_type("typing", is_typing=False))
        # Not a member, or malformed: errors, connection kept.
        await ca.send({"type": "typing", "conversation_id": 999999999, "is_typing": True})
        assert (await ca.wait_for(of_type("error")))["code"] == "not_found"
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": "yes"})
        assert (await ca.wait_for(of_type("error")))["code"] == "bad_frame"
        await ca.barrier()
        await ca.close()
        await cb.close()

    run(scenario())
    # Never stored.
    assert servers.db("SELECT COUNT(*) FROM events WHERE id > %s AND type = 'typing'",
                      (before,))[0][0] == 0


# ---- sends and receipts over the socket -------------------------------------------------------


def test_message_send_over_socket_and_retry(servers, make_user):
    a, b, out = make_user("sa"), make_user("sb"), make_user("so")
    conv = create_conv(servers.httpd_url, a, [b])

    async def scenario():
        ca, cb = await connect(servers, a), await connect(servers, b)
        cmid = "ws-" + uuid.uuid4().hex
        frame = {"type": "message.send", "conversation_id": conv, "text": "over the socket",
                 "client_msg_id": cmid}
        await ca.send(frame)
        sent = await ca.wait_for(of_type("message.sent"))
        assert set(sent) == {"type", "client_msg_id", "message_id"}
        assert sent["client_msg_id"] == cmid
        f = await cb.wait_for(of_type("message.created", id=sent["message_id"]))
        assert f["data"]["text"] == "over the socket" and f["data"]["client_msg_id"] == cmid
        assert f["data"]["sender"]["id"] == a["id"]
        # A retry of the same client_msg_id: the same message, nothing new.
        await ca.send(frame)
        again = await ca.wait_for(lambda f: f["type"] == "message.sent" and f is not sent)
        assert again["message_id"] == sent["message_id"]
        dups = await nothing_more(cb, lambda f: f["type"] == "message.created"
                                  and f["data"]["client_msg_id"] == cmid)
        assert len(dups) == 1
        # The REST validation, with the same details, and the client_msg_id echoed.
        await ca.send(dict(frame, text="   ", client_msg_id="blank-1"))
        err = await ca.wait_for(of_type("error"))
        assert err == {"type": "error", "code": "validation_error",
                       "detail": "text must not be empty.", "client_msg_id": "blank-1"}
        await ca.send(dict(frame, text="x" * 4001, client_msg_id="long-1"))
        err = await ca.wait_for(lambda f: f["type"] == "error" and f.get("client_msg_id") == "long-1")
        assert err["code"] == "validation_error" and "4000" in err["detail"]
        await ca.send(dict(frame, reply_to=0, client_msg_id="reply-0"))
        err = await ca.wait_for(lambda f: f["type"] == "error" and f.get("client_msg_id") == "reply-0")
        assert err["detail"] == "reply_to must be a message id."
        await ca.send(dict(frame, client_msg_id="bad id!"))
        err = await ca.wait_for(lambda f: f["type"] == "error" and f.get("client_msg_id") == "bad id!")
        assert err["code"] == "validation_error"
        await ca.send({"type": "message.send", "conversation_id": conv, "text": 5,
                       "client_msg_id": "t5"})
        assert (await ca.wait_for(lambda f: f.get("client_msg_id") == "t5"))["code"] == "bad_frame"
        await ca.barrier()
        # An outsider gets not_found, as on REST.
        co = await connect(servers, out)
        await co.send(dict(frame, client_msg_id="outsider-1"))
        err = await co.wait_for(of_type("error"))
        assert err["code"] == "not_found" and err["detail"] == "Conversation not found."
        for c in (ca, cb, co):
            await c.close()

    run(scenario())
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s", (conv,))[0][0] == 1


def test_read_and_delivered_frames(servers, make_user):
    a, b = make_user("ra"), make_user("rb")
    conv = create_conv(servers.httpd_url, a, [b])
    other = create_conv(servers.httpd_url, b, [make_user("rc")])
    m = send(servers.httpd_url, a, conv, "read me")
    m_other = send(servers.httpd_url, b, other, "elsewhere")

    async def scenario():
        ca, cb = await connect(servers, a), await connect(servers, b)
        await cb.send({"type": "delivered", "conversation_id": conv, "message_id": m["id"]})
        f = await ca.wait_for(of_type("receipt.updated", kind="delivered"))
        assert f["data"]["user_id"] == b["id"] and f["data"]["message_id"] == m["id"]
        await cb.send({"type": "read", "conversation_id": conv, "message_id": m["id"]})
        f = await ca.wait_for(of_type("receipt.updated", kind="read"))
        assert f["data"]["user_id"] == b["id"] and f["data"]["message_id"] == m["id"]
        await cb.send({"type": "read", "conversation_id": conv, "message_id": m_other["id"]})
        assert (await cb.wait_for(of_type("error")))["code"] == "validation_error"
        await cb.send({"type": "read", "conversation_id": conv})
        assert (await cb.wait_for(lambda f: f["type"] == "error" and f["code"] == "bad_frame"))
        await ca.close()
        await cb.close()

    run(scenario())
    row = servers.db("SELECT last_read_message_id FROM participants WHERE conversation_id = %s "
                     "AND user_id = %s", (conv, b["id"]))
    assert row == ((m["id"],),)


# ---- limits ---------------------------------------------------------------------------------


def test_flood_of_client_frames_closes_4429(servers, make_user):
    async def scenario():
        c = await connect(servers, make_user("fl"))
        # push_client_frame_burst defaults to 60 (and 20/s after that). The flood stops
        # there: a client that keeps writing after the close may see a reset instead.
        for _ in range(64):
            await c.ws.send(json.dumps({"type": "ping"}))
        err = await c.wait_for(of_type("error"))
        assert err["code"] == "rate_limited"
        code, reason = await c.closed()
        assert code == 4429 and reason == "rate limited"

    run(scenario())


def test_connections_per_user_limit_holds_across_daemons(servers, make_user):
    """Two daemons with a limit of 2: one socket on each fills it, so a third on either is
    refused with 4409; once one closes (and its daemon has recorded the new count), a
    connection is admitted again."""
    u = make_user("spread")
    ports = port(servers, 8), port(servers, 9)
    urls = ["ws://%s:%d/ws/" % (HOST, p) for p in ports]
    for name, p in zip(("chat-push-l1", "chat-push-l2"), ports):
        servers.spawn(name, ["chat-push"],
                      {"CHAT_PUSH_PORT": str(p), "CHAT_PUSH_MAX_CONNECTIONS_PER_USER": "2",
                       "CHAT_PUSH_WAKE_BIND": str(servers.run_dir / (name + ".sock"))},
                      ready=lambda p=p: port_open(HOST, p))

    def counted():
        return servers.db("SELECT COALESCE(SUM(connections), 0) FROM presence_connections "
                          "WHERE user_id = %s", (u["id"],))[0][0]

    async def refused(url):
        ws = await websockets.connect(url, open_timeout=10,
                                      extra_headers={"Authorization": "Bearer " + u["token"]})
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
            if first.get("type") != "error":
                return first.get("type"), None  # admitted: the limit did not hold
            await asyncio.wait_for(ws.wait_closed(), RECV_TIMEOUT)
            return first["code"], ws.close_code
        finally:
            await ws.close()

    async def scenario():
        first = await connect_url(urls[0], u)
        second = await connect_url(urls[1], u)
        wait_until(lambda: counted() == 2, 15, what="both daemons recording a connection")
        for url in urls:
            assert await refused(url) == ("too_many_connections", 4409)
        await second.close()
        wait_until(lambda: counted() == 1, 15, what="daemon 2 recording the close")
        again = await connect_url(urls[0], u)  # daemon 1 now admits a second one
        await again.close()
        await first.close()

    try:
        run(scenario())
    finally:
        for name in ("chat-push-l1", "chat-push-l2"):
            servers.stop_proc(name)


def test_connections_per_user_limit_closes_4409(servers, make_user):
    u = make_user("many")

    async def scenario():
        held = [await connect(servers, u) for _ in range(20)]  # the default limit
        extra = await connect(servers, u, hello=False)
        err = await extra.recv()
        assert err["type"] == "error" and err["code"] == "too_many_connections"
        assert (await extra.closed())[0] == 4409
        await held.pop().close()
        again = await wait_for_admission(servers, u)
        await again.close()
        for c in held:
            await c.close()

    run(scenario())


async def wait_for_admission(servers, user):
    """Connects until the daemon has noticed an earlier close and admits the user."""
    deadline = time.monotonic() + RECV_TIMEOUT
    while True:
        c = await connect(servers, user, hello=False)
        first = await c.recv()
        if first["type"] == "hello":
            return c
        assert first["code"] == "too_many_connections"
        await c.closed()
        assert time.monotonic() < deadline, "never admitted again"
        await asyncio.sleep(0.1)


# ---- several daemons ------------------------------------------------------------------------


def test_clients_spread_over_three_daemons_get_every_event(servers, cluster, make_user):
    users = [make_user("m%d" % i) for i in range(6)]
    conv = group(cluster.api, users[0], users[1:])
    urls = [cluster.url_a, cluster.url_b, cluster.url_c] * 2
    per_user = 5

    async def scenario():
        clients = [await connect_url(url, u) for url, u in zip(urls, users)]
        sent = []
        loop = asyncio.get_running_loop()

        def writer(u):
            for i in range(per_user):
                sent.append(send(cluster.api, u, conv, "%s says %d" % (u["username"], i))["id"])
        threads = [threading.Thread(target=writer, args=(u,)) for u in users]
        for t in threads:
            t.start()
        await loop.run_in_executor(None, lambda: [t.join() for t in threads])
        expected = len(users) * per_user
        for url, c in zip(urls, clients):
            got = await c.events(is_msg(conv), expected, what="messages via " + url)
            assert sorted(f["data"]["id"] for f in got) == sorted(sent)
        for c in clients:
            await c.close()

    run(scenario())


def test_presence_across_two_daemons(servers, cluster, make_user):
    a, b, d = make_user("pra"), make_user("prb"), make_user("prd")
    conv = create_conv(cluster.api, a, [b])
    create_conv(cluster.api, d, [make_user("pre")])  # d shares nothing with a

    def presence(viewer, user, expect=200):
        r = requests.get("%s/api/users/%d/presence/" % (cluster.api, user["id"]),
                         headers=auth_headers(viewer), timeout=30)
        assert r.status_code == expect, r.text
        return r.json()

    async def scenario():
        cb = await connect_url(cluster.url_c, b)
        cd = await connect_url(cluster.url_b, d)
        ca = await connect_url(cluster.url_b, a)  # a comes online on daemon B
        f = await cb.wait_for(of_type("presence", user_id=a["id"], online=True))
        assert f["conversation_id"] is None
        assert f["data"]["user"] == {"id": a["id"], "username": a["username"],
                                     "display_name": a["display_name"], "avatar_url": None,
                                     "deleted": False, "is_bot": False}
        assert presence(b, a)["online"] is True
        assert presence(a, a)["online"] is True
        presence(d, a, expect=404)  # shares no conversation with a
        listed = requests.get(cluster.api + "/api/chat/conversations/", headers=auth_headers(b),
                              timeout=30).json()["results"]
        mine = [c for c in listed if c["id"] == conv][0]
        assert {p["id"]: p["online"] for p in mine["participants"]}[a["id"]] is True

        # Typing crosses daemons through the wake-up sockets (B over UDP to C's UNIX path).
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        f = await cb.wait_for(of_type("typing"))
        assert f["user"]["id"] == a["id"] and f["is_typing"] is True

        # A reconnect within the offline delay does not flap.
        await ca.close()
        ca = await connect_url(cluster.url_c, a)
        flaps = await nothing_more(cb, of_type("presence", user_id=a["id"], online=False))
        assert flaps == []
        # Going away for good: offline after the delay, with last_seen.
        await ca.close()
        f = await cb.wait_for(of_type("presence", user_id=a["id"], online=False), timeout=20)
        assert f["data"]["last_seen"]
        p = presence(b, a)
        assert p["online"] is False and p["last_seen"]
        # d never heard about a.
        assert not [f for f in cd.seen if f["type"] == "presence" and f["data"]["user_id"] == a["id"]]
        await cb.close()
        await cd.close()

    run(scenario())


def test_a_block_stops_typing_relayed_from_another_daemon(servers, cluster, make_user):
    """The typing filter holds on the daemon that receives a relay: a types on daemon B,
    b and c listen on daemon C; after a blocks b, c still hears a and b does not."""
    a, b, c = make_user("tba"), make_user("tbb"), make_user("tbc")
    conv = group(cluster.api, c, [a, b])

    async def scenario():
        cb = await connect_url(cluster.url_c, b)
        cc = await connect_url(cluster.url_c, c)
        ca = await connect_url(cluster.url_b, a)
        rest("POST", cluster.api + "/api/users/blocks/", a, {"user_id": b["id"]})
        # Daemon C has read the block: its presence event for b comes after block.changed.
        await cb.wait_for(lambda f: f["type"] == "presence" and f["data"].get("to_user_id") == b["id"])
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await cc.wait_for(lambda f: f["type"] == "typing" and f["user"]["id"] == a["id"])
        marker = send(cluster.api, c, conv, "marker")
        await cb.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == marker["id"])
        assert not [f for f in cb.seen if f["type"] == "typing"], cb.seen
        for client in (ca, cb, cc):
            await client.close()

    run(scenario())


def test_presence_is_not_fanned_out_through_large_groups(servers, make_user):
    """Presence goes through direct chats and groups of at most presence_max_group_size
    members; a larger group would cost the square of its size in frames."""
    a, b, c, d, e = (make_user(p) for p in ("lga", "lgb", "lgc", "lgd", "lge"))
    big = group(servers.httpd_url, a, [b, c, d])  # 4 members, over the bound of 3 below
    create_conv(servers.httpd_url, a, [e])        # a direct chat
    push_port = port(servers, 7)
    url = "ws://%s:%d/ws/" % (HOST, push_port)
    env = {"CHAT_PUSH_PORT": str(push_port), "CHAT_PRESENCE_MAX_GROUP_SIZE": "3",
           "CHAT_PUSH_WAKE_BIND": str(servers.run_dir / "chat-push-g.sock")}
    servers.spawn("chat-push-g", ["chat-push"], env, ready=lambda: port_open(HOST, push_port))

    async def scenario():
        cb = await connect_url(url, b)
        ce = await connect_url(url, e)
        ca = await connect_url(url, a)
        f = await ce.wait_for(of_type("presence", user_id=a["id"], online=True))
        assert f["data"]["user"]["id"] == a["id"]
        # b shares only the big group with a: no presence frame, but messages still flow.
        assert await nothing_more(cb, of_type("presence", user_id=a["id"])) == []
        rest("POST", conv_url(servers.httpd_url, big) + "messages/", a, {"text": "still here"})
        m = await cb.wait_for(of_type("message.created", conversation_id=big))
        assert m["data"]["text"] == "still here"
        for client in (ca, cb, ce):
            await client.close()

    try:
        run(scenario())
    finally:
        servers.stop_proc("chat-push-g")


# ---- crashes and outages ----------------------------------------------------------------------


def test_sigkill_during_burst_then_resume_loses_nothing(servers, make_user):
    a, b = make_user("ka"), make_user("kb")
    conv = create_conv(servers.httpd_url, a, [b])
    push_port = port(servers, 6)
    url = "ws://%s:%d/ws/" % (HOST, push_port)
    env = {"CHAT_PUSH_PORT": str(push_port),
           "CHAT_PUSH_WAKE_BIND": str(servers.run_dir / "chat-push-k.sock")}
    spawn = lambda: servers.spawn("chat-push-k", ["chat-push"], env,  # noqa: E731
                                  ready=lambda: port_open(HOST, push_port))
    total = 60

    async def scenario():
        proc = spawn()
        c = await connect_url(url, b)
        last = c.hello["last_event_id"]
        sent = []
        done = threading.Event()

        def writer():
            for i in range(total):
                sent.append(send(servers.httpd_url, a, conv, "burst %d" % i)["id"])
            done.set()
        t = threading.Thread(target=writer)
        t.start()
        got = {}
        try:
            while len(got) < total // 3:
                f = await c.recv()
                if is_msg(conv)(f):
                    got[f["data"]["id"]] = f["event_id"]
                    last = max(last, f["event_id"])
        finally:
            proc.popen.kill()  # SIGKILL in the middle of the burst
            proc.popen.wait()
            servers.procs.pop("chat-push-k", None)
        try:
            while True:
                f = await c.recv(timeout=2)
                if is_msg(conv)(f):
                    got[f["data"]["id"]] = f["event_id"]
                    last = max(last, f["event_id"])
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        spawn()
        c = await connect_url(url, b, query="?last_event_id=%d" % last)
        missing = set(sent) - set(got)
        while missing:
            f = await c.wait_for(is_msg(conv), what="resumed messages %s" % sorted(missing)[:5])
            missing.discard(f["data"]["id"])
        await c.close()
        servers.stop_proc("chat-push-k")

    run(scenario())


def test_mariadb_restart_daemon_survives_and_delivers(servers, make_user):
    a, b = make_user("da"), make_user("db")
    conv = create_conv(servers.httpd_url, a, [b])
    push = servers.procs["chat-push"]

    def health():
        try:
            return requests.get(servers.push_url + "/healthz", timeout=5)
        except requests.RequestException:
            return None

    async def scenario():
        c = await connect(servers, b)
        await asyncio.get_running_loop().run_in_executor(None, servers.restart_db, 2)
        assert push.popen.poll() is None  # still running
        wait_until(lambda: (health() or requests.Response()).status_code == 200, 30,
                   what="chat-push /healthz 200 after the restart")

        def send_when_up():
            def attempt():
                r = requests.post("%s/api/chat/conversations/%d/messages/" % (servers.httpd_url, conv),
                                  json={"text": "after the restart", "client_msg_id": "restart-1"},
                                  headers=auth_headers(a), timeout=30)
                return r.json() if r.status_code in (200, 201) else None
            return wait_until(attempt, 30, interval=0.3, what="the API after the restart")
        m = await asyncio.get_running_loop().run_in_executor(None, send_when_up)
        f = await c.wait_for(of_type("message.created", id=m["id"]), timeout=15)
        assert f["conversation_id"] == conv
        # New connections authenticate again.
        c2 = await connect(servers, a)
        await c2.close()
        await c.close()

    run(scenario())
    assert "MariaDB unavailable" in servers.log_path("chat-push").read_text()


# ---- fallbacks --------------------------------------------------------------------------------


def sse_lines(resp):
    """One line iterator per response (a second iter_lines would lose buffered bytes);
    chunk_size=1 so nothing waits for read-ahead."""
    return resp.iter_lines(chunk_size=1, decode_unicode=True)


def sse_events(lines, count, pred=lambda e: True):
    """Reads SSE records from sse_lines() until `count` match pred; returns them as dicts
    {id, data(parsed)}."""
    out, rec = [], {}
    for raw in lines:
        if raw == "":
            if "data" in rec:
                rec["data"] = json.loads(rec["data"])
                if pred(rec):
                    out.append(rec)
                    if len(out) >= count:
                        return out
            rec = {}
        elif raw.startswith("id: "):
            rec["id"] = int(raw[4:])
        elif raw.startswith("data: "):
            rec["data"] = rec.get("data", "") + raw[6:]
    raise AssertionError("stream ended after %r" % out)


@pytest.mark.parametrize("front", ["push", "nginx"])
def test_sse_stream_live_and_last_event_id(servers, make_user, front):
    base = servers.push_url if front == "push" else servers.nginx_url
    a, b = make_user("ea"), make_user("eb")
    conv = create_conv(servers.httpd_url, a, [b])
    url = base + "/events/stream/"
    with requests.get(url, headers=auth_headers(b), stream=True, timeout=15) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = sse_lines(r)
        hello = sse_events(lines, 1)[0]
        assert hello["data"]["type"] == "hello" and "id" not in hello
        m = send(servers.httpd_url, a, conv, "over SSE")
        ev = sse_events(lines, 1, lambda e: e["data"]["type"] == "message.created")[0]
        assert ev["data"]["data"]["id"] == m["id"] and ev["id"] == ev["data"]["event_id"]
    last = ev["id"]
    missed = [send(servers.httpd_url, a, conv, "missed %d" % i)["id"] for i in range(3)]
    headers = dict(auth_headers(b), **{"Last-Event-ID": str(last)})
    with requests.get(url, headers=headers, stream=True, timeout=15) as r:
        got = sse_events(sse_lines(r), 3, lambda e: e["data"]["type"] == "message.created"
                         and e["data"]["data"]["id"] in missed)
        assert [e["data"]["data"]["id"] for e in got] == missed


def test_long_poll(servers, make_user):
    a, b = make_user("la"), make_user("lb")
    conv = create_conv(servers.httpd_url, a, [b])
    url = servers.push_url + "/events/poll/"
    r = requests.get(url, params={"timeout": 0}, headers=auth_headers(b), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    start = r.json()
    assert start["events"] == [] and isinstance(start["last_event_id"], int)
    result = {}

    def poll():
        result["r"] = requests.get(url, params={"last_event_id": start["last_event_id"],
                                                "timeout": 20},
                                   headers=auth_headers(b), timeout=60)
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    m = send(servers.httpd_url, a, conv, "over long-poll")
    t.join()
    body = result["r"].json()
    msgs = [e for e in body["events"] if e["type"] == "message.created"]
    assert [e["data"]["id"] for e in msgs] == [m["id"]]
    assert body["last_event_id"] >= msgs[0]["event_id"]
    # Nothing new: the poll comes back empty after its timeout, with the same cursor or later.
    r = requests.get(url, params={"last_event_id": body["last_event_id"], "timeout": 1},
                     headers=auth_headers(b), timeout=30)
    assert r.status_code == 200 and r.json()["events"] == []
    assert r.json()["last_event_id"] >= body["last_event_id"]
    # Through nginx too.
    r = requests.get(servers.nginx_url + "/events/poll/", params={"timeout": 0},
                     headers=auth_headers(b), timeout=30)
    assert r.status_code == 200 and r.json()["events"] == []


@pytest.mark.parametrize("path", ["/events/poll/?timeout=0", "/events/stream/"])
def test_fallback_auth_and_origin_check(servers, make_user, path):
    u = make_user("fo")
    url = servers.push_url + path
    r = requests.get(url, timeout=15)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    r = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=15)
    assert r.status_code == 401 and set(r.json()) == {"detail", "code", "request_id"}
    cookie = {"Cookie": "chat_session=" + u["token"]}
    # A cookie sent by the browser from another site's page is refused.
    r = requests.get(url, headers=dict(cookie, Origin="http://evil.example"), timeout=15)
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    with requests.get(url, headers=dict(cookie, Origin=servers.ws_origin), stream=True,
                      timeout=15) as r:
        assert r.status_code == 200
        # The page's origin (another port under `make run`) may read the credentialed reply.
        assert r.headers.get("Access-Control-Allow-Origin") == servers.ws_origin
        assert r.headers.get("Access-Control-Allow-Credentials") == "true"
        assert "Origin" in r.headers.get("Vary", "")
    # A bearer token is not sent by browsers on their own: no Origin check, and no CORS
    # grant for an origin that is not allowed.
    with requests.get(url, headers=dict(auth_headers(u), Origin="http://evil.example"),
                      stream=True, timeout=15) as r:
        assert r.status_code == 200
        assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.get(servers.push_url + "/events/poll/?last_event_id=x", headers=auth_headers(u),
                     timeout=15)
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    r = requests.get(servers.push_url + "/events/poll/?timeout=61", headers=auth_headers(u),
                     timeout=15)
    assert r.status_code == 400


# ---- operations -------------------------------------------------------------------------------


def test_metrics_and_healthz(servers, make_user):
    u = make_user("mx")

    async def scenario():
        c = await connect(servers, u)
        text = requests.get(servers.push_url + "/metrics", timeout=15).text
        for name in ("chat_push_connections{kind=\"websocket\"}", "chat_push_events_read_total",
                     "chat_push_event_deliveries_total", "chat_push_queue_cutoffs_total",
                     "chat_push_loop_lag_seconds{stat=\"max\"}",
                     "chat_push_commit_to_send_seconds_bucket{le=\"+Inf\"}", "chat_push_db_up 1"):
            assert name in text, name
        ws_line = [ln for ln in text.splitlines()
                   if ln.startswith("chat_push_connections{kind=\"websocket\"}")][0]
        assert int(ws_line.split()[1]) >= 1
        await c.close()

    run(scenario())
    r = requests.get(servers.push_url + "/healthz", timeout=15)
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["db_connected"] is True
    # Not proxied by nginx: /metrics there is the application's 404.
    assert requests.get(servers.nginx_url + "/metrics", timeout=15).status_code == 404
