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
            r = long_poll(servers, b, last)
            assert r.status_code == 200, r.text
            seen = r.json()["events"]
            assert any(is_marker(f) and f["data"]["id"] == marker["id"] for f in seen), seen
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
