"""Blocking and direct chats that stay left (issue 12, item 3; docs/API.md, "Blocking"):
the REST rules as the blocked user would try to get around them, the 404 for outsiders
kept, and over the socket the presence and typing that must not arrive (proven with a
marker event sent after them) and the live block.changed event."""

import uuid

import pytest
import requests

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         msgs_url, parts_url, request, send)
from test_push import connect, is_msg, run

BLOCKS = "/api/users/blocks/"


def block(api_url, user, other, expect=201):
    r = request("POST", api_url + BLOCKS, user, {"user_id": other["id"]})
    assert r.status_code == expect, r.text
    return r.json()


def unblock(api_url, user, other):
    r = request("DELETE", "%s%s%d/" % (api_url, BLOCKS, other["id"]), user)
    assert r.status_code == 204, r.text


def presence_url(api_url, user):
    return "%s/api/users/%d/presence/" % (api_url, user["id"])


@pytest.fixture
def three(make_user):
    return make_user("ba"), make_user("bb"), make_user("bc")


# ---- the block list ------------------------------------------------------------------------

def test_block_list_block_again_and_unblock(api_url, servers, three):
    a, b, c = three
    since = last_event_id(servers)
    first = block(api_url, a, b)
    assert set(first) == {"id", "username", "display_name", "avatar_url", "deleted", "is_bot", "blocked_at"}
    assert first["id"] == b["id"] and first["username"] == b["username"]
    assert block(api_url, a, b, expect=200) == first  # again: nothing changes
    block(api_url, a, c)
    listed = request("GET", api_url + BLOCKS, a).json()["results"]
    assert [x["id"] for x in listed] == [c["id"], b["id"]]  # newest first
    assert request("GET", api_url + BLOCKS, b).json()["results"] == []
    # One block.changed per change, for the blocker; nothing shared, so no presence event.
    events = events_since(servers, since, types={"block.changed", "presence"})
    assert [(t, p["user_id"], p["blocked_user_id"], p["blocked"]) for t, p in events] == [
        ("block.changed", a["id"], b["id"], True), ("block.changed", a["id"], c["id"], True)]
    assert events[0][1]["user"]["id"] == b["id"]
    unblock(api_url, a, b)
    assert [x["id"] for x in request("GET", api_url + BLOCKS, a).json()["results"]] == [c["id"]]
    assert_error(request("DELETE", "%s%s%d/" % (api_url, BLOCKS, b["id"]), a), 404, "not_found")


def test_bad_block_requests(api_url, three):
    a, _, _ = three
    assert_error(request("POST", api_url + BLOCKS, a, {"user_id": a["id"]}), 422,
                 "validation_error")
    assert_error(request("POST", api_url + BLOCKS, a, {"user_id": 2 ** 62}), 422,
                 "validation_error")
    assert_error(request("POST", api_url + BLOCKS, a, {"user_id": "7"}), 400, "invalid_type")
    assert_error(request("POST", api_url + BLOCKS, a, {"user_id": 7, "why": "x"}), 400,
                 "unknown_field")
    assert_error(request("POST", api_url + BLOCKS, a, {}), 400, "missing_field")
    assert_error(request("POST", api_url + BLOCKS, None, {"user_id": 7}), 401,
                 "not_authenticated")


# ---- what a block stops ----------------------------------------------------------------------

def test_blocked_user_cannot_open_or_write_the_direct_chat(api_url, three):
    a, b, _ = three
    dm = direct(api_url, a, b)
    first = send(api_url, b, dm["id"], "before the block")
    thumbs = "%s%d/reactions/%%F0%%9F%%91%%8D/" % (msgs_url(api_url, dm["id"]), first["id"])
    assert request("PUT", thumbs, b).status_code == 201
    block(api_url, a, b)
    # b, the blocked user: cannot open it again or post; the code says why.
    assert_error(request("POST", conv_url(api_url), b, {"participant_ids": [a["id"]]}), 403,
                 "blocked")
    assert_error(request("POST", msgs_url(api_url, dm["id"]), b, {"text": "hey"}), 403, "blocked")
    # a, the blocker, is told to unblock first.
    assert_error(request("POST", conv_url(api_url), a, {"participant_ids": [b["id"]]}), 403,
                 "user_blocked")
    assert_error(request("POST", msgs_url(api_url, dm["id"]), a, {"text": "hey"}), 403,
                 "user_blocked")
    # Nor react there (a reaction reaches the other like a message); one's own reaction
    # can still be taken back.
    assert_error(request("PUT", thumbs, b), 403, "blocked")
    assert_error(request("PUT", thumbs, a), 403, "user_blocked")
    assert request("DELETE", thumbs, b).status_code == 204
    got = request("GET", "%s%d/" % (msgs_url(api_url, dm["id"]), first["id"]), a).json()
    assert got["reactions"] == []
    # The history stays readable for both.
    for user in (a, b):
        page = request("GET", msgs_url(api_url, dm["id"]), user).json()["results"]
        assert [m["id"] for m in page] == [first["id"]]
    unblock(api_url, a, b)
    send(api_url, b, dm["id"], "after the unblock")
    assert direct(api_url, b, a)["id"] == dm["id"]


def test_the_page_form_says_why_a_message_was_refused(api_url, three):
    """The no-JavaScript send form: the page again with the reason and the text kept."""
    a, b, _ = three
    dm = direct(api_url, a, b)
    block(api_url, a, b)
    s = requests.Session()
    r = s.post(api_url + "/api/auth/login",
               json={"username": b["username"], "password": b["password"]}, timeout=30)
    assert r.status_code == 200, r.text
    r = s.post("%s/chat/%d/send" % (api_url, dm["id"]), allow_redirects=False, timeout=30,
               data={"text": "let me write", "csrf_token": s.cookies["chat_csrf"]})
    assert r.status_code == 403, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "This user has blocked you." in r.text and "let me write" in r.text
    assert request("GET", msgs_url(api_url, dm["id"]), a).json()["results"] == []


def test_a_new_direct_chat_with_the_blocker_is_refused(api_url, three):
    a, b, _ = three
    block(api_url, a, b)
    assert_error(request("POST", conv_url(api_url), b, {"participant_ids": [a["id"]]}), 403,
                 "blocked")
    listed = request("GET", conv_url(api_url), a).json()["results"]
    assert listed == []  # nothing was created on a's side


def test_blocked_user_cannot_add_the_blocker_to_a_group(api_url, three):
    a, b, c = three
    shared = group(api_url, c, [a, b], name="shared")
    own = group(api_url, b, [c], name="b's")
    block(api_url, a, b)
    assert_error(request("POST", parts_url(api_url, own["id"]), b, {"user_id": a["id"]}), 403,
                 "blocked")
    # Even where a already is: the answer does not depend on membership.
    assert_error(request("POST", parts_url(api_url, shared["id"]), b, {"user_id": a["id"]}),
                 403, "blocked")
    assert_error(request("POST", conv_url(api_url), b,
                         {"participant_ids": [c["id"], a["id"]], "is_group": True}), 403,
                 "blocked")
    ids = {p["id"] for p in request("GET", parts_url(api_url, own["id"]), b).json()["results"]}
    assert a["id"] not in ids
    # The blocker may still add the blocked user; shared groups keep working both ways.
    mine = group(api_url, a, [c], name="a's")
    r = request("POST", parts_url(api_url, mine["id"]), a, {"user_id": b["id"]})
    assert r.status_code == 201, r.text
    m1 = send(api_url, a, shared["id"], "from a")
    m2 = send(api_url, b, shared["id"], "from b")
    page = request("GET", msgs_url(api_url, shared["id"]), a).json()["results"]
    assert [m["id"] for m in page] == [m1["id"], m2["id"]]


def test_an_outsider_still_gets_404_not_403(api_url, three, make_user):
    a, b, c = three
    d = make_user("bd")
    direct(api_url, a, c)
    block(api_url, a, d)
    block(api_url, a, b)
    # d shares nothing with a: the presence answer is the 404 everyone outside gets.
    assert_error(request("GET", presence_url(api_url, a), d), 404, "not_found")
    # b shares a group with a: 403 tells b they are blocked (they could learn it anyway).
    group(api_url, c, [a, b])
    assert_error(request("GET", presence_url(api_url, a), b), 403, "blocked")
    # The other direction is not blocked: a still sees b's presence.
    assert request("GET", presence_url(api_url, b), a).status_code == 200


# ---- a direct chat someone left stays left --------------------------------------------------

def test_a_direct_chat_stays_left_until_the_leaver_comes_back(api_url, servers, three):
    a, b, _ = three
    dm = direct(api_url, a, b)
    hello = send(api_url, a, dm["id"], "hello b")
    assert request("DELETE", conv_url(api_url, dm["id"]), b).status_code == 204
    # a starts the chat again: the same conversation, and b is not pulled back in.
    since = last_event_id(servers)
    again = request("POST", conv_url(api_url), a, {"participant_ids": [b["id"]]})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == dm["id"]
    assert [p["id"] for p in again.json()["participants"]] == [a["id"]]
    assert events_since(servers, since, dm["id"]) == []
    assert_error(request("GET", conv_url(api_url, dm["id"]), b), 404, "not_found")
    # What a sees and can do: the history, no posting until b is back.
    page = request("GET", msgs_url(api_url, dm["id"]), a).json()["results"]
    assert [m["id"] for m in page] == [hello["id"]]
    assert_error(request("POST", msgs_url(api_url, dm["id"]), a, {"text": "please come back"}),
                 403, "recipient_left")
    r = request("PUT", "%s%d/reactions/ok/" % (msgs_url(api_url, dm["id"]), hello["id"]), a)
    assert_error(r, 403, "recipient_left")
    # b comes back by starting it themselves: the whole history, and a may write again.
    back = request("POST", conv_url(api_url), b, {"participant_ids": [a["id"]]})
    assert back.status_code == 200, back.text
    assert {p["id"] for p in back.json()["participants"]} == {a["id"], b["id"]}
    assert [(t, p["user_id"]) for t, p in events_since(servers, since, dm["id"])] == [
        ("participant.added", b["id"])]
    page = request("GET", msgs_url(api_url, dm["id"]), b).json()["results"]
    assert [m["id"] for m in page] == [hello["id"]]
    send(api_url, a, dm["id"], "welcome back")


def test_both_left_and_one_comes_back_alone(api_url, three):
    a, b, _ = three
    dm = direct(api_url, a, b)
    for user in (a, b):
        assert request("DELETE", conv_url(api_url, dm["id"]), user).status_code == 204
    back = request("POST", conv_url(api_url), a, {"participant_ids": [b["id"]]})
    assert back.status_code == 200, back.text
    assert [p["id"] for p in back.json()["participants"]] == [a["id"]]
    assert_error(request("GET", conv_url(api_url, dm["id"]), b), 404, "not_found")


def test_a_blocked_leaver_cannot_come_back(api_url, three):
    a, b, _ = three
    dm = direct(api_url, a, b)
    assert request("DELETE", conv_url(api_url, dm["id"]), b).status_code == 204
    block(api_url, a, b)
    assert_error(request("POST", conv_url(api_url), b, {"participant_ids": [a["id"]]}), 403,
                 "blocked")
    assert_error(request("GET", conv_url(api_url, dm["id"]), b), 404, "not_found")


# ---- over the socket ---------------------------------------------------------------------

def online_in_list(api_url, viewer, subject):
    for c in request("GET", conv_url(api_url), viewer).json()["results"]:
        for p in c["participants"]:
            if p["id"] == subject["id"]:
                return p["online"]
    raise AssertionError("%s shares nothing with %s" % (viewer["username"], subject["username"]))


def of(type_, **fields):
    return lambda f: f["type"] == type_ and all(
        (f.get("data") or f).get(k) == v for k, v in fields.items())


async def close_all(*clients):
    for client in clients:
        await client.close()


def test_presence_and_typing_stop_at_the_block_and_resume_at_the_unblock(servers, three):
    a, b, c = three
    api = servers.httpd_url
    conv = group(api, c, [a, b])["id"]

    async def scenario():
        cb = await connect(servers, b)
        cc = await connect(servers, c)
        block(api, a, b)
        # b's page learns at once that a is no longer visible to them.
        f = await cb.wait_for(of("presence", user_id=a["id"]), what="a's presence for b")
        assert f["data"]["online"] is False and f["data"]["last_seen"] is None
        assert f["data"]["to_user_id"] == b["id"]
        # a comes online: c hears it, b does not (the marker is c's message after it).
        ca = await connect(servers, a)
        await cc.wait_for(of("presence", user_id=a["id"], online=True), what="a online for c")
        # a types: c sees it, b does not.
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await cc.wait_for(of("typing", is_typing=True), what="a's typing for c")
        marker = send(api, c, conv, "marker")
        await cb.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == marker["id"],
                          what="the marker")
        assert not [f for f in cb.seen if f["type"] == "typing"], cb.seen
        assert not [f for f in cb.seen if f["type"] == "presence"
                    and f["data"]["user_id"] == a["id"] and f["data"]["online"]], cb.seen
        # Nor does a hear b typing (no typing either way while one blocks the other).
        await cb.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await cc.wait_for(lambda f: f["type"] == "typing" and f["user"]["id"] == b["id"],
                          what="b's typing for c")
        marker = send(api, c, conv, "marker 2")
        await ca.wait_for(lambda f: is_msg(conv)(f) and f["data"]["id"] == marker["id"],
                          what="the second marker")
        assert not [f for f in ca.seen if f["type"] == "typing"], ca.seen
        # The list shows a offline to b and online to c; REST presence is 403 for b.
        assert online_in_list(api, b, a) is False
        assert online_in_list(api, c, a) is True
        assert_error(request("GET", presence_url(api, a), b), 403, "blocked")
        # Unblock: a's devices hear block.changed, b gets a's real presence, typing flows.
        unblock(api, a, b)
        f = await ca.wait_for(of("block.changed"), what="block.changed on a's socket")
        assert f["conversation_id"] is None
        assert f["data"]["blocked"] is False and f["data"]["blocked_user_id"] == b["id"]
        f = await cb.wait_for(of("presence", user_id=a["id"], online=True),
                              what="a's presence back for b")
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": False})
        await ca.send({"type": "typing", "conversation_id": conv, "is_typing": True})
        await cb.wait_for(of("typing", is_typing=True), what="a's typing for b after unblock")
        assert online_in_list(api, b, a) is True
        assert not [f for f in cb.seen if f["type"] == "block.changed"], cb.seen
        await close_all(ca, cb, cc)

    run(scenario())


def test_block_changed_reaches_the_blockers_other_devices(servers, three):
    a, b, c = three
    api = servers.httpd_url

    async def scenario():
        first, second = await connect(servers, a), await connect(servers, a)
        cb = await connect(servers, b)
        block(api, a, b)
        for device in (first, second):
            f = await device.wait_for(of("block.changed"), what="block.changed")
            assert f["data"]["user_id"] == a["id"] and f["data"]["blocked"] is True
            assert f["data"]["user"]["id"] == b["id"]
        # b is told nothing (they share no conversation): c's new chat with b, an event
        # written after the block, is the marker.
        marker = direct(api, c, b)["id"]
        await cb.wait_for(lambda f: f["type"] == "conversation.created"
                          and f["conversation_id"] == marker, what="the marker")
        assert not [f for f in cb.seen if f["type"] in ("block.changed", "presence")], cb.seen
        await close_all(first, second, cb)

    run(scenario())


def test_socket_send_in_a_blocked_direct_chat_is_refused(servers, three):
    a, b, _ = three
    api = servers.httpd_url
    dm = direct(api, a, b)["id"]
    block(api, a, b)

    async def scenario():
        cb = await connect(servers, b)
        cmid = uuid.uuid4().hex
        await cb.send({"type": "message.send", "conversation_id": dm, "text": "hi",
                       "client_msg_id": cmid})
        f = await cb.wait_for(of("error"), what="the refusal")
        assert f["code"] == "blocked" and f["client_msg_id"] == cmid, f
        await cb.close()

    run(scenario())
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s", (dm,))[0][0] == 0
