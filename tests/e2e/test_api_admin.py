"""Site administration (docs/API.md, "Site administration"): the first admin made with
`chatctl user add --admin`; under /api/admin/ the user list and search (paged, bounded),
deactivating (which cuts the account's open sockets, SSE and long-polls at once) and
reactivating, deleting any message as a tombstone, and the audit log; the same through
chatctl, audited as "operator". Everyone but a site admin gets 404 there, whatever they
try. The API tests run through both front ends."""

import time

import requests

from api_helpers import (assert_error, conv_url, direct, events_since, group, last_event_id,
                         login_session, msg_url, request, send)
from helpers import unique_name
from test_push import connect, run
from test_push_security import assert_all_ended_soon, open_everything


def admin_url(api_url, path=""):
    return api_url + "/api/admin/" + path


def make_admin(servers, make_user, prefix="adm"):
    user = make_user(prefix)
    servers.chatctl("user", "admin", user["username"])
    return user


def audit(servers, since_id=0):
    """(actor_id, actor_name, action, target_user_id, message_id) of the audit rows after
    since_id."""
    return [tuple(r) for r in servers.db(
        "SELECT actor_id, actor_name, action, target_user_id, message_id FROM audit_log "
        "WHERE id > %s ORDER BY id", (since_id,))]


def last_audit_id(servers):
    return servers.db("SELECT COALESCE(MAX(id), 0) FROM audit_log")[0][0]


def test_everyone_but_a_site_admin_gets_404_for_every_admin_action(api_url, servers, make_user):
    """Anonymous, a plain user (bearer, or cookie with its CSRF header) and a group admin
    who is no site admin try every admin action and a few paths that do not exist: each is
    the 404 of an unknown path (no 401, 403 or 405). Nothing changes."""
    owner, member = make_user("go"), make_user("gm")
    conv = group(api_url, owner, [member])["id"]
    m = send(api_url, owner, conv, "stays")
    attempts = [
        ("GET", "users/"), ("GET", "users/?q=%s" % member["username"]),
        ("GET", "users/%d/" % member["id"]),
        ("POST", "users/%d/deactivate/" % member["id"]),
        ("POST", "users/%d/reactivate/" % member["id"]),
        ("DELETE", "messages/%d/" % m["id"]), ("GET", "audit/"),
        ("GET", ""), ("GET", "nothing/"), ("PUT", "users/"), ("DELETE", "audit/"),
        ("POST", "users/%d/" % member["id"]),
    ]
    cookie = login_session(api_url, member)
    csrf = {"X-CSRFToken": cookie.cookies.get("chat_csrf")}
    since, audited = last_event_id(servers), last_audit_id(servers)
    for method, path in attempts:
        url = admin_url(api_url, path)
        for user in (None, member, owner):
            r = request(method, url, user)
            assert_error(r, 404, "not_found")
            assert "Allow" not in r.headers
        assert_error(cookie.request(method, url, headers=csrf, timeout=30), 404, "not_found")
    assert events_since(servers, since) == []
    assert last_audit_id(servers) == audited
    assert request("GET", api_url + "/api/auth/me", member).status_code == 200
    assert request("GET", msg_url(api_url, conv, m["id"]), member).json()["text"] == "stays"


def test_first_admin_from_chatctl_then_admin_and_unadmin(api_url, servers):
    name = unique_name("first")
    out = servers.chatctl("user", "add", name, "--password", "password123", "--admin").stdout
    assert "site admin" in out
    r = requests.post(api_url + "/api/auth/login", timeout=30,
                      json={"username": name, "password": "password123"})
    assert r.status_code == 200, r.text
    admin = {"token": r.json()["token"], "id": r.json()["user"]["id"]}
    r = request("GET", admin_url(api_url, "users/%d/" % admin["id"]), admin)
    assert r.status_code == 200, r.text
    assert r.json()["is_admin"] is True and r.json()["deactivated_at"] is None
    audited = last_audit_id(servers)
    servers.chatctl("user", "unadmin", name)
    assert_error(request("GET", admin_url(api_url, "users/"), admin), 404, "not_found")
    servers.chatctl("user", "admin", name)
    assert request("GET", admin_url(api_url, "users/"), admin).status_code == 200
    assert audit(servers, audited) == [(None, "operator", "user.admin_revoked", admin["id"], None),
                                       (None, "operator", "user.admin_granted", admin["id"], None)]
    r = servers.chatctl("user", "admin", "no_such_user_here", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr


def test_user_list_search_is_paged_and_bounded(api_url, servers, make_user):
    admin = make_admin(servers, make_user)
    tag = unique_name("pg")[-10:]
    users = [make_user("p%d%s" % (i, tag)) for i in range(5)]
    r = request("GET", admin_url(api_url, "users/?q=%s&limit=2" % tag), admin)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [u["id"] for u in page["results"]] == [users[0]["id"], users[1]["id"]]
    assert page["has_more"] is True
    assert set(page["results"][0]) == {"id", "username", "display_name", "avatar_url", "deleted", "is_bot",
                                       "is_admin", "deactivated_at", "created_at"}
    seen = [u["id"] for u in page["results"]]
    while page["has_more"]:
        page = request("GET", admin_url(api_url, "users/?q=%s&limit=2&after=%d" % (tag, seen[-1])),
                       admin).json()
        seen += [u["id"] for u in page["results"]]
    assert seen == [u["id"] for u in users]
    # Case-insensitive substring; wildcards are literal; only the first 64 characters count.
    r = request("GET", admin_url(api_url, "users/?q=%s" % tag.upper()), admin)
    assert len(r.json()["results"]) == 5
    assert request("GET", admin_url(api_url, "users/?q=%25"), admin).json()["results"] == []
    r = request("GET", admin_url(api_url, "users/?q=" + "x" * 300), admin)
    assert r.status_code == 200 and r.json() == {"results": [], "has_more": False}
    # Without q every user is listed, a bounded page at a time.
    r = request("GET", admin_url(api_url, "users/?limit=200"), admin)
    assert r.status_code == 200 and len(r.json()["results"]) <= 200
    for bad in ("limit=0", "limit=201", "limit=x", "after=0", "after=-1"):
        assert_error(request("GET", admin_url(api_url, "users/?" + bad), admin), 400, "bad_request")
    assert_error(request("GET", admin_url(api_url, "users/?q=%FF"), admin), 400, "invalid_utf8")
    assert_error(request("GET", admin_url(api_url, "users/999999999/"), admin), 404, "not_found")


def test_deactivation_cuts_the_accounts_open_connections_at_once(servers, make_user):
    """An admin deactivates Bob over the API while Bob has WebSockets, an SSE stream and a
    long-poll open: all end within 1 s (4401), his token answers 401, his right password
    403. Deactivating again changes nothing more; reactivated, he logs in again."""
    api = servers.httpd_url
    admin = make_admin(servers, make_user)
    a, b = make_user("da"), make_user("db")
    conv = group(api, a, [b])["id"]
    audited = last_audit_id(servers)

    async def scenario():
        clients, s, poll = await open_everything(servers, b, conv)
        r = request("POST", admin_url(api, "users/%d/deactivate/" % b["id"]), admin)
        since = time.monotonic()
        assert r.status_code == 200, r.text
        assert r.json()["id"] == b["id"] and r.json()["deactivated_at"].endswith("Z")
        await assert_all_ended_soon(clients, s, poll, since)

    run(scenario())
    assert_error(request("GET", api + "/api/auth/me", b), 401, "not_authenticated")
    r = requests.post(api + "/api/auth/login", timeout=30,
                      json={"username": b["username"], "password": b["password"]})
    assert_error(r, 403, "permission_denied")
    again = request("POST", admin_url(api, "users/%d/deactivate/" % b["id"]), admin)
    assert again.status_code == 200 and again.json()["deactivated_at"], again.text
    assert_error(request("POST", admin_url(api, "users/%d/deactivate/" % admin["id"]), admin),
                 409, "conflict")
    assert_error(request("POST", admin_url(api, "users/999999999/deactivate/"), admin), 404,
                 "not_found")
    r = request("POST", admin_url(api, "users/%d/reactivate/" % b["id"]), admin)
    assert r.status_code == 200 and r.json()["deactivated_at"] is None, r.text
    r = requests.post(api + "/api/auth/login", timeout=30,
                      json={"username": b["username"], "password": b["password"]})
    assert r.status_code == 200, r.text
    assert audit(servers, audited) == [(admin["id"], admin["username"], "user.deactivated", b["id"], None),
                                       (admin["id"], admin["username"], "user.reactivated", b["id"], None)]


def test_admin_deletes_any_message_as_a_tombstone(api_url, servers, make_user):
    """The admin takes part in nothing, yet deletes Bob's message in a group and one in a
    direct chat: tombstones, message.deleted delivered live, the text scrubbed from the
    event log, each audited; a tombstone again or an unknown id change nothing."""
    admin = make_admin(servers, make_user)
    a, b = make_user("ma"), make_user("mb")
    conv = group(api_url, a, [b])["id"]
    dm = direct(api_url, a, b)["id"]
    secret = send(api_url, b, conv, "abusive text one")
    private = send(api_url, b, dm, "abusive text two")
    audited = last_audit_id(servers)

    async def scenario():
        watcher = await connect(servers, a)
        for c, m in ((conv, secret), (dm, private)):
            r = request("DELETE", admin_url(api_url, "messages/%d/" % m["id"]), admin)
            assert r.status_code == 204, r.text
            f = await watcher.wait_for(lambda f: f["type"] == "message.deleted"
                                       and f["data"]["id"] == m["id"])
            assert f["conversation_id"] == c and f["data"]["text"] == "" and f["data"]["deleted"]
        await watcher.close()

    run(scenario())
    for c, m in ((conv, secret), (dm, private)):
        got = request("GET", msg_url(api_url, c, m["id"]), a).json()
        assert got["deleted"] is True and got["text"] == ""
    assert servers.db("SELECT COUNT(*) FROM events WHERE payload LIKE '%%abusive text%%'")[0][0] == 0
    since = last_event_id(servers)
    assert request("DELETE", admin_url(api_url, "messages/%d/" % secret["id"]), admin).status_code == 204
    assert events_since(servers, since) == []
    assert_error(request("DELETE", admin_url(api_url, "messages/999999999/"), admin), 404,
                 "not_found")
    assert audit(servers, audited) == [
        (admin["id"], admin["username"], "message.deleted", b["id"], secret["id"]),
        (admin["id"], admin["username"], "message.deleted", b["id"], private["id"])]
    # The admin still cannot read the conversations.
    assert_error(request("GET", conv_url(api_url, conv), admin), 404, "not_found")


def test_chatctl_moderation_is_audited_as_operator(servers, make_user):
    a, b = make_user("oa"), make_user("ob")
    conv = group(servers.httpd_url, a, [b])["id"]
    m = send(servers.httpd_url, b, conv, "operator removes this")
    audited = last_audit_id(servers)
    assert "deleted" in servers.chatctl("message", "delete", str(m["id"])).stdout
    got = request("GET", msg_url(servers.httpd_url, conv, m["id"]), a).json()
    assert got["deleted"] is True
    servers.chatctl("user", "deactivate", b["username"])
    servers.chatctl("user", "reactivate", b["username"])
    assert audit(servers, audited) == [
        (None, "operator", "message.deleted", b["id"], m["id"]),
        (None, "operator", "user.deactivated", b["id"], None),
        (None, "operator", "user.reactivated", b["id"], None)]
    out = servers.chatctl("audit", "--user", b["username"], "--limit", "3").stdout.splitlines()
    assert [line.split()[2:4] for line in out[:3]] == [
        ["operator", "user.reactivated"], ["operator", "user.deactivated"],
        ["operator", "message.deleted"]]
    listing = servers.chatctl("user", "list", b["username"]).stdout
    assert b["username"] in listing
    r = servers.chatctl("message", "delete", "999999999", check=False)
    assert r.returncode == 1 and "no such message" in r.stderr
    assert servers.chatctl("audit", "--limit", "0", check=False).returncode == 2


def test_audit_log_api_is_paged_and_filtered(api_url, servers, make_user):
    admin = make_admin(servers, make_user)
    a, b, c = make_user("la"), make_user("lb"), make_user("lc")
    conv = group(api_url, a, [b, c])["id"]
    assert request("PATCH", conv_url(api_url, conv) + "participants/%d/" % b["id"], a,
                   {"role": "admin"}).status_code == 200
    assert request("DELETE", conv_url(api_url, conv) + "participants/%d/" % c["id"], b).status_code == 204
    assert request("POST", admin_url(api_url, "users/%d/deactivate/" % c["id"]), admin).status_code == 200
    r = request("GET", admin_url(api_url, "audit/?limit=2&user_id=%d" % c["id"]), admin)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(e["actor"], e["action"], e["target"]) for e in page["results"]] == [
        (admin["username"], "user.deactivated", c["username"]),
        (b["username"], "group.member_removed", c["username"])]
    assert page["results"][1]["conversation_id"] == conv
    assert page["results"][0]["created_at"].endswith("Z")
    first = request("GET", admin_url(api_url, "audit/?limit=1"), admin).json()
    assert first["has_more"] is True
    nxt = request("GET", admin_url(api_url, "audit/?limit=1&before=%d"
                                   % first["results"][0]["id"]), admin).json()
    assert nxt["results"][0]["id"] < first["results"][0]["id"]
    r = request("GET", admin_url(api_url, "audit/?user_id=%d" % b["id"]), admin)
    assert [e["action"] for e in r.json()["results"]] == ["group.member_removed",
                                                          "group.role_changed"]
    for bad in ("limit=0", "limit=201", "before=x", "user_id=0"):
        assert_error(request("GET", admin_url(api_url, "audit/?" + bad), admin), 400,
                     "bad_request")
