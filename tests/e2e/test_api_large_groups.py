"""Groups of thousands (issue 11, item 4): the group size limit is the setting
group_max_participants (10,000 by default, the harness's too), a group of 2,000 is created
and 2,000 people are added to one in a single request, through both front ends, and the
conversation list and the push daemon's fan-out stay right for them. Timings are for
`make bench`; these tests assert what was written and delivered."""

import asyncio
import os

import pytest

from api_helpers import assert_error, conv_url, events_since, last_event_id, parts_url, request
from test_push import connect, is_msg, run

GROUP_MAX = 10000  # the default of group_max_participants, which the harness keeps


def bulk_users(servers, count):
    """count users inserted straight into the database (they never log in; users are
    not what is tested here); their ids in creation order."""
    prefix = "lg_" + os.urandom(4).hex()
    conn = servers.db_connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, 'x')",
                [("%s_%d" % (prefix, i), "Large %d" % i) for i in range(count)])
            cur.execute("SELECT id FROM users WHERE username LIKE %s ORDER BY id", (prefix + "_%",))
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def create_group(api_url, owner, ids, name="large"):
    return request("POST", conv_url(api_url), owner,
                   {"participant_ids": ids, "name": name, "is_group": True})


def test_a_group_of_2000_is_created_in_one_request(api_url, servers, make_user):
    owner, member = make_user("lgo"), make_user("lgm")
    ids = bulk_users(servers, 1998)
    since = last_event_id(servers)
    # Repeats and the creator in the list are ignored, as for small groups.
    r = create_group(api_url, owner, ids + ids[:10] + [member["id"], owner["id"]])
    assert r.status_code == 201, r.text
    conv = r.json()
    got = [p["id"] for p in conv["participants"]]
    assert len(got) == 2000 and set(got) == set(ids) | {owner["id"], member["id"]}
    assert got[0] == owner["id"]  # the creator joined first, as its admin
    roles = {p["id"]: p["role"] for p in conv["participants"]}
    assert roles[owner["id"]] == "admin"
    assert {roles[i] for i in ids} == {"member"}
    # One conversation.created naming everyone, nothing per member.
    events = events_since(servers, since, conv["id"])
    assert [t for t, _ in events] == ["conversation.created"]
    assert len(events[0][1]["participants"]) == 2000
    # A member's list has it, with everyone.
    listed = [c for c in request("GET", conv_url(api_url), member).json()["results"]
              if c["id"] == conv["id"]]
    assert len(listed) == 1 and len(listed[0]["participants"]) == 2000
    r = request("GET", parts_url(api_url, conv["id"]), member)
    assert r.status_code == 200 and len(r.json()["results"]) == 2000


def test_2000_are_added_in_one_request_and_receive_the_group(api_url, servers, make_user):
    owner, joiner, outsider = make_user("lao"), make_user("laj"), make_user("lax")
    conv = create_group(api_url, owner, [outsider["id"]]).json()["id"]
    request("DELETE", parts_url(api_url, conv, outsider["id"]), owner)  # now an outsider
    ids = bulk_users(servers, 1999)

    async def scenario():
        cj = await connect(servers, joiner)
        since = last_event_id(servers)
        r = request("POST", parts_url(api_url, conv), owner,
                    {"user_ids": ids + [joiner["id"], owner["id"], ids[0]]})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["already_participants"] == [owner["id"]]
        added = {p["id"]: p for p in body["added"]}
        assert set(added) == set(ids) | {joiner["id"]}
        assert added[joiner["id"]]["role"] == "member" and added[joiner["id"]]["joined_at"]
        # One participant.added each, carrying the user but not the conversation.
        events = events_since(servers, since, conv, types=["participant.added"])
        assert sorted(p["user_id"] for _, p in events) == sorted(added)
        mine = [p for _, p in events if p["user_id"] == joiner["id"]][0]
        assert mine["user"]["id"] == joiner["id"] and "conversation" not in mine
        # The joiner's socket is subscribed: its participant.added, then the group's messages.
        f = await cj.wait_for(lambda f: f["type"] == "participant.added"
                              and f["data"]["user_id"] == joiner["id"])
        assert f["conversation_id"] == conv
        m = request("POST", conv_url(api_url, conv) + "messages/", owner, {"text": "welcome all"})
        assert m.status_code == 201, m.text
        f = await cj.wait_for(is_msg(conv))
        assert f["data"]["id"] == m.json()["id"]
        await cj.close()

    run(scenario())
    r = request("GET", conv_url(api_url, conv), joiner)
    assert r.status_code == 200 and len(r.json()["participants"]) == 2001
    # Adding them all again adds nobody: 200 and every one of them already there.
    r = request("POST", parts_url(api_url, conv), owner, {"user_ids": ids[:50]})
    assert r.status_code == 200, r.text
    assert r.json() == {"added": [], "already_participants": sorted(ids[:50])}
    # The outsider learns nothing, whatever the list holds.
    assert_error(request("POST", parts_url(api_url, conv), outsider, {"user_ids": ids[:3]}),
                 404, "not_found")


def test_a_bulk_add_is_all_or_nothing(api_url, servers, make_user):
    owner, blocker = make_user("lno"), make_user("lnb")
    conv = create_group(api_url, owner, [make_user("lnm")["id"]]).json()["id"]
    ids = bulk_users(servers, 20)
    count = lambda: len(request("GET", parts_url(api_url, conv), owner).json()["results"])
    before = count()
    # An unknown id, a deleted account, or someone who blocked the adder: nobody is added.
    unknown = max(ids) + 10 ** 9
    assert_error(request("POST", parts_url(api_url, conv), owner, {"user_ids": ids + [unknown]}),
                 422, "validation_error")
    servers.db("UPDATE users SET deleted_at = NOW() WHERE id = %s", (ids[-1],))
    assert_error(request("POST", parts_url(api_url, conv), owner, {"user_ids": ids}),
                 422, "validation_error")
    assert request("POST", "%s/api/users/blocks/" % api_url, blocker,
                   {"user_id": owner["id"]}).status_code == 201
    assert_error(request("POST", parts_url(api_url, conv), owner,
                         {"user_ids": ids[:-1] + [blocker["id"]]}), 403, "blocked")
    assert count() == before
    # The body's own rules.
    for body in ({"user_ids": []}, {"user_ids": [ids[0], 0]}, {"user_ids": [ids[0], -5]},
                 {"user_id": ids[0], "user_ids": [ids[1]]}):
        assert_error(request("POST", parts_url(api_url, conv), owner, body), 422,
                     "validation_error")
    assert_error(request("POST", parts_url(api_url, conv), owner, {}), 400, "missing_field")
    for body in ({"user_ids": "1,2"}, {"user_ids": [ids[0], "2"]}, {"user_ids": [1.5]}):
        assert_error(request("POST", parts_url(api_url, conv), owner, body), 400,
                     "invalid_type")
    assert count() == before
    # A direct conversation takes nobody.
    d = request("POST", conv_url(api_url), owner, {"participant_ids": [ids[0]]}).json()["id"]
    assert_error(request("POST", parts_url(api_url, d), owner, {"user_ids": [ids[1]]}),
                 409, "conflict")


def test_the_group_size_limit_is_the_setting(api_url, servers, make_user):
    """group_max_participants counts the creator: GROUP_MAX - 1 others make a full group,
    one more is refused at creation (422) and when added, one or many (409 group_full)."""
    owner = make_user("lmo")
    ids = bulk_users(servers, GROUP_MAX + 1)
    assert_error(create_group(api_url, owner, ids[:GROUP_MAX]), 422, "validation_error")
    r = create_group(api_url, owner, ids[:GROUP_MAX - 2])
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    assert_error(request("POST", parts_url(api_url, conv), owner, {"user_ids": ids[GROUP_MAX - 2:]}),
                 409, "group_full")
    r = request("POST", parts_url(api_url, conv), owner, {"user_id": ids[GROUP_MAX - 2]})
    assert r.status_code == 201, r.text
    assert_error(request("POST", parts_url(api_url, conv), owner, {"user_id": ids[GROUP_MAX - 1]}),
                 409, "group_full")
    assert_error(request("POST", parts_url(api_url, conv), owner, {"user_ids": [ids[GROUP_MAX]]}),
                 409, "group_full")
    # Someone already in it is no newcomer: a full group still answers 200 for them.
    r = request("POST", parts_url(api_url, conv), owner, {"user_ids": [ids[0]]})
    assert r.status_code == 200, r.text
    assert request("DELETE", parts_url(api_url, conv, ids[0]), owner).status_code == 204
    r = request("POST", parts_url(api_url, conv), owner, {"user_ids": [ids[GROUP_MAX]]})
    assert r.status_code == 201, r.text
