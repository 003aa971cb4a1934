"""One message (GET), edits with history, deletes as tombstones, replies, and ?around=
paging, through both front ends: author vs other participant vs outsider, bad input, and
the event each change writes."""

import pytest

from api_helpers import (assert_error, direct, events_since, group, last_event_id, msg_url,
                         msgs_url, request, send, unread)

MESSAGE_KEYS = {"id", "conversation_id", "sender", "text", "created_at", "edited_at", "deleted",
                "reply_to", "client_msg_id", "reactions", "attachments", "mentions"}


@pytest.fixture
def room(api_url, make_user):
    """A group of a (author), b (participant) and an outsider, with one message by a."""
    a, b, outsider = make_user("a"), make_user("b"), make_user("out")
    conv = group(api_url, a, [b])
    msg = send(api_url, a, conv["id"], "original text")
    return {"a": a, "b": b, "out": outsider, "conv": conv, "msg": msg}


def edits_of(servers, message_id):
    return [row[0] for row in servers.db(
        "SELECT old_text FROM message_edits WHERE message_id = %s ORDER BY id", (message_id,))]


# ---- GET one message ---------------------------------------------------------------------

def test_get_one_message(api_url, room):
    a, b, conv, msg = room["a"], room["b"], room["conv"], room["msg"]
    r = request("GET", msg_url(api_url, conv["id"], msg["id"]), b)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == MESSAGE_KEYS
    assert body["id"] == msg["id"] and body["text"] == "original text"
    assert body["sender"]["id"] == a["id"]
    assert body["reactions"] == [] and body["attachments"] == []
    assert body["deleted"] is False and body["edited_at"] is None
    # The send response has the same shape.
    assert set(msg) == MESSAGE_KEYS


def test_get_message_not_found_cases(api_url, room, make_user):
    a, out, conv, msg = room["a"], room["out"], room["conv"], room["msg"]
    assert_error(request("GET", msg_url(api_url, conv["id"], msg["id"]), out), 404, "not_found")
    assert_error(request("GET", msg_url(api_url, conv["id"], 999999999), a), 404, "not_found")
    # A message id that exists, asked for under another conversation of the caller.
    other = direct(api_url, a, make_user("z"))
    assert_error(request("GET", msg_url(api_url, other["id"], msg["id"]), a), 404, "not_found")
    assert_error(request("GET", msg_url(api_url, conv["id"], msg["id"])), 401)


# ---- edit --------------------------------------------------------------------------------

def test_author_edits_and_history_is_kept(api_url, servers, room):
    a, b, conv, msg = room["a"], room["b"], room["conv"], room["msg"]
    url = msg_url(api_url, conv["id"], msg["id"])
    since = last_event_id(servers)
    r = request("PATCH", url, a, {"text": "edited once"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "edited once" and body["edited_at"].endswith("Z")
    assert body["created_at"] == msg["created_at"]
    assert request("GET", url, b).json()["text"] == "edited once"
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["message.updated"]
    assert events[0][1]["id"] == msg["id"] and events[0][1]["text"] == "edited once"
    assert set(events[0][1]) == MESSAGE_KEYS
    # A case-only change is an edit; the identical text is not.
    request("PATCH", url, a, {"text": "Edited Once"})
    since = last_event_id(servers)
    r = request("PATCH", url, a, {"text": "Edited Once"})
    assert r.status_code == 200 and r.json()["text"] == "Edited Once", r.text
    assert events_since(servers, since, conv["id"]) == []
    assert edits_of(servers, msg["id"]) == ["original text", "edited once"]


def test_edit_authorization_and_validation(api_url, servers, room):
    a, b, out, conv, msg = room["a"], room["b"], room["out"], room["conv"], room["msg"]
    url = msg_url(api_url, conv["id"], msg["id"])
    since = last_event_id(servers)
    assert_error(request("PATCH", url, b, {"text": "not mine"}), 403, "permission_denied")
    assert_error(request("PATCH", url, out, {"text": "not mine"}), 404, "not_found")
    # An outsider learns nothing from an invalid body either.
    assert_error(request("PATCH", url, out, {"text": ""}), 404, "not_found")
    assert_error(request("PATCH", url, a, {"text": ""}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"text": " \n\t"}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"text": "x" * 4001}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"text": 7}), 400, "invalid_type")
    assert_error(request("PATCH", url, a, {}), 400, "missing_field")
    assert_error(request("PATCH", url, a, {"text": "x", "reply_to": 1}), 400, "unknown_field")
    assert_error(request("PATCH", url, a, data=b'{"text": "\xff"}',
                         headers={"Content-Type": "application/json"}), 400, "invalid_utf8")
    assert_error(request("PATCH", msg_url(api_url, conv["id"], 999999999), a, {"text": "x"}),
                 404, "not_found")
    assert events_since(servers, since, conv["id"]) == []
    assert edits_of(servers, msg["id"]) == []
    r = request("PATCH", url, a, {"text": "é" * 4000})
    assert r.status_code == 200, r.text


# ---- delete ------------------------------------------------------------------------------

def test_delete_leaves_a_tombstone(api_url, servers, room):
    a, b, out, conv, msg = room["a"], room["b"], room["out"], room["conv"], room["msg"]
    url = msg_url(api_url, conv["id"], msg["id"])
    request("PATCH", url, a, {"text": "secret edit"})
    assert request("PUT", url + "reactions/%F0%9F%91%8D/", b).status_code == 201
    reply = send(api_url, b, conv["id"], "replying", reply_to=msg["id"])
    # b is a plain member of the group: deleting a's message is for its admins.
    assert_error(request("DELETE", url, b), 403, "not_admin")
    assert_error(request("DELETE", url, out), 404, "not_found")
    since = last_event_id(servers)
    r = request("DELETE", url, a)
    assert r.status_code == 204, r.text
    tomb = request("GET", url, b).json()
    assert tomb["deleted"] is True and tomb["text"] == ""
    assert tomb["reactions"] == [] and tomb["attachments"] == []
    assert edits_of(servers, msg["id"]) == []
    assert servers.db("SELECT COUNT(*) FROM reactions WHERE message_id = %s", (msg["id"],))[0][0] == 0
    assert servers.db("SELECT text FROM messages WHERE id = %s", (msg["id"],))[0][0] == ""
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["message.deleted"]
    payload = events[0][1]
    assert payload["id"] == msg["id"] and payload["deleted"] is True and payload["text"] == ""
    assert payload["reactions"] == [] and payload["attachments"] == []
    # The reply still points at it, and history shows the tombstone in place.
    assert request("GET", msg_url(api_url, conv["id"], reply["id"]), a).json()["reply_to"] == msg["id"]
    page = request("GET", msgs_url(api_url, conv["id"]), b).json()["results"]
    assert [(m["id"], m["deleted"], m["text"]) for m in page] == [
        (msg["id"], True, ""), (reply["id"], False, "replying")]
    # Deleting again: 204, nothing written. Editing a tombstone: 409.
    since = last_event_id(servers)
    assert request("DELETE", url, a).status_code == 204
    assert events_since(servers, since, conv["id"]) == []
    assert_error(request("PATCH", url, a, {"text": "resurrect"}), 409, "conflict")
    assert request("GET", url, a).json()["text"] == ""


def test_reply_rules(api_url, room, make_user):
    a, b, conv, msg = room["a"], room["b"], room["conv"], room["msg"]
    other = direct(api_url, a, make_user("z"))
    elsewhere = send(api_url, a, other["id"], "in another conversation")
    r = request("POST", msgs_url(api_url, conv["id"]), b, {"text": "x", "reply_to": elsewhere["id"]})
    assert_error(r, 422, "validation_error")
    r = request("POST", msgs_url(api_url, conv["id"]), b, {"text": "x", "reply_to": 999999999})
    assert_error(r, 422, "validation_error")
    # Replying to a tombstone is allowed: the reply points at the tombstone.
    assert request("DELETE", msg_url(api_url, conv["id"], msg["id"]), a).status_code == 204
    reply = send(api_url, b, conv["id"], "late reply", reply_to=msg["id"])
    assert reply["reply_to"] == msg["id"]


def test_unread_count_ignores_deleted_and_own(api_url, room):
    a, b, conv = room["a"], room["b"], room["conv"]
    m2 = send(api_url, a, conv["id"], "two")
    send(api_url, a, conv["id"], "three")
    assert unread(api_url, b, conv["id"]) == 3
    assert request("DELETE", msg_url(api_url, conv["id"], m2["id"]), a).status_code == 204
    assert unread(api_url, b, conv["id"]) == 2
    assert unread(api_url, a, conv["id"]) == 0
    # Sending implies having read everything before it.
    send(api_url, b, conv["id"], "b's own")
    assert unread(api_url, b, conv["id"]) == 0
    send(api_url, a, conv["id"], "four")
    assert unread(api_url, b, conv["id"]) == 1
    assert unread(api_url, a, conv["id"]) == 0


# ---- around paging -----------------------------------------------------------------------

@pytest.fixture
def nine(api_url, make_user):
    a, b = make_user("a"), make_user("b")
    conv = direct(api_url, a, b)
    ids = [send(api_url, a if i % 2 else b, conv["id"], "m%d" % i)["id"] for i in range(9)]
    return a, conv, ids


def page(api_url, user, conv_id, query):
    r = request("GET", msgs_url(api_url, conv_id) + "?" + query, user)
    assert r.status_code == 200, r.text
    return r.json()


def test_around_centres_on_the_message(api_url, nine):
    a, conv, ids = nine
    p = page(api_url, a, conv["id"], "around=%d&limit=3" % ids[4])
    assert [m["id"] for m in p["results"]] == ids[3:6]
    assert p["has_more_before"] is True and p["has_more_after"] is True
    p = page(api_url, a, conv["id"], "around=%d&limit=4" % ids[4])
    assert [m["id"] for m in p["results"]] == ids[3:7]
    p = page(api_url, a, conv["id"], "around=%d&limit=9" % ids[4])
    assert [m["id"] for m in p["results"]] == ids
    assert p["has_more_before"] is False and p["has_more_after"] is False
    p = page(api_url, a, conv["id"], "around=%d" % ids[4])  # default limit: everything
    assert [m["id"] for m in p["results"]] == ids
    p = page(api_url, a, conv["id"], "around=%d&limit=1" % ids[4])
    assert [m["id"] for m in p["results"]] == [ids[4]]
    assert p["has_more_before"] is True and p["has_more_after"] is True


def test_around_fills_from_the_other_side_at_the_ends(api_url, nine):
    a, conv, ids = nine
    p = page(api_url, a, conv["id"], "around=%d&limit=3" % ids[0])
    assert [m["id"] for m in p["results"]] == ids[0:3]
    assert p["has_more_before"] is False and p["has_more_after"] is True
    p = page(api_url, a, conv["id"], "around=%d&limit=3" % ids[8])
    assert [m["id"] for m in p["results"]] == ids[6:9]
    assert p["has_more_before"] is True and p["has_more_after"] is False
    p = page(api_url, a, conv["id"], "around=%d&limit=4" % ids[7])
    assert [m["id"] for m in p["results"]] == ids[5:9]
    # Paging on from an around page with before/after keeps the usual has_more.
    p = page(api_url, a, conv["id"], "before=%d&limit=3" % ids[5])
    assert [m["id"] for m in p["results"]] == ids[2:5] and p["has_more"] is True
    p = page(api_url, a, conv["id"], "after=%d&limit=3" % ids[5])
    assert [m["id"] for m in p["results"]] == ids[6:9] and p["has_more"] is False


def test_around_refusals(api_url, nine, make_user):
    a, conv, ids = nine
    url = msgs_url(api_url, conv["id"])
    for q in ("around=%d&before=%d" % (ids[4], ids[5]), "around=%d&after=%d" % (ids[4], ids[1]),
              "around=0", "around=-1", "around=x", "around=%d&limit=201" % ids[4],
              "around=%d&limit=0" % ids[4]):
        assert_error(request("GET", url + "?" + q, a), 400, "bad_request")
    other = direct(api_url, a, make_user("z"))
    elsewhere = send(api_url, a, other["id"], "elsewhere")
    assert_error(request("GET", url + "?around=%d" % elsewhere["id"], a), 404, "not_found")
    assert_error(request("GET", url + "?around=%d" % ids[4], make_user("out")), 404, "not_found")
