"""Group roles (docs/API.md, "Group roles"): the creator is the first admin; admins rename,
remove, promote and demote, and delete any message of the group; a plain member trying
any of that gets 403 not_admin and changes nothing, an outsider 404. A group keeps an
admin: demoting the only one is 409 last_admin, and when the last admin leaves the
earliest remaining participant becomes one. Role changes reach the participants live
(participant.role_changed) and every moderation action is in the audit log. Through both
front ends."""

import pathlib
import re

import pytest

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         msg_url, parts_url, request, send)
from test_push import connect, run

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def four(make_user):
    return make_user("ra"), make_user("rb"), make_user("rc"), make_user("rd")


def roles(api_url, user, conv_id):
    """{user id: role} from the participants list."""
    r = request("GET", parts_url(api_url, conv_id), user)
    assert r.status_code == 200, r.text
    return {p["id"]: p["role"] for p in r.json()["results"]}


def set_role(api_url, actor, conv_id, user, role):
    return request("PATCH", parts_url(api_url, conv_id, user["id"]), actor, {"role": role})


def audit_rows(servers, conv_id):
    """(actor_id, action, target_user_id, message_id, detail) of conv_id's audit rows."""
    return [tuple(r) for r in servers.db(
        "SELECT actor_id, action, target_user_id, message_id, detail FROM audit_log "
        "WHERE conversation_id = %s ORDER BY id", (conv_id,))]


def test_creator_is_admin_and_roles_show_in_every_list(api_url, four):
    a, b, c, d = four
    conv = group(api_url, a, [b, c])
    assert {p["id"]: p["role"] for p in conv["participants"]} == {
        a["id"]: "admin", b["id"]: "member", c["id"]: "member"}
    assert roles(api_url, b, conv["id"]) == {a["id"]: "admin", b["id"]: "member",
                                             c["id"]: "member"}
    r = request("POST", parts_url(api_url, conv["id"]), b, {"user_id": d["id"]})
    assert r.status_code == 201 and r.json()["role"] == "member", r.text
    got = request("GET", conv_url(api_url, conv["id"]), d).json()
    assert {p["id"]: p["role"] for p in got["participants"]}[d["id"]] == "member"
    # A direct chat has no admins.
    dm = direct(api_url, a, b)
    assert roles(api_url, a, dm["id"]) == {a["id"]: "member", b["id"]: "member"}
    assert_error(set_role(api_url, a, dm["id"], b, "admin"), 409, "conflict")


def test_admin_promotes_and_demotes_live_and_audited(api_url, servers, four):
    a, b, c, _ = four
    conv = group(api_url, a, [b, c])["id"]

    async def scenario():
        watcher = await connect(servers, c)
        since = last_event_id(servers)
        r = set_role(api_url, a, conv, b, "admin")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == b["id"] and r.json()["role"] == "admin"
        f = await watcher.wait_for(lambda f: f["type"] == "participant.role_changed")
        assert f["conversation_id"] == conv
        assert f["data"] == {"conversation_id": conv, "user_id": b["id"], "role": "admin",
                             "actor_id": a["id"],
                             "user": {"id": b["id"], "username": b["username"],
                                      "display_name": b["display_name"], "avatar_url": None,
                                      "deleted": False, "is_bot": False}}
        # The new admin demotes the creator; the same role again writes nothing.
        r = set_role(api_url, b, conv, a, "member")
        assert r.status_code == 200 and r.json()["role"] == "member", r.text
        f = await watcher.wait_for(lambda f: f["type"] == "participant.role_changed")
        assert (f["data"]["user_id"], f["data"]["role"]) == (a["id"], "member")
        r = set_role(api_url, b, conv, a, "member")
        assert r.status_code == 200 and r.json()["role"] == "member", r.text
        assert [t for t, _ in events_since(servers, since, conv)] == [
            "participant.role_changed", "participant.role_changed"]
        await watcher.close()

    run(scenario())
    assert roles(api_url, c, conv) == {a["id"]: "member", b["id"]: "admin", c["id"]: "member"}
    assert audit_rows(servers, conv) == [
        (a["id"], "group.role_changed", b["id"], None, "admin"),
        (b["id"], "group.role_changed", a["id"], None, "member")]
    # The demoted creator is a plain member now.
    assert_error(request("PATCH", conv_url(api_url, conv), a, {"name": "mine"}), 403, "not_admin")


def test_plain_member_gets_not_admin_for_every_admin_action(api_url, servers, four):
    """b, a plain member, tries every admin action; the outsider d tries them too. Nothing
    changes, no event and no audit row is written; then b leaves, which members may."""
    a, b, c, d = four
    conv = group(api_url, a, [b, c], name="kept")["id"]
    m = send(api_url, a, conv, "a's message")
    own = send(api_url, b, conv, "b's message")
    attempts = [
        ("PATCH", conv_url(api_url, conv), {"name": "taken over"}),
        ("DELETE", parts_url(api_url, conv, c["id"]), None),
        ("DELETE", parts_url(api_url, conv, a["id"]), None),
        ("PATCH", parts_url(api_url, conv, b["id"]), {"role": "admin"}),
        ("PATCH", parts_url(api_url, conv, c["id"]), {"role": "admin"}),
        ("PATCH", parts_url(api_url, conv, a["id"]), {"role": "member"}),
        ("DELETE", msg_url(api_url, conv, m["id"]), None),
    ]
    since = last_event_id(servers)
    for method, url, body in attempts:
        assert_error(request(method, url, b, body), 403, "not_admin")
        assert_error(request(method, url, d, body), 404, "not_found")
    assert events_since(servers, since, conv) == []
    assert audit_rows(servers, conv) == []
    got = request("GET", conv_url(api_url, conv), a).json()
    assert got["name"] == "kept"
    assert {p["id"]: p["role"] for p in got["participants"]} == {
        a["id"]: "admin", b["id"]: "member", c["id"]: "member"}
    assert request("GET", msg_url(api_url, conv, m["id"]), a).json()["text"] == "a's message"
    # What members may: delete their own message, add someone, leave.
    assert request("DELETE", msg_url(api_url, conv, own["id"]), b).status_code == 204
    assert request("POST", parts_url(api_url, conv), b, {"user_id": d["id"]}).status_code == 201
    assert request("DELETE", conv_url(api_url, conv), b).status_code == 204
    assert audit_rows(servers, conv) == []


def test_only_admin_cannot_step_down_and_leaving_hands_over(api_url, servers, four):
    """The only admin demoting themselves is 409 last_admin; leaving is never refused:
    the earliest remaining participant (b, then c) becomes admin in the same transaction."""
    a, b, c, _ = four
    conv = group(api_url, a, [b, c])["id"]
    assert_error(set_role(api_url, a, conv, a, "member"), 409, "last_admin")
    assert roles(api_url, a, conv)[a["id"]] == "admin"
    since = last_event_id(servers)
    assert request("DELETE", conv_url(api_url, conv), a).status_code == 204
    events = events_since(servers, since, conv)
    assert [t for t, _ in events] == ["participant.removed", "participant.role_changed"]
    assert (events[1][1]["user_id"], events[1][1]["role"], events[1][1]["actor_id"]) == (
        b["id"], "admin", a["id"])
    assert roles(api_url, c, conv) == {b["id"]: "admin", c["id"]: "member"}
    assert audit_rows(servers, conv) == [(a["id"], "group.admin_inherited", b["id"], None, "admin")]
    # With a second admin, the first may step down; leaving then hands nothing over.
    assert set_role(api_url, b, conv, c, "admin").status_code == 200
    r = set_role(api_url, b, conv, b, "member")
    assert r.status_code == 200 and r.json()["role"] == "member", r.text
    since = last_event_id(servers)
    assert request("DELETE", conv_url(api_url, conv), b).status_code == 204
    assert [t for t, _ in events_since(servers, since, conv)] == ["participant.removed"]
    assert roles(api_url, c, conv) == {c["id"]: "admin"}


def test_admin_removes_and_deletes_any_message_audited(api_url, servers, four):
    a, b, c, _ = four
    conv = group(api_url, a, [b, c])["id"]
    m = send(api_url, b, conv, "b's secret")
    assert set_role(api_url, a, conv, c, "admin").status_code == 200
    since = last_event_id(servers)
    # c, a promoted admin, deletes b's message: the author's tombstone, scrubbed.
    assert request("DELETE", msg_url(api_url, conv, m["id"]), c).status_code == 204
    got = request("GET", msg_url(api_url, conv, m["id"]), b).json()
    assert got["deleted"] is True and got["text"] == ""
    assert [t for t, _ in events_since(servers, since, conv)] == ["message.deleted"]
    leaked = servers.db("SELECT COUNT(*) FROM events WHERE payload LIKE %s",
                        ("%b's secret%",))[0][0]
    assert leaked == 0
    # ... and removes b; an admin can remove another admin too.
    assert request("DELETE", parts_url(api_url, conv, b["id"]), c).status_code == 204
    assert_error(request("GET", conv_url(api_url, conv), b), 404, "not_found")
    assert request("DELETE", parts_url(api_url, conv, a["id"]), c).status_code == 204
    assert audit_rows(servers, conv) == [
        (a["id"], "group.role_changed", c["id"], None, "admin"),
        (c["id"], "group.message_deleted", b["id"], m["id"], None),
        (c["id"], "group.member_removed", b["id"], None, None),
        (c["id"], "group.member_removed", a["id"], None, None)]
    # In a direct chat nobody deletes the other's message.
    dm = direct(api_url, a, b)["id"]
    theirs = send(api_url, b, dm, "mine")
    assert_error(request("DELETE", msg_url(api_url, dm, theirs["id"]), a), 403,
                 "permission_denied")


def test_role_input_is_checked(api_url, servers, four):
    a, b, _, d = four
    conv = group(api_url, a, [b])["id"]
    url = parts_url(api_url, conv, b["id"])
    since = last_event_id(servers)
    assert_error(request("PATCH", url, a, {"role": "owner"}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"role": "ADMIN"}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"role": "a" * 17}), 422, "validation_error")
    assert_error(request("PATCH", url, a, {"role": 1}), 400, "invalid_type")
    assert_error(request("PATCH", url, a, {}), 400, "missing_field")
    assert_error(request("PATCH", url, a, {"role": "admin", "x": 1}), 400, "unknown_field")
    assert_error(request("PATCH", url, a, data=b"{", headers={"Content-Type": "application/json"}),
                 400, "parse_error")
    assert_error(request("PATCH", url, a, data=b'{"role":"admin"}',
                         headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert_error(request("PATCH", parts_url(api_url, conv, d["id"]), a, {"role": "admin"}), 404,
                 "not_found")
    assert_error(request("PATCH", url, None, {"role": "admin"}), 401, "not_authenticated")
    assert events_since(servers, since, conv) == []
    assert roles(api_url, a, conv)[b["id"]] == "member"


def test_migration_makes_the_creator_or_the_earliest_participant_admin(servers, make_user):
    """Migration 009's role statements, run again on groups that have no admin (as every
    group had before it): the creator when still there, else the earliest participant."""
    api = servers.httpd_url
    a, b, c = make_user("ma"), make_user("mb"), make_user("mc")
    kept = group(api, a, [b, c])["id"]
    gone = group(api, a, [b, c])["id"]
    assert request("DELETE", conv_url(api, gone), a).status_code == 204
    for conv in (kept, gone):
        servers.db("UPDATE participants SET role = 'member' WHERE conversation_id = %s", (conv,))
    sql = (ROOT / "sql" / "009_roles_admin_audit.sql").read_text()
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", sql).split(";")]
    updates = [s for s in statements if s.startswith("UPDATE participants")]
    assert len(updates) == 2
    for statement in updates:
        servers.db(statement)
    assert roles(api, b, kept) == {a["id"]: "admin", b["id"]: "member", c["id"]: "member"}
    assert roles(api, b, gone) == {b["id"]: "admin", c["id"]: "member"}
