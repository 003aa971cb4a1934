"""Mentions and notification levels (docs/API.md "Mentions", "Notification levels"):
the server finds @username of participants (and @all/@here in groups, admins only in
groups of more than 100) and stores them as entities with UTF-16 offsets and as
message_mentions rows, kept right through edits and deletes; the conversation list has
an exact unread_mention_count; each participant sets their own level and mute, which
reaches their own devices live and nobody else. Through both front ends, and the
socket's message.send."""

import datetime
import json

import pytest
import requests

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         msg_url, request, send)
from helpers import unique_name, wait_until
from test_api import login_session, msgs_url
from test_push import connect, run


def units(s):
    """Length of s in UTF-16 code units, as the API counts offsets."""
    return len(s.encode("utf-16-le")) // 2


def user_entity(text, name, user_id, nth=0):
    """The entity expected for the nth '@name' of text."""
    at, start = -1, 0
    for _ in range(nth + 1):
        at = text.index("@" + name, start)
        start = at + 1
    return {"kind": "user", "user_id": user_id, "offset": units(text[:at]),
            "length": units("@" + name)}


def mention_rows(servers, message_id):
    return {r[0] for r in servers.db(
        "SELECT user_id FROM message_mentions WHERE message_id = %s", (message_id,))}


def conv_of(api_url, user, conv_id):
    """conv_id as user's conversation list shows it."""
    r = request("GET", conv_url(api_url), user)
    assert r.status_code == 200, r.text
    for c in r.json()["results"]:
        if c["id"] == conv_id:
            return c
    raise AssertionError("conversation %s not listed" % conv_id)


def notifications(api_url, user, conv_id, body):
    return request("PUT", conv_url(api_url, conv_id) + "notifications/", user, body)


def rfc3339(delta):
    t = datetime.datetime.now(datetime.timezone.utc) + delta
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def trio(make_user):
    return make_user("ma"), make_user("mb"), make_user("mc")


@pytest.fixture(scope="module")
def crowd(servers):
    """101 registered users (tokens and ids), made once for the module: with a creator
    they make a group of 102, over both thresholds (50 for the default level, 100 for
    @all/@here)."""
    out = []
    for _ in range(101):
        name = unique_name("crowd")
        r = requests.post(servers.httpd_url + "/api/auth/register",
                          json={"username": name, "password": "pw-crowd-123"}, timeout=30)
        assert r.status_code == 201, r.text
        out.append({"id": r.json()["user"]["id"], "username": name,
                    "token": r.json()["token"]})
    return out


def test_mentions_are_entities_with_utf16_offsets(api_url, servers, trio, make_user):
    a, b, c = trio
    outsider = make_user("mo")
    conv = group(api_url, a, [b, c])["id"]
    text = ("ol\u00e1 \U0001F600 @%s, @%s! mail %s@example.com @%s @%s @nobody_here @%s."
            % (b["username"].upper(), c["username"], b["username"], outsider["username"],
               a["username"], b["username"]))
    msg = send(api_url, a, conv, text)
    # b (any case, and again before the final '.'), c; not the e-mail address, not a
    # non-participant, not the sender, not an unknown name.
    want = [user_entity(text, b["username"].upper(), b["id"]),
            user_entity(text, c["username"], c["id"]),
            user_entity(text, b["username"], b["id"])]
    assert msg["mentions"] == want
    assert want[0]["offset"] == 7  # "olá " is 4 units, the emoji 2, then " "
    got = request("GET", msg_url(api_url, conv, msg["id"]), b).json()
    assert got["mentions"] == want
    page = request("GET", msgs_url(api_url, conv), c).json()["results"]
    assert page[-1]["mentions"] == want
    assert mention_rows(servers, msg["id"]) == {b["id"], c["id"]}
    assert send(api_url, a, conv, "no mention at all")["mentions"] == []


def test_unread_mention_count_is_exact(api_url, trio):
    a, b, c = trio
    conv = group(api_url, a, [b, c])["id"]
    first = send(api_url, a, conv, "@%s one" % b["username"])
    send(api_url, a, conv, "@%s @%s twice in one" % (b["username"], b["username"]))
    send(api_url, a, conv, "for @%s" % c["username"])
    gone = send(api_url, c, conv, "@%s deleted later" % b["username"])
    send(api_url, c, conv, "@%s from c" % a["username"])
    listed = conv_of(api_url, b, conv)
    assert (listed["unread_count"], listed["unread_mention_count"]) == (5, 3)
    assert request("DELETE", msg_url(api_url, conv, gone["id"]), c).status_code == 204
    listed = conv_of(api_url, b, conv)
    assert (listed["unread_count"], listed["unread_mention_count"]) == (4, 2)
    assert request("GET", conv_url(api_url, conv), b).json()["unread_mention_count"] == 2
    # a's own sends moved a's read marker: only c's later mention is unread.
    assert conv_of(api_url, a, conv)["unread_mention_count"] == 1
    r = request("POST", conv_url(api_url, conv) + "read/", b, {"message_id": first["id"]})
    assert r.status_code == 200, r.text
    assert conv_of(api_url, b, conv)["unread_mention_count"] == 1
    send(api_url, b, conv, "read it all")
    assert conv_of(api_url, b, conv)["unread_mention_count"] == 0


def test_edits_recompute_mentions_and_deletes_remove_them(api_url, servers, trio):
    a, b, c = trio
    conv = group(api_url, a, [b, c])["id"]
    msg = send(api_url, a, conv, "@%s look" % b["username"])
    since = last_event_id(servers)
    new_text = "\u20ac @%s, not b" % c["username"]
    r = request("PATCH", msg_url(api_url, conv, msg["id"]), a, {"text": new_text})
    assert r.status_code == 200, r.text
    want = [user_entity(new_text, c["username"], c["id"])]
    assert r.json()["mentions"] == want
    assert mention_rows(servers, msg["id"]) == {c["id"]}
    assert (conv_of(api_url, b, conv)["unread_mention_count"],
            conv_of(api_url, c, conv)["unread_mention_count"]) == (0, 1)
    [(_, updated)] = events_since(servers, since, conv, {"message.updated"})
    assert updated["mentions"] == want
    # The delete takes the rows and the entities, also out of the earlier events.
    assert request("DELETE", msg_url(api_url, conv, msg["id"]), a).status_code == 204
    assert mention_rows(servers, msg["id"]) == set()
    tomb = request("GET", msg_url(api_url, conv, msg["id"]), a).json()
    assert tomb["deleted"] is True and tomb["mentions"] == []
    for type_, payload in events_since(servers, 0, conv, {"message.created", "message.updated"}):
        if payload["id"] == msg["id"]:
            assert payload["mentions"] == [], (type_, payload)
    assert conv_of(api_url, c, conv)["unread_mention_count"] == 0


def test_all_and_here_in_groups_only(api_url, servers, trio):
    a, b, c = trio
    conv = group(api_url, a, [b, c])["id"]

    async def scenario():
        online = await connect(servers, b)
        wait_until(lambda: request("GET", "%s/api/users/%s/presence/" % (api_url, b["id"]),
                                   a).json()["online"], 20, what="b online")
        text = "@all meeting, @here now"
        everyone = send(api_url, c, conv, text)
        assert everyone["mentions"] == [
            {"kind": "all", "user_id": None, "offset": 0, "length": 4},
            {"kind": "here", "user_id": None, "offset": text.index("@here"), "length": 5}]
        assert mention_rows(servers, everyone["id"]) == {a["id"], b["id"]}
        here = send(api_url, a, conv, "@here quick one")
        # c is offline: only b, online at send, is reached; never the sender.
        assert mention_rows(servers, here["id"]) == {b["id"]}
        await online.close()

    run(scenario())
    dm = direct(api_url, a, b)["id"]
    plain = send(api_url, a, dm, "@all @here")
    assert plain["mentions"] == [] and mention_rows(servers, plain["id"]) == set()


def test_all_in_large_groups_is_for_admins(api_url, servers, make_user, crowd):
    a = make_user("mbig")
    conv = group(api_url, a, crowd)["id"]
    member = crowd[0]
    assert len(request("GET", conv_url(api_url, conv), a).json()["participants"]) == 102
    for text in ("@all hello", "hi @here"):
        assert_error(request("POST", msgs_url(api_url, conv), member, {"text": text}), 403,
                     "mention_not_allowed")
    # An edit that adds @all is refused the same way, and keeps the old text.
    own = send(api_url, member, conv, "plain")
    assert_error(request("PATCH", msg_url(api_url, conv, own["id"]), member,
                         {"text": "now @all"}), 403, "mention_not_allowed")
    assert request("GET", msg_url(api_url, conv, own["id"]), a).json()["text"] == "plain"
    # A user mention is anyone's to make; @all is the admin's.
    assert send(api_url, member, conv, "@%s hi" % a["username"])["mentions"][0]["user_id"] == a["id"]
    msg = send(api_url, a, conv, "@all news")
    assert len(mention_rows(servers, msg["id"])) == 101
    assert conv_of(api_url, member, conv)["unread_mention_count"] == 1

    async def scenario():
        ws = await connect(servers, member)
        await ws.send({"type": "message.send", "conversation_id": conv, "text": "@all x",
                       "client_msg_id": "m-all-1"})
        err = await ws.wait_for(lambda f: f["type"] == "error")
        assert err["code"] == "mention_not_allowed" and err["client_msg_id"] == "m-all-1", err
        await ws.close()

    run(scenario())


def test_notify_level_defaults_and_setting(api_url, servers, trio, make_user, crowd):
    a, b, c = trio
    since = last_event_id(servers)
    dm = direct(api_url, a, b)["id"]
    small = group(api_url, a, [b, c])["id"]
    # The creation's event reaches everyone: it carries nobody's own setting.
    created = events_since(servers, since, types={"conversation.created"})
    assert [p["id"] for _, p in created] == [dm, small]
    for _, payload in created:
        assert not {"unread_mention_count", "notify_level", "notify_level_setting",
                    "muted_until"} & set(payload), payload
    big = group(api_url, make_user("mbig"), crowd[:51])["id"]  # 52 participants
    for user, conv, level in ((a, dm, "all"), (a, small, "all"), (crowd[0], big, "mentions")):
        got = conv_of(api_url, user, conv)
        assert (got["notify_level"], got["notify_level_setting"], got["muted_until"]) == \
            (level, None, None), got
    until = rfc3339(datetime.timedelta(hours=8))
    r = notifications(api_url, a, small, {"level": "none", "muted_until": until})
    assert r.status_code == 200, r.text
    assert (r.json()["notify_level"], r.json()["notify_level_setting"]) == ("none", "none")
    stored = datetime.datetime.fromisoformat(r.json()["muted_until"].replace("Z", "+00:00"))
    assert stored == datetime.datetime.fromisoformat(until.replace("Z", "+00:00"))
    assert conv_of(api_url, a, small)["muted_until"] == r.json()["muted_until"]
    # Nobody else's view changes.
    assert conv_of(api_url, b, small)["notify_level_setting"] is None
    # An offset is converted to UTC; null goes back to the default.
    utc = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).replace(
        hour=1, minute=30, second=0, microsecond=0)
    local = utc.astimezone(datetime.timezone(-datetime.timedelta(hours=3)))
    r = notifications(api_url, a, small, {"level": "mentions", "muted_until": local.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["muted_until"] == utc.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    r = notifications(api_url, a, small, {"level": None, "muted_until": None})
    assert r.status_code == 200, r.text
    assert (r.json()["notify_level"], r.json()["notify_level_setting"],
            r.json()["muted_until"]) == ("all", None, None)
    r = notifications(api_url, crowd[0], big, {"level": "all", "muted_until": None})
    assert r.json()["notify_level"] == "all", r.text


def test_notify_level_refusals(api_url, trio, make_user):
    a, b, _ = trio
    conv = direct(api_url, a, b)["id"]
    for body, status, code in (
            ({"level": "loud", "muted_until": None}, 422, "validation_error"),
            ({"level": "ALL", "muted_until": None}, 422, "validation_error"),
            ({"level": "all", "muted_until": rfc3339(-datetime.timedelta(minutes=1))}, 422,
             "validation_error"),
            ({"level": "all", "muted_until": rfc3339(datetime.timedelta(days=367))}, 422,
             "validation_error"),
            ({"level": "all", "muted_until": "tomorrow"}, 422, "validation_error"),
            ({"level": "all", "muted_until": "2030-01-01T00:00:00"}, 422, "validation_error"),
            ({"level": "all"}, 400, "missing_field"),
            ({"muted_until": None}, 400, "missing_field"),
            ({"level": 1, "muted_until": None}, 400, "invalid_type"),
            ({"level": "all", "muted_until": None, "sound": True}, 400, "unknown_field")):
        assert_error(notifications(api_url, a, conv, body), status, code)
    assert conv_of(api_url, a, conv)["notify_level_setting"] is None
    # An outsider learns nothing, whatever the body.
    spy = make_user("mspy")
    for body in ({"level": "none", "muted_until": None}, {"level": "loud"}):
        assert_error(notifications(api_url, spy, conv, body), 404, "not_found")
    # A cookie session needs the CSRF header.
    s = login_session(api_url, a)
    url = conv_url(api_url, conv) + "notifications/"
    assert_error(s.put(url, json={"level": "none", "muted_until": None}, timeout=30), 403,
                 "csrf_failed")
    r = s.put(url, json={"level": "none", "muted_until": None}, timeout=30,
              headers={"X-CSRFToken": s.cookies.get("chat_csrf")})
    assert r.status_code == 200 and r.json()["notify_level"] == "none", r.text


def test_level_changes_reach_only_the_users_devices(api_url, servers, trio):
    a, b, _ = trio
    conv = group(api_url, a, [b])["id"]

    async def scenario():
        phone, laptop, other = (await connect(servers, a), await connect(servers, a),
                                await connect(servers, b))
        since = last_event_id(servers)
        until = rfc3339(datetime.timedelta(days=1))
        r = notifications(api_url, a, conv, {"level": "mentions", "muted_until": until})
        assert r.status_code == 200, r.text
        want = {"user_id": a["id"], "conversation_id": conv, "notify_level": "mentions",
                "notify_level_setting": "mentions", "muted_until": r.json()["muted_until"]}
        for ws in (phone, laptop):
            f = await ws.wait_for(lambda f: f["type"] == "participant.notifications_changed")
            assert f["conversation_id"] is None and f["data"] == want, f
        # The same setting again changes nothing and writes nothing.
        r = notifications(api_url, a, conv, {"level": "mentions", "muted_until": until})
        assert r.status_code == 200, r.text
        assert [p for _, p in events_since(servers, since,
                                           types={"participant.notifications_changed"})] == [want]
        # b's own change is the marker: it arrives, a's never did.
        r = notifications(api_url, b, conv, {"level": "none", "muted_until": None})
        assert r.status_code == 200, r.text
        f = await other.wait_for(lambda f: f["type"] == "participant.notifications_changed")
        assert f["data"]["user_id"] == b["id"], f
        assert [g for g in other.seen if g["type"] == "participant.notifications_changed"] == [f]
        # And a's devices do not get b's.
        send(api_url, b, conv, "marker")
        for ws in (phone, laptop):
            await ws.wait_for(lambda f: f["type"] == "message.created")
            assert [json.dumps(g["data"]) for g in ws.seen
                    if g["type"] == "participant.notifications_changed"] == [json.dumps(want)]
        for ws in (phone, laptop, other):
            await ws.close()

    run(scenario())
