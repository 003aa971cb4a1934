"""A deleted message's text is gone from everything the push daemon can replay, and
retention runs by itself in the push daemons, one host per interval (security item 3;
docs/protocol.md "Resume after a delete", docs/ARCHITECTURE.md "Cleanup").

The deletion tests are written as the attacker: Dave is added to the group after Alice
deleted her messages and asks every transport for the whole backlog; every frame's raw
text is searched for the old texts. Each replay ends at a marker message sent after
Dave was added, so "never seen" means "not in anything before the marker".
"""

import asyncio
import json
import re
import time
import uuid
from datetime import datetime

import pymysql
import requests
import websockets

import conftest
from api_helpers import conv_url, msg_url, parts_url, request
from helpers import auth_headers, port_open, wait_until
from test_push import RECV_TIMEOUT, create_conv, run, send, ws_base
from test_push_realtime import sse_lines

HOST = "127.0.0.1"


def secret_texts():
    tag = uuid.uuid4().hex[:8]
    return {"plain": "s3cret-" + tag, "draft1": "s3cret-draft-one-" + tag,
            "draft2": "s3cret-draft-two-" + tag, "draft3": "s3cret-draft-three-" + tag}


def deleted_history(servers, alice, bob, carol, dave):
    """Alice's group with Bob: a message that is renamed over and quoted as last_message
    in conversation.updated and participant.added events, then deleted; a second one
    edited twice, then deleted; then Dave is added and Alice sends a marker.
    Returns (conversation id, secret texts, deleted message ids, marker message)."""
    api = servers.httpd_url
    texts = secret_texts()
    conv = create_conv(api, alice, [bob], is_group=True)
    plain = send(api, alice, conv, texts["plain"])
    # Both carry the conversation with last_message = the secret.
    assert request("PATCH", conv_url(api, conv), alice, {"name": "team"}).status_code == 200
    assert request("POST", parts_url(api, conv), alice,
                   {"user_id": carol["id"]}).status_code in (200, 201)
    edited = send(api, alice, conv, texts["draft1"])
    for t in ("draft2", "draft3"):
        r = request("PATCH", msg_url(api, conv, edited["id"]), alice, {"text": texts[t]})
        assert r.status_code == 200, r.text
    # Before the delete, the log does hold the texts (the test can fail).
    rows = servers.db("SELECT payload FROM events WHERE conversation_id = %s", (conv,))
    for t in texts.values():
        assert any(t in p for (p,) in rows), t
    for m in (edited, plain):
        assert request("DELETE", msg_url(api, conv, m["id"]), alice).status_code == 204
    assert request("POST", parts_url(api, conv), alice,
                   {"user_id": dave["id"]}).status_code in (200, 201)
    marker = send(api, alice, conv, "marker after the delete")
    return conv, texts, {plain["id"], edited["id"]}, marker


def assert_clean(raw_frames, texts):
    for raw in raw_frames:
        assert "s3cret" not in raw, raw
        for t in texts.values():
            assert t not in raw, raw


def tombstones(frames, deleted_ids):
    """The message.deleted tombstones among parsed event frames, by message id."""
    out = {}
    for f in frames:
        if f.get("type") == "message.deleted" and f["data"]["id"] in deleted_ids:
            assert f["data"]["deleted"] is True and f["data"]["text"] == ""
            assert f["data"]["attachments"] == []
            out[f["data"]["id"]] = f
    return out


def test_resume_after_delete_never_returns_the_text(servers, make_user):
    alice, bob, carol, dave = (make_user(p) for p in ("da", "db", "dc", "dd"))
    conv, texts, deleted_ids, marker = deleted_history(servers, alice, bob, carol, dave)

    # The log itself: the rows keep their ids and types, the payloads hold no text.
    rows = servers.db("SELECT id, type, message_id, payload FROM events "
                      "WHERE conversation_id = %s ORDER BY id", (conv,))
    assert_clean([p for (_, _, _, p) in rows], texts)
    created = [r for r in rows if r[1] == "message.created" and r[2] in deleted_ids]
    assert len(created) == 2
    for (_, _, _, p) in created:
        data = json.loads(p)
        assert data["deleted"] is True and data["text"] == "" and data["attachments"] == []
    assert len([r for r in rows if r[1] == "message.updated"]) == 2
    for (_, type_, _, p) in rows:
        if type_ == "conversation.updated":
            assert json.loads(p)["last_message"]["deleted"] is True
        if type_ == "participant.added" and json.loads(p)["user_id"] == carol["id"]:
            assert json.loads(p)["conversation"]["last_message"]["deleted"] is True

    def is_marker(f):
        return f.get("type") == "message.created" and f["data"]["id"] == marker["id"]

    # WebSocket, connecting with ?last_event_id=1.
    async def websocket():
        raw = []
        async with websockets.connect(
                ws_base(servers) + "/ws/?last_event_id=1", open_timeout=10,
                extra_headers={"Authorization": "Bearer " + dave["token"]},
                max_size=2 ** 24) as ws:
            deadline = time.monotonic() + RECV_TIMEOUT
            while True:
                raw.append(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                f = json.loads(raw[-1])
                assert f["type"] != "resync_required", f
                if is_marker(f):
                    return raw
    ws_raw = run(websocket())
    assert_clean(ws_raw, texts)
    ws_frames = [json.loads(r) for r in ws_raw]
    assert set(tombstones(ws_frames, deleted_ids)) == deleted_ids
    # The scrubbed message.created rows are replayed as tombstones, ids unchanged.
    scrubbed = [f for f in ws_frames if f["type"] == "message.created"
                and f["data"]["id"] in deleted_ids]
    assert [f["event_id"] for f in scrubbed] == [r[0] for r in created]
    assert all(f["data"]["deleted"] for f in scrubbed)

    # SSE, with the Last-Event-ID header and with the query parameter.
    def sse(url, headers):
        raw = []
        with requests.get(url, headers=dict(auth_headers(dave), **headers), stream=True,
                          timeout=15) as r:
            assert r.status_code == 200
            for line in sse_lines(r):
                raw.append(line)
                if line.startswith("data: ") and is_marker(json.loads(line[6:])):
                    return raw
        raise AssertionError("SSE ended before the marker: %r" % raw[-5:])
    for url, headers in ((servers.push_url + "/events/stream/", {"Last-Event-ID": "0"}),
                         (servers.push_url + "/events/stream/?last_event_id=0", {})):
        raw = sse(url, headers)
        assert_clean(raw, texts)
        frames = [json.loads(x[6:]) for x in raw if x.startswith("data: ")]
        assert set(tombstones(frames, deleted_ids)) == deleted_ids

    # Long-poll from 0, page by page until the marker.
    raw, cursor, frames = [], 0, []
    deadline = time.monotonic() + RECV_TIMEOUT
    while not any(is_marker(f) for f in frames):
        assert time.monotonic() < deadline, frames[-3:]
        r = requests.get(servers.push_url + "/events/poll/",
                         params={"last_event_id": cursor, "timeout": 5},
                         headers=auth_headers(dave), timeout=30)
        assert r.status_code == 200, r.text
        raw.append(r.text)
        frames += r.json()["events"]
        cursor = r.json()["last_event_id"]
    assert_clean(raw, texts)
    assert set(tombstones(frames, deleted_ids)) == deleted_ids

    # And REST agrees: tombstones only.
    r = request("GET", conv_url(servers.httpd_url, conv) + "messages/", dave)
    assert_clean([r.text], texts)


def test_edit_without_delete_keeps_its_history_in_the_log(servers, make_user):
    """The scrub is only for deletes: an edited message's events keep their texts, and
    deleting another message of the conversation touches none of them."""
    alice, bob = make_user("ea"), make_user("eb")
    api = servers.httpd_url
    conv = create_conv(api, alice, [bob], is_group=True)
    kept = send(api, alice, conv, "kept-original")
    assert request("PATCH", msg_url(api, conv, kept["id"]), alice,
                   {"text": "kept-edited"}).status_code == 200
    gone = send(api, alice, conv, "gone-text")
    assert request("DELETE", msg_url(api, conv, gone["id"]), alice).status_code == 204
    payloads = " ".join(p for (p,) in servers.db(
        "SELECT payload FROM events WHERE conversation_id = %s", (conv,)))
    assert "kept-original" in payloads and "kept-edited" in payloads
    assert "gone-text" not in payloads


# ---- retention in the push daemons ------------------------------------------------------------

RUN_LINE = re.compile(r"^(\S+) .*retention: ran: ")


def runs(servers, names):
    """The start times (log timestamps) of the retention runs logged by these daemons."""
    out = []
    for n in names:
        path = servers.log_path(n)
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                m = RUN_LINE.match(line)
                if m:
                    out.append(datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ"))
    return sorted(out)


def test_retention_runs_in_the_push_daemons_one_at_a_time(servers, make_user):
    interval = 2
    user = make_user("rt")
    conv = create_conv(servers.httpd_url, user, [make_user("rt")])
    old_event = servers.db("SELECT MAX(id) FROM events WHERE conversation_id = %s", (conv,))[0][0]
    servers.db("UPDATE events SET created_at = NOW(6) - INTERVAL 1000 HOUR WHERE id = %s",
               (old_event,))
    conn = servers.db_connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO attachments (uploader_id, filename, content_type, size, sha256, "
                    "created_at) VALUES (%s, 'old.txt', 'text/plain', 1, %s, "
                    "NOW(6) - INTERVAL 25 HOUR)", (user["id"], "0" * 64))
        old_upload = cur.lastrowid
        cur.execute("INSERT INTO attachments (uploader_id, filename, content_type, size, sha256) "
                    "VALUES (%s, 'new.txt', 'text/plain', 1, %s)", (user["id"], "1" * 64))
        new_upload = cur.lastrowid
    conn.close()
    bucket = "test-idle-" + uuid.uuid4().hex[:8]
    servers.db("INSERT INTO rate_buckets (bucket, tokens, updated_at) "
               "VALUES (%s, 1, UNIX_TIMESTAMP(NOW(6)) - 7200)", (bucket,))
    fresh_bucket = bucket + "-fresh"
    servers.db("INSERT INTO rate_buckets (bucket, tokens, updated_at) "
               "VALUES (%s, 1, UNIX_TIMESTAMP(NOW(6)))", (fresh_bucket,))

    names = ["chat-push-ret%d" % i for i in range(2)]
    for i, name in enumerate(names):
        port = conftest.PORT_BASE + 40 + i
        env = {"CHAT_PUSH_PORT": str(port), "CHAT_RETENTION_INTERVAL_S": str(interval),
               "CHAT_PUSH_WAKE_BIND": str(servers.run_dir / ("%s.sock" % name))}
        servers.spawn(name, ["chat-push"], env, ready=lambda p=port: port_open(HOST, p))
    try:
        # The first run of either daemon started after the rows were written.
        wait_until(lambda: len(runs(servers, names)) >= 1, timeout=15, what="a retention run")
        assert servers.db("SELECT COUNT(*) FROM events WHERE id = %s", (old_event,)) == ((0,),)
        left = {r[0] for r in servers.db("SELECT id FROM attachments WHERE id IN (%s, %s)",
                                         (old_upload, new_upload))}
        assert left == {new_upload}
        assert servers.db("SELECT bucket FROM rate_buckets WHERE bucket IN (%s, %s)",
                          (bucket, fresh_bucket)) == ((fresh_bucket,),)

        # Two daemons, one run per interval between them: over a few intervals the runs
        # are interval apart, not two at a time.
        start = len(runs(servers, names))
        wait_until(lambda: len(runs(servers, names)) >= start + 3, timeout=20,
                   what="three more runs")
        times = runs(servers, names)
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert min(gaps) >= interval * 0.75, gaps  # two unsynchronised daemons: under interval / 2

        # While another connection holds the lock, no daemon runs; once it is released,
        # one does.
        holder = pymysql.connect(unix_socket=servers.db_socket, user="chat", password="chat",
                                 database="chat", autocommit=True)
        try:
            with holder.cursor() as cur:
                cur.execute("SELECT GET_LOCK('chat_retention', 10)")
                assert cur.fetchone() == (1,)
                held = len(runs(servers, names))
                time.sleep(3 * interval)
                assert len(runs(servers, names)) == held
                cur.execute("SELECT RELEASE_LOCK('chat_retention')")
        finally:
            holder.close()
        wait_until(lambda: len(runs(servers, names)) > held, timeout=15,
                   what="a run after the lock was released")
    finally:
        for name in names:
            servers.stop_proc(name)
    # chatctl gc still works beside them (chat-gc.timer), and says what it removed.
    assert "gc: removed" in servers.chatctl("gc").stdout


def test_retention_deletes_audit_entries_older_than_the_setting(servers):
    """audit_retention_days (365): retention deletes older audit entries and keeps the
    rest; 0 keeps every entry. The session's push daemons, which run retention on their
    own schedule with the default, are kept out by claiming this interval's run first."""
    servers.db("UPDATE maintenance_runs SET last_run_at = NOW(6) WHERE task = 'retention'")
    marker = "ar" + uuid.uuid4().hex[:8]

    def add(days_ago):
        servers.db("INSERT INTO audit_log (created_at, actor_name, action, detail) VALUES "
                   "(NOW(6) - INTERVAL %s DAY, %s, 'test.retention', %s)",
                   (days_ago, marker, str(days_ago)))

    def left():
        return sorted(int(d) for (d,) in servers.db(
            "SELECT detail FROM audit_log WHERE actor_name = %s", (marker,)))

    def gc(days):
        env = dict(servers.env, CHAT_AUDIT_RETENTION_DAYS=str(days))
        out = servers.chatctl("gc", env=env).stdout
        return int(re.search(r"(\d+) audit entries", out).group(1))

    for days_ago in (1000, 400, 10, 0):
        add(days_ago)
    assert gc(0) == 0
    assert left() == [0, 10, 400, 1000]
    assert gc(365) >= 2
    assert left() == [0, 10]
    assert gc(5) >= 1
    assert left() == [0]
