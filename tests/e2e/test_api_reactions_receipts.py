"""Reactions (PUT/DELETE .../reactions/<emoji>/) and receipts (read/delivered markers,
per-message status, exact unread counts), through both front ends."""

import http.client
import json
from urllib.parse import quote, urlsplit

import pytest

from helpers import auth_headers

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         msg_url, msgs_url, request, send, unread)

THUMBS = "\U0001F44D"
PARTY = "\U0001F389"
CODER = "\U0001F469\u200D\U0001F4BB"  # woman technologist: a ZWJ sequence


@pytest.fixture
def room(api_url, make_user):
    """Group of a, b and c plus an outsider; one message by a."""
    a, b, c, out = make_user("a"), make_user("b"), make_user("c"), make_user("out")
    conv = group(api_url, a, [b, c])
    msg = send(api_url, a, conv["id"], "react to me")
    return {"a": a, "b": b, "c": c, "out": out, "conv": conv, "msg": msg}


def reaction_url(api_url, conv_id, message_id, emoji, encode=True):
    return "%sreactions/%s/" % (msg_url(api_url, conv_id, message_id),
                                quote(emoji, safe="") if encode else emoji)


# ---- reactions ---------------------------------------------------------------------------

def test_put_is_idempotent_and_me_is_per_viewer(api_url, servers, room):
    a, b, c, conv, msg = room["a"], room["b"], room["c"], room["conv"], room["msg"]
    url = reaction_url(api_url, conv["id"], msg["id"], THUMBS)
    since = last_event_id(servers)
    r = request("PUT", url, b)
    assert r.status_code == 201, r.text
    assert r.json()["reactions"] == [{"emoji": THUMBS, "count": 1, "user_ids": [b["id"]], "me": True}]
    r = request("PUT", url, b)
    assert r.status_code == 200, r.text
    assert r.json()["reactions"] == [{"emoji": THUMBS, "count": 1, "user_ids": [b["id"]], "me": True}]
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["reaction.added"]
    payload = events[0][1]
    assert payload == {"message_id": msg["id"], "conversation_id": conv["id"], "emoji": THUMBS,
                       "user": {"id": b["id"], "username": b["username"],
                                "display_name": b["display_name"], "avatar_url": None,
                                "deleted": False, "is_bot": False},
                       "reactions": [{"emoji": THUMBS, "count": 1, "user_ids": [b["id"]]}]}
    assert request("PUT", url, c).status_code == 201
    assert request("PUT", reaction_url(api_url, conv["id"], msg["id"], PARTY), a).status_code == 201
    seen_by_a = request("GET", msg_url(api_url, conv["id"], msg["id"]), a).json()["reactions"]
    assert seen_by_a == [
        {"emoji": THUMBS, "count": 2, "user_ids": [b["id"], c["id"]], "me": False},
        {"emoji": PARTY, "count": 1, "user_ids": [a["id"]], "me": True}]
    # History pages and the conversation's last message carry the same summaries.
    page = request("GET", msgs_url(api_url, conv["id"]), c).json()["results"]
    assert page[0]["reactions"][0]["me"] is True and page[0]["reactions"][1]["me"] is False
    last = request("GET", conv_url(api_url, conv["id"]), b).json()["last_message"]
    assert [(x["emoji"], x["count"], x["me"]) for x in last["reactions"]] == [
        (THUMBS, 2, True), (PARTY, 1, False)]


def test_delete_is_idempotent(api_url, servers, room):
    b, c, conv, msg = room["b"], room["c"], room["conv"], room["msg"]
    url = reaction_url(api_url, conv["id"], msg["id"], THUMBS)
    request("PUT", url, b)
    request("PUT", url, c)
    since = last_event_id(servers)
    r = request("DELETE", url, b)
    assert r.status_code == 204, r.text
    r = request("DELETE", url, b)
    assert r.status_code == 204, r.text
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["reaction.removed"]
    assert events[0][1]["user"]["id"] == b["id"]
    assert events[0][1]["reactions"] == [{"emoji": THUMBS, "count": 1, "user_ids": [c["id"]]}]
    got = request("GET", msg_url(api_url, conv["id"], msg["id"]), b).json()["reactions"]
    assert got == [{"emoji": THUMBS, "count": 1, "user_ids": [c["id"]], "me": False}]
    # Removing one that never existed is fine too.
    assert request("DELETE", reaction_url(api_url, conv["id"], msg["id"], PARTY), b).status_code == 204
    assert events_since(servers, since, conv["id"]) == events


@pytest.mark.parametrize("emoji", [CODER, ":party_parrot:", "+1", "\u2764\ufe0f", "a" * 32])
def test_accepted_emoji(api_url, room, emoji):
    b, conv, msg = room["b"], room["conv"], room["msg"]
    r = request("PUT", reaction_url(api_url, conv["id"], msg["id"], emoji), b)
    assert r.status_code == 201, r.text
    assert [x["emoji"] for x in r.json()["reactions"]] == [emoji]


def test_emoji_are_compared_exactly(api_url, room):
    """Different emoji are different reactions (no collation folds them together)."""
    b, conv, msg = room["b"], room["conv"], room["msg"]
    for e in (THUMBS, PARTY, "a", "A"):
        assert request("PUT", reaction_url(api_url, conv["id"], msg["id"], e), b).status_code == 201
    got = request("GET", msg_url(api_url, conv["id"], msg["id"]), b).json()["reactions"]
    assert [x["emoji"] for x in got] == [THUMBS, PARTY, "a", "A"]


def raw_put(api_url, path, user):
    """PUT with the path sent byte for byte (requests and urllib3 would re-quote a
    malformed escape such as %G1)."""
    host, port = urlsplit(api_url).hostname, urlsplit(api_url).port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("PUT", path, headers=auth_headers(user))
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("raw,status,code", [
    ("%20", 422, "validation_error"),
    ("a%20b", 422, "validation_error"),
    ("%01", 422, "validation_error"),
    ("%7F", 422, "validation_error"),
    ("%C2%A0", 422, "validation_error"),          # no-break space
    ("%E2%80%8B", 422, "validation_error"),       # zero-width space
    ("%E2%80%AE", 422, "validation_error"),       # right-to-left override
    ("%FF", 400, "invalid_utf8"),
    ("%C0%AF", 400, "invalid_utf8"),              # overlong '/'
    ("%ED%A0%80", 400, "invalid_utf8"),           # surrogate
    ("a" * 33, 422, "validation_error"),
    ("%F0%9F%91%8D" * 9, 422, "validation_error"),  # 36 bytes
])
def test_refused_emoji(api_url, servers, room, raw, status, code):
    b, conv, msg = room["b"], room["conv"], room["msg"]
    r = request("PUT", reaction_url(api_url, conv["id"], msg["id"], raw, encode=False), b)
    assert_error(r, status, code)
    assert servers.db("SELECT COUNT(*) FROM reactions WHERE message_id = %s", (msg["id"],))[0][0] == 0


@pytest.mark.parametrize("raw", ["%G1", "%F", "%00"])
def test_malformed_escapes_are_refused(api_url, servers, room, raw):
    """400 either way; nginx refuses some of these itself (with its own HTML body)
    before the request reaches chat-api, chat-httpd answers with the JSON error."""
    b, conv, msg = room["b"], room["conv"], room["msg"]
    path = urlsplit(reaction_url(api_url, conv["id"], msg["id"], raw, encode=False)).path
    status, ctype, body = raw_put(api_url, path, b)
    assert status == 400, body
    if api_url == servers.httpd_url or ctype.startswith("application/json"):
        assert json.loads(body)["code"] in ("bad_request", "invalid_utf8"), body
    assert servers.db("SELECT COUNT(*) FROM reactions WHERE message_id = %s", (msg["id"],))[0][0] == 0


def test_reaction_authorization(api_url, room, make_user):
    a, out, conv, msg = room["a"], room["out"], room["conv"], room["msg"]
    url = reaction_url(api_url, conv["id"], msg["id"], THUMBS)
    assert_error(request("PUT", url, out), 404, "not_found")
    assert_error(request("DELETE", url, out), 404, "not_found")
    assert_error(request("PUT", url), 401)
    assert_error(request("PUT", reaction_url(api_url, conv["id"], 999999999, THUMBS), a), 404)
    other = direct(api_url, a, make_user("z"))
    assert_error(request("PUT", reaction_url(api_url, other["id"], msg["id"], THUMBS), a), 404)
    assert_error(request("POST", url, a), 405, "method_not_allowed")


def test_no_reactions_on_a_tombstone(api_url, servers, room):
    a, b, conv, msg = room["a"], room["b"], room["conv"], room["msg"]
    url = reaction_url(api_url, conv["id"], msg["id"], THUMBS)
    assert request("DELETE", msg_url(api_url, conv["id"], msg["id"]), a).status_code == 204
    since = last_event_id(servers)
    assert_error(request("PUT", url, b), 409, "conflict")
    assert request("DELETE", url, b).status_code == 204
    assert events_since(servers, since, conv["id"]) == []


def test_reaction_limits(api_url, room):
    a, b, conv, msg = room["a"], room["b"], room["conv"], room["msg"]
    for i in range(20):
        r = request("PUT", reaction_url(api_url, conv["id"], msg["id"], "e%d" % i), b)
        assert r.status_code == 201, r.text
    assert_error(request("PUT", reaction_url(api_url, conv["id"], msg["id"], "e20"), b), 409, "conflict")
    # Existing reactions can still be repeated (no change) or joined by others.
    assert request("PUT", reaction_url(api_url, conv["id"], msg["id"], "e3"), b).status_code == 200
    assert request("PUT", reaction_url(api_url, conv["id"], msg["id"], "e3"), a).status_code == 201


# ---- receipts ----------------------------------------------------------------------------

def receipt(api_url, user, conv_id, kind, message_id):
    return request("POST", conv_url(api_url, conv_id) + kind + "/", user, {"message_id": message_id})


def statuses(api_url, user, conv_id, message_id):
    r = request("GET", msg_url(api_url, conv_id, message_id) + "status/", user)
    assert r.status_code == 200, r.text
    return {s["user_id"]: (s["status"], s["at"]) for s in r.json()["results"]}


def test_markers_move_forward_only(api_url, servers, room):
    a, b, conv = room["a"], room["b"], room["conv"]
    m1 = room["msg"]
    m2 = send(api_url, a, conv["id"], "two")
    m3 = send(api_url, a, conv["id"], "three")
    since = last_event_id(servers)
    r = receipt(api_url, b, conv["id"], "delivered", m2["id"])
    assert r.status_code == 200, r.text
    mk = r.json()
    assert mk["conversation_id"] == conv["id"] and mk["user_id"] == b["id"]
    assert mk["last_delivered_message_id"] == m2["id"] and mk["last_delivered_at"].endswith("Z")
    assert mk["last_read_message_id"] == 0 and mk["last_read_at"] is None
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["receipt.updated"]
    assert events[0][1] == {"conversation_id": conv["id"], "user_id": b["id"], "kind": "delivered",
                            "message_id": m2["id"], "at": mk["last_delivered_at"]}
    # Reading m1 moves the read marker only; delivery is already past it.
    since = last_event_id(servers)
    mk = receipt(api_url, b, conv["id"], "read", m1["id"]).json()
    assert mk["last_read_message_id"] == m1["id"] and mk["last_delivered_message_id"] == m2["id"]
    events = events_since(servers, since, conv["id"])
    assert [(p["kind"], p["message_id"]) for _, p in events] == [("read", m1["id"])]
    # Backwards or repeated: nothing moves, no event.
    since = last_event_id(servers)
    mk = receipt(api_url, b, conv["id"], "delivered", m1["id"]).json()
    assert mk["last_delivered_message_id"] == m2["id"]
    mk = receipt(api_url, b, conv["id"], "read", m1["id"]).json()
    assert mk["last_read_message_id"] == m1["id"]
    assert events_since(servers, since, conv["id"]) == []
    # Reading m3 implies delivery of m3: one event, kind read.
    mk = receipt(api_url, b, conv["id"], "read", m3["id"]).json()
    assert mk["last_read_message_id"] == m3["id"] and mk["last_delivered_message_id"] == m3["id"]
    events = events_since(servers, since, conv["id"])
    assert [(p["kind"], p["message_id"]) for _, p in events] == [("read", m3["id"])]


def test_status_from_markers(api_url, room):
    a, b, c, conv = room["a"], room["b"], room["c"], room["conv"]
    m1 = room["msg"]
    m2 = send(api_url, a, conv["id"], "two")
    assert statuses(api_url, a, conv["id"], m1["id"]) == {b["id"]: ("sent", None),
                                                          c["id"]: ("sent", None)}
    receipt(api_url, b, conv["id"], "delivered", m2["id"])
    mk = receipt(api_url, c, conv["id"], "read", m1["id"]).json()
    st = statuses(api_url, a, conv["id"], m1["id"])
    assert st[b["id"]][0] == "delivered" and st[b["id"]][1].endswith("Z")
    assert st[c["id"]] == ("read", mk["last_read_at"])
    st = statuses(api_url, a, conv["id"], m2["id"])
    assert st[b["id"]][0] == "delivered" and st[c["id"]] == ("sent", None)
    assert a["id"] not in st  # the author is not listed
    # Any participant may look (they see the same receipt events anyway).
    assert statuses(api_url, b, conv["id"], m1["id"]) == statuses(api_url, a, conv["id"], m1["id"])
    # A message by b lists a (whose send marked everything before it read) and c.
    m3 = send(api_url, b, conv["id"], "from b")
    st = statuses(api_url, c, conv["id"], m3["id"])
    assert set(st) == {a["id"], c["id"]} and st[a["id"]] == ("sent", None)
    send(api_url, a, conv["id"], "a answers")
    assert statuses(api_url, c, conv["id"], m3["id"])[a["id"]][0] == "read"


def test_receipt_refusals(api_url, servers, room, make_user):
    a, b, out, conv, msg = room["a"], room["b"], room["out"], room["conv"], room["msg"]
    other = direct(api_url, a, make_user("z"))
    elsewhere = send(api_url, a, other["id"], "elsewhere")
    since = last_event_id(servers)
    for kind in ("read", "delivered"):
        assert_error(receipt(api_url, out, conv["id"], kind, msg["id"]), 404, "not_found")
        assert_error(receipt(api_url, b, conv["id"], kind, elsewhere["id"]), 422, "validation_error")
        assert_error(receipt(api_url, b, conv["id"], kind, 999999999), 422, "validation_error")
        assert_error(receipt(api_url, b, conv["id"], kind, 0), 422, "validation_error")
        assert_error(receipt(api_url, b, conv["id"], kind, "1"), 400, "invalid_type")
        assert_error(request("POST", conv_url(api_url, conv["id"]) + kind + "/", b, {}), 400,
                     "missing_field")
        assert_error(request("POST", conv_url(api_url, conv["id"]) + kind + "/", b,
                             {"message_id": msg["id"], "x": 1}), 400, "unknown_field")
    # Presence changes of earlier suites' users come from the daemons at any time.
    assert [e for e in events_since(servers, since) if e[0] != "presence"] == []
    url = msg_url(api_url, conv["id"], msg["id"]) + "status/"
    assert_error(request("GET", url, out), 404, "not_found")
    assert_error(request("GET", msg_url(api_url, conv["id"], elsewhere["id"]) + "status/", a), 404)


def test_read_marker_survives_delete_and_unread_is_exact(api_url, room):
    a, b, conv, m1 = room["a"], room["b"], room["conv"], room["msg"]
    m2 = send(api_url, a, conv["id"], "two")
    m3 = send(api_url, a, conv["id"], "three")
    send(api_url, a, conv["id"], "four")
    assert unread(api_url, b, conv["id"]) == 4
    receipt(api_url, b, conv["id"], "read", m2["id"])
    assert unread(api_url, b, conv["id"]) == 2
    # The read marker may point at a tombstone, and reading up to it still counts.
    assert request("DELETE", msg_url(api_url, conv["id"], m3["id"]), a).status_code == 204
    assert unread(api_url, b, conv["id"]) == 1
    r = receipt(api_url, b, conv["id"], "read", m3["id"])
    assert r.status_code == 200 and r.json()["last_read_message_id"] == m3["id"], r.text
    assert unread(api_url, b, conv["id"]) == 1
    assert request("GET", conv_url(api_url, conv["id"]), b).json()["unread_count"] == 1
    assert m1["id"] < m2["id"]
