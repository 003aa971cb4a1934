"""Offline notifications through webhooks (issue 13, item 5; docs/WEBHOOKS.md): chat-notify
posts a signed notification to a real HTTP receiver started here for every user a
message would notify who stayed offline for notify_offline_delay_s (2 s in the test
config). Absence is always proven by a later notification that does arrive (chat-notify
evaluates events in id order, and the database then shows no delivery either), never by
a sleep. Tests that need "before the due time" to be certain stop the session's
chat-notify first, change the state, and start it again."""

import asyncio
import datetime
import re
import subprocess
import threading

import pytest

from api_helpers import group, msg_url, request
from helpers import wait_until
from test_api import RFC3339_UTC, conv_url, create_conv, send
from test_push import connect
from webhook_helpers import (RECEIVER_PORT, SLOW_RECEIVER_PORT, WAIT, Receiver, add_webhook,
                             deliveries, remove_webhook, signed_by, verify, wait_delivery_state,
                             webhook_at)


@pytest.fixture
def hook(servers):
    """A receiver on RECEIVER_PORT and an offline webhook pointing at it:
    (receiver, webhook id, secret). Removed afterwards, so no later test's messages
    go to it."""
    receiver = Receiver(RECEIVER_PORT)
    with webhook_at(servers, receiver) as (webhook_id, secret):
        yield receiver, webhook_id, secret


@pytest.fixture
def notifier_paused(servers):
    """Stops the session's chat-notify for the test's first part; the test calls the
    yielded function to start it again (also done at teardown if it did not)."""
    state = {"running": False}
    servers.stop_proc("chat-notify")

    def resume():
        servers.start_notify()
        state["running"] = True

    yield resume
    if not state["running"]:
        servers.start_notify()


def wait_failed_attempts(servers, webhook_id, message_id, count=1):
    """Waits until the delivery of message_id to webhook_id has failed count times."""
    wait_until(lambda: [d for d in deliveries(servers, webhook_id=webhook_id, message_id=message_id)
                        if d[2] >= count and d[3]], WAIT, what="%d failed attempts" % count)


def for_message(message_id, user_id=None):
    def pred(r):
        body = r["json"]
        return (body.get("type") == "message.notification" and body["message"]["id"] == message_id
                and (user_id is None or body["user"]["id"] == user_id))
    return pred


def test_offline_user_gets_a_signed_notification(servers, make_user, hook):
    receiver, webhook_id, secret = hook
    a, b = make_user("wa", display_name="Wa Sender"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    text = "é" * 300  # longer than notify_preview_chars (200)
    m = send(servers.httpd_url, a, conv["id"], text)
    [got] = receiver.wait_for(for_message(m["id"], b["id"]), "b's notification")
    assert got["path"] == "/hook"
    assert got["headers"]["Content-Type"] == "application/json"
    assert verify(secret, got["headers"]["X-Chat-Signature"], got["body"])
    # The signature covers the body: one changed byte does not verify.
    assert not verify(secret, got["headers"]["X-Chat-Signature"], got["body"] + b" ")
    assert not verify("wrong-secret", got["headers"]["X-Chat-Signature"], got["body"])
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", got["headers"]["X-Chat-Signature"])
    [row] = deliveries(servers, webhook_id=webhook_id, message_id=m["id"])
    assert got["headers"]["X-Chat-Delivery"] == str(row[0])
    assert got["headers"]["X-Chat-Attempt"] == "1"
    body = got["json"]
    assert body["user"] == {"id": b["id"], "username": b["username"],
                            "display_name": b["display_name"], "is_bot": False}
    assert body["conversation"] == {"id": conv["id"], "name": None, "is_group": False}
    assert body["message"]["sender"] == {"id": a["id"], "username": a["username"],
                                         "display_name": "Wa Sender", "is_bot": False}
    assert body["message"]["text_preview"] == "é" * 200
    assert body["message"]["created_at"] == m["created_at"]
    assert RFC3339_UTC.match(body["message"]["created_at"])
    assert body["mentioned"] is False
    assert sorted(body) == ["conversation", "mentioned", "message", "type", "user"]
    # The sender is never notified of their own message.
    assert receiver.matching(for_message(m["id"], a["id"])) == []
    wait_delivery_state(servers, "delivered", id=row[0])


def test_online_user_is_not_notified(servers, make_user, hook):
    receiver, webhook_id, _ = hook
    a, online, offline = make_user("wa"), make_user("won"), make_user("woff")
    conv = group(servers.httpd_url, a, [online, offline])

    async def scenario():
        ws = await connect(servers, online)
        try:
            m1 = send(servers.httpd_url, a, conv["id"], "while you are here")
            # The offline member's notification of the same message arrives...
            receiver.wait_for(for_message(m1["id"], offline["id"]), "offline member's notification")
            # ... and a later message, also evaluated after m1, to the offline member.
            m2 = send(servers.httpd_url, a, conv["id"], "marker")
            receiver.wait_for(for_message(m2["id"], offline["id"]), "marker notification")
            return m1, m2
        finally:
            await ws.close()

    m1, m2 = asyncio.run(scenario())
    assert receiver.matching(for_message(m1["id"], online["id"])) == []
    assert receiver.matching(for_message(m2["id"], online["id"])) == []
    assert deliveries(servers, webhook_id=webhook_id, user_id=online["id"]) == ()


def test_read_or_connected_before_due_is_not_notified(servers, make_user, hook, notifier_paused):
    """Decided at due time: a user who read the message, or connected after it was sent
    (and left again), saw it; only the one who did neither is notified."""
    receiver, webhook_id, _ = hook
    a, reader, visitor, away = make_user("wa"), make_user("wrd"), make_user("wvi"), make_user("waw")
    conv = group(servers.httpd_url, a, [reader, visitor, away])
    m = send(servers.httpd_url, a, conv["id"], "did you see this?")
    r = request("POST", conv_url(servers.httpd_url, conv["id"]) + "read/", reader,
                {"message_id": m["id"]})
    assert r.status_code == 200, r.text

    async def visit():
        ws = await connect(servers, visitor)
        await ws.close()

    asyncio.run(visit())
    notifier_paused()  # chat-notify starts again: m is long due
    [got] = receiver.wait_for(for_message(m["id"], away["id"]), "away member's notification")
    marker = send(servers.httpd_url, a, conv["id"], "marker")
    receiver.wait_for(for_message(marker["id"], away["id"]), "marker notification")
    assert {r["json"]["user"]["id"] for r in receiver.matching(for_message(m["id"]))} == {away["id"]}
    for user in (reader, visitor):
        assert deliveries(servers, webhook_id=webhook_id, user_id=user["id"], message_id=m["id"]) == ()
    # Both are notified of the marker, which they neither read nor were online for.
    receiver.wait_for(for_message(marker["id"]), "the marker's three notifications", count=3)


def test_levels_and_mute_are_honoured(servers, make_user, hook, notifier_paused):
    receiver, webhook_id, _ = hook
    a = make_user("wa")
    none, mentions_only, mentioned, muted, muted_past, default = (
        make_user(p) for p in ("wnone", "wment", "wmtd", "wmute", "wmpast", "wdef"))
    members = [none, mentions_only, mentioned, muted, muted_past, default]
    conv = group(servers.httpd_url, a, members)
    cid = conv["id"]

    def setting(user, level, muted_until=None):
        r = request("PUT", conv_url(servers.httpd_url, cid) + "notifications/", user,
                    {"level": level, "muted_until": muted_until})
        assert r.status_code == 200, r.text

    setting(none, "none")
    setting(mentions_only, "mentions")
    setting(mentioned, "mentions")
    tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
    setting(muted, None, tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ"))
    # A mute that has run out (the API only takes future times, so it is written as one
    # whose time has passed).
    servers.db("UPDATE participants SET muted_until = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR "
               "WHERE conversation_id = %s AND user_id = %s", (cid, muted_past["id"]))
    m = send(servers.httpd_url, a, cid, "@%s look" % mentioned["username"])
    assert servers.db("SELECT user_id FROM message_mentions WHERE message_id = %s",
                      (m["id"],)) == ((mentioned["id"],),)
    notifier_paused()
    expected = {mentioned["id"], muted_past["id"], default["id"]}
    got = receiver.wait_for(for_message(m["id"]), "three notifications", count=3)
    marker = send(servers.httpd_url, a, cid, "marker")
    receiver.wait_for(for_message(marker["id"], default["id"]), "marker notification")
    got = receiver.matching(for_message(m["id"]))
    assert sorted(r["json"]["user"]["id"] for r in got) == sorted(expected)
    assert {r["json"]["user"]["id"]: r["json"]["mentioned"] for r in got} == {
        mentioned["id"]: True, muted_past["id"]: False, default["id"]: False}
    for user in (none, mentions_only, muted):
        assert deliveries(servers, webhook_id=webhook_id, user_id=user["id"], message_id=m["id"]) == ()


def test_large_group_defaults_to_mentions(servers, make_user, hook, notifier_paused):
    """More than 50 participants: a NULL level means 'mentions', so only the mentioned
    member is notified."""
    receiver, webhook_id, _ = hook
    a, mentioned, quiet = make_user("wa"), make_user("wbig"), make_user("wq")
    conv = group(servers.httpd_url, a, [mentioned, quiet])
    cid = conv["id"]
    # 49 more participants, inserted directly (registering them would take longer and
    # prove nothing more): 52 in all.
    for i in range(49):
        servers.db("INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, '!')",
                   ("wfill_%d_%d" % (cid, i), "filler"))
        servers.db("INSERT INTO participants (conversation_id, user_id) "
                   "SELECT %s, id FROM users WHERE username = %s", (cid, "wfill_%d_%d" % (cid, i)))
    m = send(servers.httpd_url, a, cid, "@%s only you" % mentioned["username"])
    notifier_paused()
    receiver.wait_for(for_message(m["id"], mentioned["id"]), "the mentioned member's notification")
    # A quiet member's own level 'all' is the marker: it notifies.
    r = request("PUT", conv_url(servers.httpd_url, cid) + "notifications/", quiet,
                {"level": "all", "muted_until": None})
    assert r.status_code == 200, r.text
    marker = send(servers.httpd_url, a, cid, "marker")
    receiver.wait_for(for_message(marker["id"], quiet["id"]), "marker notification")
    assert [r["json"]["user"]["id"] for r in receiver.matching(for_message(m["id"]))] == [mentioned["id"]]
    assert len(deliveries(servers, webhook_id=webhook_id, message_id=m["id"])) == 1


def test_receiver_down_then_up_is_delivered_once(servers, make_user):
    receiver = Receiver(RECEIVER_PORT)
    webhook_id, secret = add_webhook(servers, receiver.url)
    try:
        a, b = make_user("wa"), make_user("wb")
        conv = create_conv(servers.httpd_url, a, [b])
        m = send(servers.httpd_url, a, conv["id"], "are you there?")
        # Nothing listens: connection refused, retried with backoff.
        wait_failed_attempts(servers, webhook_id, m["id"], 2)
        [row] = deliveries(servers, webhook_id=webhook_id, message_id=m["id"])
        assert row[1] == "pending"
        assert "onnect" in row[3], row  # curl's "Couldn't connect" / "Connection refused"
        # Up, but failing: 500 is retried too.
        receiver.status = 500
        receiver.start()
        receiver.wait_for(lambda r: r["answered"] == 500, "an attempt answered 500")
        wait_until(lambda: deliveries(servers, id=row[0])[0][3] == "HTTP 500", WAIT,
                   what="HTTP 500 recorded")
        receiver.status = 200
        [ok] = receiver.wait_for(lambda r: r["answered"] == 200, "the delivery")
        wait_delivery_state(servers, "delivered", id=row[0])
        marker = send(servers.httpd_url, a, conv["id"], "marker")
        receiver.wait_for(for_message(marker["id"], b["id"]), "marker notification")
        attempts = receiver.matching(for_message(m["id"], b["id"]))
        assert [r["answered"] for r in attempts].count(200) == 1
        assert {r["headers"]["X-Chat-Delivery"] for r in attempts} == {str(row[0])}
        assert all(signed_by(secret)(r) for r in attempts)
        # Each attempt numbers itself: the refused ones came first.
        numbers = [int(r["headers"]["X-Chat-Attempt"]) for r in attempts]
        assert numbers == sorted(numbers) and numbers[0] >= 3, numbers
        assert deliveries(servers, id=row[0])[0][2] == numbers[-1]
    finally:
        remove_webhook(servers, webhook_id)
        receiver.stop()


def test_a_silent_receiver_does_not_hold_up_others(servers, make_user, hook):
    """A receiver that accepts the request and does not answer holds one transfer; the
    other webhook's delivery of the same notification arrives while it still hangs."""
    receiver, _, _ = hook
    slow = Receiver(SLOW_RECEIVER_PORT)
    slow.hold = threading.Event()
    with webhook_at(servers, slow):
        a, b = make_user("wa"), make_user("wb")
        conv = create_conv(servers.httpd_url, a, [b])
        m = send(servers.httpd_url, a, conv["id"], "one slow receiver")
        assert slow.holding.wait(WAIT), "the slow receiver got no request"
        receiver.wait_for(for_message(m["id"], b["id"]), "the other webhook's delivery")
        assert not slow.hold.is_set() and slow.requests == []  # still hanging
        slow.hold.set()
        slow.wait_for(for_message(m["id"], b["id"]), "the slow receiver's delivery")


def test_redirects_are_not_followed(servers, make_user, hook):
    receiver, webhook_id, _ = hook
    target = Receiver(SLOW_RECEIVER_PORT)
    target.start()
    receiver.status, receiver.location = 307, target.url
    try:
        a, b = make_user("wa"), make_user("wb")
        conv = create_conv(servers.httpd_url, a, [b])
        m = send(servers.httpd_url, a, conv["id"], "follow me")
        receiver.wait_for(for_message(m["id"], b["id"]), "two answered attempts", count=2)
        [row] = deliveries(servers, webhook_id=webhook_id, message_id=m["id"])
        assert row[1] == "pending" and row[3] == "HTTP 307", row
        receiver.status, receiver.location = 200, None
        wait_delivery_state(servers, "delivered", id=row[0])
        assert target.requests == []
    finally:
        target.stop()


def test_https_receivers_are_verified(servers, make_user):
    """An HTTPS receiver whose certificate no trusted CA signed is refused (the attempt
    fails with a certificate error); with notify_ca_file naming its CA it is delivered."""
    tls = Receiver(SLOW_RECEIVER_PORT, tls=(servers.tls_cert, servers.tls_key))
    with webhook_at(servers, tls) as (tls_id, secret):
        try:
            _https_delivery(servers, make_user, tls, tls_id, secret)
        finally:
            servers.stop_proc("chat-notify-ca")
            if "chat-notify" not in servers.procs:
                servers.start_notify()


def _https_delivery(servers, make_user, tls, tls_id, secret):
    """The first notifier fails on the certificate; one with notify_ca_file delivers."""
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    m = send(servers.httpd_url, a, conv["id"], "over TLS")
    wait_failed_attempts(servers, tls_id, m["id"])
    [row] = deliveries(servers, webhook_id=tls_id, message_id=m["id"])
    assert "certificate" in row[3].lower(), row
    assert tls.requests == []
    servers.stop_proc("chat-notify")
    servers.spawn("chat-notify-ca", ["chat-notify"], {"CHAT_NOTIFY_CA_FILE": servers.tls_cert},
                  ready=lambda: servers.notify_active_count("chat-notify-ca") > 0)
    [got] = tls.wait_for(for_message(m["id"], b["id"]), "the delivery over TLS")
    assert signed_by(secret)(got)
    wait_delivery_state(servers, "delivered", id=row[0])


def test_delivery_is_dropped_after_max_attempts(servers, make_user, hook):
    """A receiver that keeps failing: after notify_max_attempts the delivery is dropped,
    logged and counted, and later deliveries still go out."""
    receiver, webhook_id, _ = hook
    receiver.status = 503
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    m = send(servers.httpd_url, a, conv["id"], "this one is lost")
    [row] = wait_delivery_state(servers, "dropped", webhook_id=webhook_id, message_id=m["id"])
    assert row[2] == 10  # notify_max_attempts' default
    assert len(receiver.matching(for_message(m["id"], b["id"]))) == 10
    log = servers.log_path("chat-notify").read_text(errors="replace")
    assert "delivery %d to webhook %d dropped after 10 attempts: HTTP 503" % (row[0], webhook_id) in log
    listing = servers.chatctl("webhook", "list").stdout
    line = [ln for ln in listing.splitlines() if ln.split()[0] == str(webhook_id)][0]
    assert line.split()[2:6] == ["-", "0", "0", "1"], line  # bot, pending, delivered, dropped
    receiver.status = 200
    marker = send(servers.httpd_url, a, conv["id"], "marker")
    receiver.wait_for(lambda r: for_message(marker["id"], b["id"])(r) and r["answered"] == 200,
                      "the next delivery")


def test_restart_loses_nothing_and_a_standby_sends_no_duplicate(servers, make_user, hook):
    receiver, webhook_id, secret = hook
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    # Killed outright (no clean stop) while the receiver is down and a delivery waits.
    receiver.stop()
    m1 = send(servers.httpd_url, a, conv["id"], "before the crash")
    wait_failed_attempts(servers, webhook_id, m1["id"])
    proc = servers.procs.pop("chat-notify")
    proc.popen.kill()
    proc.popen.wait()
    # Written while no notifier runs at all.
    m2 = send(servers.httpd_url, a, conv["id"], "while it was down")
    receiver.start()
    # Two notifiers: the first takes the lock, the second stands by.
    servers.start_notify("chat-notify")
    servers.start_notify("chat-notify-2", wait_active=False)
    wait_until(lambda: "standby" in servers.log_path("chat-notify-2").read_text(errors="replace"),
               WAIT, what="the second notifier standing by")
    try:
        m3 = send(servers.httpd_url, a, conv["id"], "with two notifiers")
        for m in (m1, m2, m3):
            receiver.wait_for(lambda r, m=m: for_message(m["id"], b["id"])(r) and r["answered"] == 200,
                              "message %d's notification" % m["id"])
        # The active one stops; the standby takes over within a second or so.
        before = servers.notify_active_count("chat-notify-2")
        servers.stop_proc("chat-notify")
        wait_until(lambda: servers.notify_active_count("chat-notify-2") > before, WAIT,
                   what="the standby taking over")
        m4 = send(servers.httpd_url, a, conv["id"], "after the takeover")
        receiver.wait_for(for_message(m4["id"], b["id"]), "message 4's notification")
        marker = send(servers.httpd_url, a, conv["id"], "marker")
        receiver.wait_for(for_message(marker["id"], b["id"]), "marker notification")
        for m in (m1, m2, m3, m4):
            got = [r for r in receiver.matching(for_message(m["id"], b["id"])) if r["answered"] == 200]
            assert len(got) == 1, (m["id"], got)
            assert signed_by(secret)(got[0])
            assert len(deliveries(servers, webhook_id=webhook_id, message_id=m["id"])) == 1
    finally:
        servers.stop_proc("chat-notify-2")
        if "chat-notify" not in servers.procs:
            servers.start_notify()


def test_chatctl_webhook_commands(servers):
    r = servers.chatctl("webhook", "add", "ftp://example.com/x", check=False)
    assert r.returncode == 1 and "not an http:// or https:// URL" in r.stderr
    webhook_id, secret = add_webhook(servers, "https://hooks.example.com/chat?x=1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    listing = servers.chatctl("webhook", "list").stdout
    assert "https://hooks.example.com/chat?x=1" in listing
    assert secret not in listing  # shown once, never listed
    assert servers.chatctl("webhook", "remove", str(webhook_id)).stdout.strip() == \
        "webhook %d removed" % webhook_id
    r = servers.chatctl("webhook", "remove", str(webhook_id), check=False)
    assert r.returncode == 1 and "no such webhook" in r.stderr


def test_chat_notify_help_lists_its_settings(servers):
    r = subprocess.run([str(servers.bin_dir / "chat-notify"), "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0
    for name in ("notify_offline_delay_s", "notify_max_attempts", "notify_http_timeout_s"):
        assert name in r.stdout


def test_database_restart_loses_nothing(servers, make_user, hook):
    """MariaDB restarts while a delivery waits for a receiver that is down: chat-notify
    loses its connection, reconnects (its lease in the database still runs) and
    delivers both the waiting notification and a new one."""
    receiver, webhook_id, _ = hook
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    receiver.stop()
    m1 = send(servers.httpd_url, a, conv["id"], "before the restart")
    wait_failed_attempts(servers, webhook_id, m1["id"])
    servers.restart_db()
    receiver.start()
    m2 = send(servers.httpd_url, a, conv["id"], "after the restart")
    for m in (m1, m2):
        receiver.wait_for(lambda r, m=m: for_message(m["id"], b["id"])(r) and r["answered"] == 200,
                          "message %d's notification" % m["id"])
    assert len(deliveries(servers, webhook_id=webhook_id, message_id=m1["id"])) == 1


def test_a_message_deleted_while_queued_is_not_sent_on(servers, make_user, hook):
    """Deleted while its delivery waits for the receiver, the delivery is dropped unsent
    (its text is gone)."""
    receiver, webhook_id, _ = hook
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    receiver.stop()
    m = send(servers.httpd_url, a, conv["id"], "oops, wrong chat")
    wait_failed_attempts(servers, webhook_id, m["id"])
    r = request("DELETE", msg_url(servers.httpd_url, conv["id"], m["id"]), a)
    assert r.status_code == 204, r.text
    [row] = wait_delivery_state(servers, "dropped", webhook_id=webhook_id, message_id=m["id"])
    assert row[3] == "message deleted"
    receiver.start()
    marker = send(servers.httpd_url, a, conv["id"], "marker")
    receiver.wait_for(for_message(marker["id"], b["id"]), "marker notification")
    assert receiver.matching(for_message(m["id"])) == []


def test_a_message_deleted_before_its_due_time_notifies_nobody(servers, make_user, hook,
                                                               notifier_paused):
    receiver, webhook_id, _ = hook
    a, b = make_user("wa"), make_user("wb")
    conv = create_conv(servers.httpd_url, a, [b])
    m = send(servers.httpd_url, a, conv["id"], "never mind")
    assert request("DELETE", msg_url(servers.httpd_url, conv["id"], m["id"]), a).status_code == 204
    notifier_paused()
    marker = send(servers.httpd_url, a, conv["id"], "marker")
    receiver.wait_for(for_message(marker["id"], b["id"]), "marker notification")
    assert receiver.matching(for_message(m["id"])) == []
    assert deliveries(servers, webhook_id=webhook_id, message_id=m["id"]) == ()
