"""Renaming groups, participants (list, add, remove) and leaving, through both front ends:
the success path, author/participant/outsider authorization, bad input, and the event
each change writes."""

import pytest

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         msg_url,
                         login_session, msgs_url, parts_url, request, send, unread)


@pytest.fixture
def four(make_user):
    return make_user("a"), make_user("b"), make_user("c"), make_user("d")


# ---- rename ----------------------------------------------------------------------------

def test_an_admin_renames_a_group(api_url, servers, four):
    """Renaming needs a group admin (test_api_group_roles.py refuses the members); b is
    made one, then c."""
    a, b, c, _ = four
    conv = group(api_url, a, [b, c], name="before")
    for user in (b, c):
        r = request("PATCH", parts_url(api_url, conv["id"], user["id"]), a, {"role": "admin"})
        assert r.status_code == 200, r.text
    since = last_event_id(servers)
    r = request("PATCH", conv_url(api_url, conv["id"]), b, {"name": "après 🎉"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "après 🎉"
    assert r.json()["unread_count"] == 0
    got = request("GET", conv_url(api_url, conv["id"]), c).json()
    assert got["name"] == "après 🎉"
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["conversation.updated"]
    payload = events[0][1]
    assert payload["id"] == conv["id"] and payload["name"] == "après 🎉"
    assert "unread_count" not in payload
    assert {p["id"] for p in payload["participants"]} == {a["id"], b["id"], c["id"]}
    # The same name again changes nothing and writes no event; a case change is a change.
    since = last_event_id(servers)
    r = request("PATCH", conv_url(api_url, conv["id"]), c, {"name": "après 🎉"})
    assert r.status_code == 200, r.text
    assert events_since(servers, since, conv["id"]) == []
    r = request("PATCH", conv_url(api_url, conv["id"]), c, {"name": "APRÈS 🎉"})
    assert r.json()["name"] == "APRÈS 🎉"
    assert [t for t, _ in events_since(servers, since, conv["id"])] == ["conversation.updated"]


def test_rename_refusals(api_url, servers, four):
    a, b, c, d = four
    conv = group(api_url, a, [b], name="keep")
    url = conv_url(api_url, conv["id"])
    since = last_event_id(servers)
    assert_error(request("PATCH", url, d, {"name": "intruder"}), 404, "not_found")
    assert_error(request("PATCH", url, a, {"name": ""}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"name": "   "}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"name": "x" * 101}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"name": None}), 400)
    assert_error(request("PATCH", url, a, {"name": 5}), 400, "invalid_type")
    assert_error(request("PATCH", url, a, {}), 400, "missing_field")
    assert_error(request("PATCH", url, a, {"name": "ok", "is_group": False}), 400, "unknown_field")
    assert_error(request("PATCH", url, a, data="{", headers={"Content-Type": "application/json"}), 400)
    assert request("GET", url, a).json()["name"] == "keep"
    assert events_since(servers, since, conv["id"]) == []
    r = request("PATCH", url, a, {"name": "é" * 100})
    assert r.status_code == 200 and r.json()["name"] == "é" * 100, r.text
    dm = direct(api_url, a, c)
    assert_error(request("PATCH", conv_url(api_url, dm["id"]), a, {"name": "dm"}), 422,
                 "validation_error")


def test_rename_needs_auth_and_csrf(api_url, four):
    a, b, _, _ = four
    conv = group(api_url, a, [b], name="orig")
    url = conv_url(api_url, conv["id"])
    assert_error(request("PATCH", url, None, {"name": "x"}), 401)
    s = login_session(api_url, a)
    assert_error(s.patch(url, json={"name": "x"}, timeout=30), 403, "csrf_failed")
    assert_error(s.delete(url, timeout=30), 403, "csrf_failed")
    r = s.patch(url, json={"name": "by cookie"}, timeout=30,
                headers={"X-CSRFToken": s.cookies.get("chat_csrf")})
    assert r.status_code == 200 and r.json()["name"] == "by cookie", r.text
    assert request("GET", url, b).status_code == 200


# ---- participants ----------------------------------------------------------------------

def test_participant_list(api_url, four):
    a, b, c, d = four
    conv = group(api_url, a, [b, c])
    r = request("GET", parts_url(api_url, conv["id"]), b)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert {p["id"] for p in results} == {a["id"], b["id"], c["id"]}
    for p in results:
        assert set(p) == {"id", "username", "display_name", "avatar_url", "deleted", "is_bot", "joined_at",
                          "role"}, p
        assert p["role"] == ("admin" if p["id"] == a["id"] else "member"), p
        assert p["joined_at"].endswith("Z")
    assert_error(request("GET", parts_url(api_url, conv["id"]), d), 404, "not_found")
    assert_error(request("GET", parts_url(api_url, 999999999), a), 404, "not_found")


def test_any_participant_adds_and_the_newcomer_sees_history(api_url, servers, four):
    a, b, c, d = four
    conv = group(api_url, a, [b])
    old = send(api_url, a, conv["id"], "before d joined")
    since = last_event_id(servers)
    r = request("POST", parts_url(api_url, conv["id"]), b, {"user_id": d["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == d["id"] and r.json()["username"] == d["username"]
    assert r.json()["joined_at"].endswith("Z")
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["participant.added"]
    payload = events[0][1]
    assert payload["conversation_id"] == conv["id"] and payload["user_id"] == d["id"]
    assert payload["user"] == {"id": d["id"], "username": d["username"],
                               "display_name": d["display_name"], "avatar_url": None,
                               "deleted": False, "is_bot": False}
    assert payload["conversation"]["id"] == conv["id"]
    assert "unread_count" not in payload["conversation"]
    assert d["id"] in {p["id"] for p in payload["conversation"]["participants"]}
    # The newcomer sees the whole history, and the history counts as unread.
    page = request("GET", msgs_url(api_url, conv["id"]), d).json()
    assert [m["id"] for m in page["results"]] == [old["id"]]
    assert unread(api_url, d, conv["id"]) == 1
    # Adding a member again: 200, nothing written.
    since = last_event_id(servers)
    r = request("POST", parts_url(api_url, conv["id"]), a, {"user_id": d["id"]})
    assert r.status_code == 200 and r.json()["id"] == d["id"], r.text
    assert events_since(servers, since, conv["id"]) == []
    ids = [p["id"] for p in request("GET", parts_url(api_url, conv["id"]), a).json()["results"]]
    assert sorted(ids) == sorted({a["id"], b["id"], d["id"]}) and len(ids) == 3
    # The new member can add someone too.
    r = request("POST", parts_url(api_url, conv["id"]), d, {"user_id": c["id"]})
    assert r.status_code == 201, r.text


def test_add_refusals(api_url, servers, four):
    a, b, c, d = four
    conv = group(api_url, a, [b])
    url = parts_url(api_url, conv["id"])
    since = last_event_id(servers)
    assert_error(request("POST", url, d, {"user_id": c["id"]}), 404, "not_found")
    assert_error(request("POST", url, a, {"user_id": 999999999}), 422, "validation_error")
    assert_error(request("POST", url, a, {"user_id": 0}), 422, "validation_error")
    assert_error(request("POST", url, a, {"user_id": -3}), 422, "validation_error")
    assert_error(request("POST", url, a, {"user_id": str(c["id"])}), 400, "invalid_type")
    assert_error(request("POST", url, a, {"user_id": 1.5}), 400, "invalid_type")
    assert_error(request("POST", url, a, {}), 400, "missing_field")
    assert_error(request("POST", url, a, {"user_id": c["id"], "x": 1}), 400, "unknown_field")
    assert events_since(servers, since, conv["id"]) == []
    dm = direct(api_url, a, b)
    assert_error(request("POST", parts_url(api_url, dm["id"]), a, {"user_id": c["id"]}), 409,
                 "conflict")
    ids = {p["id"] for p in request("GET", parts_url(api_url, conv["id"]), a).json()["results"]}
    assert ids == {a["id"], b["id"]}


def test_only_an_admin_removes_others(api_url, servers, four):
    a, b, c, d = four
    conv = group(api_url, a, [b, c])
    assert_error(request("DELETE", parts_url(api_url, conv["id"], a["id"]), b), 403,
                 "not_admin")
    assert_error(request("DELETE", parts_url(api_url, conv["id"], c["id"]), d), 404, "not_found")
    assert_error(request("DELETE", parts_url(api_url, conv["id"], d["id"]), a), 404, "not_found")
    since = last_event_id(servers)
    r = request("DELETE", parts_url(api_url, conv["id"], b["id"]), a)
    assert r.status_code == 204, r.text
    assert r.content == b""
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["participant.removed"]
    assert events[0][1] == {"conversation_id": conv["id"], "user_id": b["id"],
                            "user": {"id": b["id"], "username": b["username"],
                                     "display_name": b["display_name"], "avatar_url": None,
                                     "deleted": False, "is_bot": False}}
    assert_error(request("GET", conv_url(api_url, conv["id"]), b), 404)
    ids = {p["id"] for p in request("GET", parts_url(api_url, conv["id"]), a).json()["results"]}
    assert ids == {a["id"], c["id"]}
    # Removing yourself is leaving, and anyone may do that.
    r = request("DELETE", parts_url(api_url, conv["id"], c["id"]), c)
    assert r.status_code == 204, r.text
    assert_error(request("GET", conv_url(api_url, conv["id"]), c), 404)


def test_direct_conversation_takes_no_removals(api_url, four):
    a, b, _, _ = four
    dm = direct(api_url, a, b)
    assert_error(request("DELETE", parts_url(api_url, dm["id"], b["id"]), a), 409, "conflict")
    ids = {p["id"] for p in request("GET", parts_url(api_url, dm["id"]), b).json()["results"]}
    assert ids == {a["id"], b["id"]}


# ---- leaving ---------------------------------------------------------------------------

def test_leaver_sees_nothing_new_and_rejoiner_sees_everything(api_url, servers, four):
    a, b, c, _ = four
    conv = group(api_url, a, [b, c])
    first = send(api_url, a, conv["id"], "everyone sees this")
    since = last_event_id(servers)
    r = request("DELETE", conv_url(api_url, conv["id"]), b)
    assert r.status_code == 204, r.text
    events = events_since(servers, since, conv["id"])
    assert [(t, p["user_id"]) for t, p in events] == [("participant.removed", b["id"])]
    during = send(api_url, a, conv["id"], "b is away")
    cid = conv["id"]
    # Everything about the conversation is now 404 for b, never 403.
    for method, url, body in [
        ("GET", conv_url(api_url, cid), None),
        ("PATCH", conv_url(api_url, cid), {"name": "x"}),
        ("DELETE", conv_url(api_url, cid), None),
        ("GET", msgs_url(api_url, cid), None),
        ("POST", msgs_url(api_url, cid), {"text": "let me in"}),
        ("GET", "%s%s/" % (msgs_url(api_url, cid), first["id"]), None),
        ("GET", parts_url(api_url, cid), None),
        ("POST", parts_url(api_url, cid), {"user_id": b["id"]}),
        ("POST", conv_url(api_url, cid) + "read/", {"message_id": first["id"]}),
    ]:
        assert_error(request(method, url, b, body), 404, "not_found")
    listed = {c_["id"] for c_ in request("GET", conv_url(api_url), b).json()["results"]}
    assert cid not in listed
    # Back in: the whole history, including what was said while away.
    r = request("POST", parts_url(api_url, cid), c, {"user_id": b["id"]})
    assert r.status_code == 201, r.text
    page = request("GET", msgs_url(api_url, cid), b).json()
    assert [m["id"] for m in page["results"]] == [first["id"], during["id"]]


def test_leaving_a_direct_chat_and_starting_it_again(api_url, servers, four):
    a, b, _, _ = four
    dm = direct(api_url, a, b)
    send(api_url, b, dm["id"], "hello a")
    r = request("DELETE", conv_url(api_url, dm["id"]), a)
    assert r.status_code == 204, r.text
    # The other user keeps the conversation and its history, but posting waits for a to
    # come back (test_api_blocking.py covers what stays left in full).
    assert request("GET", conv_url(api_url, dm["id"]), b).status_code == 200
    assert_error(request("POST", msgs_url(api_url, dm["id"]), b, {"text": "are you there?"}),
                 403, "recipient_left")
    assert_error(request("GET", msgs_url(api_url, dm["id"]), a), 404)
    # Starting the direct chat again rejoins the same conversation, with its history.
    since = last_event_id(servers)
    again = direct(api_url, a, b)
    assert again["id"] == dm["id"]
    assert {p["id"] for p in again["participants"]} == {a["id"], b["id"]}
    events = events_since(servers, since, dm["id"])
    assert [(t, p["user_id"]) for t, p in events] == [("participant.added", a["id"])]
    texts = [m["text"] for m in request("GET", msgs_url(api_url, dm["id"]), a).json()["results"]]
    assert texts == ["hello a"]
    # Leaving twice: the second time the conversation is already gone for the caller.
    assert request("DELETE", conv_url(api_url, dm["id"]), a).status_code == 204
    assert_error(request("DELETE", conv_url(api_url, dm["id"]), a), 404)


# Group size: test_api_large_groups.py.


# ---- outsiders ---------------------------------------------------------------------------

def test_outsider_gets_404_whatever_the_body(api_url, four):
    """An outsider learns nothing from a conversation's URLs: not from a valid body, and
    not from an invalid one that a member would get 400 or 422 for."""
    a, b, _, outsider = four
    conv = group(api_url, a, [b], name="private")["id"]
    m = send(api_url, a, conv, "secret")
    base = conv_url(api_url, conv)
    bodies = [None, {}, {"name": ""}, {"message_id": 0}, {"user_id": -1}, {"text": 5},
              {"unknown": 1}]
    attempts = [("PATCH", base), ("DELETE", base), ("GET", parts_url(api_url, conv)),
                ("POST", parts_url(api_url, conv)), ("DELETE", parts_url(api_url, conv, a["id"])),
                ("PATCH", parts_url(api_url, conv, a["id"])),
                ("POST", base + "read/"), ("POST", base + "delivered/"),
                ("POST", msgs_url(api_url, conv)), ("GET", msgs_url(api_url, conv) + "?limit=x"),
                ("PATCH", msg_url(api_url, conv, m["id"])),
                ("GET", msg_url(api_url, conv, m["id"]) + "status/"),
                ("PUT", msg_url(api_url, conv, m["id"]) + "reactions/%20/")]
    for method, url in attempts:
        for body in bodies:
            r = request(method, url, outsider, body)
            assert_error(r, 404, "not_found")
        r = request(method, url, outsider, data=b"{not json",
                    headers={"Content-Type": "application/json"})
        assert_error(r, 404, "not_found")
    # A member sending the same malformed input gets the real validation error.
    assert request("POST", base + "read/", b, {"message_id": 0}).status_code in (400, 422)
    assert request("PATCH", base, b, {"name": ""}).status_code == 422
