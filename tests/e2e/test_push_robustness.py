"""chat-push at its limits and in states the happy path never reaches: resume from
2^63-1, long Cookie headers and query arguments, odd frames, an SSE client that stops
reading, and an event in flight across a daemon restart. Helpers come from test_push.py."""

import re
import socket
import time
from urllib.parse import urlsplit

import requests

from helpers import auth_headers
from test_push import _insert_event, connect, create_conv, is_msg, run, send

INT64_MAX = 2 ** 63 - 1


def test_resume_from_int64_max_does_not_crash(servers, make_user):
    """A resume position of 2^63-1 (by frame, query string or Last-Event-ID) is answered,
    and the daemon keeps serving (it used to overflow n + 1 on the DB worker)."""
    a, b = make_user("ra"), make_user("rb")
    conv = create_conv(servers.httpd_url, a, [b])

    async def scenario():
        c = await connect(servers, b)
        await c.send({"type": "resume", "last_event_id": INT64_MAX})
        await c.barrier()
        c2 = await connect(servers, b, query="?last_event_id=%d" % INT64_MAX)
        await c2.barrier()
        m = send(servers.httpd_url, a, conv, "still alive")
        for cl in (c, c2):
            f = await cl.wait_for(is_msg(conv), what="message.created")
            assert f["data"]["id"] == m["id"]
            await cl.close()

    run(scenario())
    headers = dict(auth_headers(b), **{"Last-Event-ID": str(INT64_MAX)})
    with requests.get(servers.push_url + "/events/stream/", headers=headers, stream=True,
                      timeout=15) as r:
        assert r.status_code == 200
    r = requests.get(servers.push_url + "/healthz", timeout=15)
    assert r.status_code == 200, r.text


def test_cookie_auth_with_a_long_cookie_header(servers, make_user):
    """The session cookie is found when the Cookie header carries other long cookies
    (browsers send every cookie of the site)."""
    a, b = make_user("ca"), make_user("cb")
    conv = create_conv(servers.httpd_url, a, [b])
    cookie = "prefs=%s; chat_session=%s; tracking=%s" % ("p" * 300, b["token"], "t" * 300)

    async def scenario():
        c = await connect(servers, extra_headers={"Cookie": cookie})
        assert c.hello["user"]["id"] == b["id"]
        m = send(servers.httpd_url, a, conv, "long cookie")
        f = await c.wait_for(is_msg(conv), what="message.created")
        assert f["data"]["id"] == m["id"]
        await c.close()

    run(scenario())


def test_odd_frames_keep_the_daemon_serving(servers, make_user):
    """Empty, binary, fragmented and out-of-range frames, before and after auth: each gets
    an error (or is served) and the connection and the daemon keep working."""
    a, b = make_user("oa"), make_user("ob")
    conv = create_conv(servers.httpd_url, a, [b])
    huge = "9" * 30

    async def scenario():
        pre = await connect(servers, hello=False)
        for frame in ("", b"", '{"type":"message.send","conversation_id":%s}' % huge,
                      '{"type":"resume","last_event_id":%s}' % huge):
            await pre.ws.send(frame)
        await pre.send({"type": "auth", "token": b["token"]})
        await pre.wait_for(lambda f: f["type"] == "hello", what="hello")
        c = await connect(servers, b)
        frames = [
            "", b"", b"\xff\xfe",
            ['{"type":', '"ping"}'],            # fragmented text message
            [b'{"type":', b'"ping"}'],          # fragmented binary message
            ['', '', '{"type":"ping"}', ''],     # empty fragments
            '{"type":"typing","conversation_id":%s,"is_typing":true}' % huge,
            '{"type":"typing","conversation_id":-1,"is_typing":true}',
            '{"type":"typing","conversation_id":1e400,"is_typing":true}',
            '{"type":"read","conversation_id":%d,"message_id":%s}' % (conv, huge),
            '{"type":"delivered","conversation_id":%s,"message_id":-5}' % huge,
            '{"type":"message.send","conversation_id":%d,"text":"x","client_msg_id":"r1",'
            '"reply_to":-%s}' % (conv, huge),
            '{"type":"message.send","conversation_id":%d,"text":"x","client_msg_id":"r2",'
            '"attachment_ids":[%s,-1]}' % (conv, huge),
            '{"type":"resume","last_event_id":-1}',
            '{"type":"auth","token":"x"}',
        ]
        for frame in frames:
            await c.ws.send(frame)
        await c.barrier()
        for cl in (pre, c):
            m = send(servers.httpd_url, a, conv, "after odd frames")
            f = await cl.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == m["id"],
                                  what="message.created")
            assert f["data"]["text"] == "after odd frames"
        await pre.close()
        await c.close()

    run(scenario())
    assert requests.get(servers.push_url + "/healthz", timeout=15).status_code == 200


def _metric(servers, name):
    text = requests.get(servers.push_url + "/metrics", timeout=15).text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text)
    return int(m.group(1))


def test_sse_client_that_stops_reading_is_closed(servers, make_user):
    """An SSE client that stops reading is cut off (queue bound) and its connection is
    then really closed, although the socket never becomes writable again (it used to
    stay open for good, holding the user's connection slot)."""
    a, b = make_user("sa"), make_user("sb")
    conv = create_conv(servers.httpd_url, a, [b])
    sse = 'chat_push_connections{kind="sse"}'
    before = _metric(servers, sse)
    cutoffs = _metric(servers, "chat_push_queue_cutoffs_total")
    parts = urlsplit(servers.push_url)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((parts.hostname, parts.port))
    try:
        s.sendall(("GET /events/stream/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                   "\r\n\r\n" % b["token"]).encode())
        deadline = time.monotonic() + 15
        while _metric(servers, sse) <= before:
            assert time.monotonic() < deadline, "the stream never opened"
            time.sleep(0.1)
        # Batches under the 1 MiB queue bound, so the socket buffers fill up first and
        # the cut-off comes while the socket is not writable.
        db = servers.db_connect(autocommit=True)
        try:
            cur = db.cursor()
            for _ in range(200):
                for _ in range(10):
                    _insert_event(cur, conv, "test.bulk", {"pad": "x" * 20000})
                time.sleep(0.3)
                if _metric(servers, "chat_push_queue_cutoffs_total") > cutoffs:
                    break
            else:
                raise AssertionError("the slow stream was never cut off")
        finally:
            db.close()
        deadline = time.monotonic() + 90
        while _metric(servers, sse) > before:
            assert time.monotonic() < deadline, "the cut-off stream is still open"
            time.sleep(0.5)
    finally:
        s.close()
        servers.db("DELETE FROM events WHERE type = 'test.bulk'")


def test_event_in_flight_across_a_restart_is_delivered(servers, make_user):
    """An event whose transaction is open when chat-push starts (its id is below the
    MAX(id) the daemon starts tailing after) is delivered live once it commits; it used
    to count as already seen."""
    a, b = make_user("ia"), make_user("ib")
    conv = create_conv(servers.httpd_url, a, [b])
    held = servers.db_connect()
    try:
        hcur = held.cursor()
        held.begin()
        first = _insert_event(hcur, conv, "test.held", {"n": "held"})
        quick = servers.db_connect(autocommit=True)
        try:
            second = _insert_event(quick.cursor(), conv, "test.quick", {"n": "quick"})
        finally:
            quick.close()
        assert second > first
        servers.restart_push()

        async def scenario():
            c = await connect(servers, b)
            assert c.hello["last_event_id"] >= second
            held.commit()
            f = await c.wait_for(lambda f: f["type"] == "test.held",
                                 what="event committed after the restart")
            assert f["event_id"] == first and f["data"] == {"n": "held"}
            await c.close()

        run(scenario())
    finally:
        held.close()
        servers.db("DELETE FROM events WHERE type IN ('test.held', 'test.quick')")


def test_resume_query_after_a_long_argument(servers, make_user):
    """?last_event_id=N is honoured when an earlier query argument is long (it used to be
    ignored: the lookup stopped at the first argument that did not fit its buffer, and
    the client silently missed what it asked for)."""
    a, b = make_user("qa"), make_user("qb")
    conv = create_conv(servers.httpd_url, a, [b])
    send(servers.httpd_url, a, conv, "before")
    last = servers.db("SELECT MAX(id) FROM events")[0][0]
    missed = send(servers.httpd_url, a, conv, "missed")

    async def scenario():
        c = await connect(servers, b, query="?pad=%s&last_event_id=%d" % ("p" * 200, last))
        # The window may replay "before" too (at-least-once); "missed" must come.
        f = await c.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == missed["id"],
                             what="the missed message")
        assert f["data"]["text"] == "missed"
        await c.close()

    run(scenario())
