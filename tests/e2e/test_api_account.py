"""The user's own account (docs/API.md, "Account"): profile and avatar, other users as one
may see them, the password and the session list, and deleting the account. Each rule is
tried as the person it keeps out: an outsider asking for a user or an avatar, a session
someone else holds, a wrong current password. Live changes are checked on the socket,
with a marker event proving what did not arrive."""

import struct
import time
import zlib

import pytest
import requests

import conftest
from api_helpers import TIMEOUT, assert_error, request, send
from api_helpers import create_conv as create_conv_json
from helpers import auth_headers, port_open
from test_push import connect, run
from test_push import send as push_send

ME = "/api/users/me/"
LIMITED_PORT = conftest.PORT_BASE + 56  # a chat-httpd with a low login bucket


def create_conv(base, owner, others, **kw):
    return create_conv_json(base, owner, others, **kw)["id"]


def png(color=0):
    """A valid 1x1 PNG whose pixel is `color` (so two colors are two hashes)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = zlib.compress(bytes([0, color & 255, 0, 0]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def put_avatar(base, user, data, content_type="image/png", multipart=False):
    h = auth_headers(user)
    if multipart:
        return requests.put(base + ME + "avatar/", files={"file": ("me.png", data, content_type)},
                            headers=h, timeout=TIMEOUT)
    h["Content-Type"] = content_type
    return requests.put(base + ME + "avatar/", data=data, headers=h, timeout=TIMEOUT)


def login(base, user, agent="agent-test"):
    r = requests.post(base + "/api/auth/login", headers={"User-Agent": agent},
                      json={"username": user["username"], "password": user["password"]},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return dict(user, token=r.json()["token"])


# ---- profile ------------------------------------------------------------------------------


def test_display_name_change_is_seen_by_others_and_cleaned(api_url, make_user):
    a, b = make_user("pa"), make_user("pb")
    create_conv(api_url, a, [b])
    r = request("PATCH", api_url + ME, a, {"display_name": "New\u202eName\u0007"})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "NewName"
    assert r.json()["avatar_url"] is None and r.json()["deleted"] is False
    r = request("GET", "%s/api/users/%d/" % (api_url, a["id"]), b)
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "NewName"
    assert request("GET", api_url + "/api/auth/me", a).json()["display_name"] == "NewName"


@pytest.mark.parametrize("body,status,code", [
    ({"display_name": ""}, 422, "validation_error"),
    ({"display_name": "\u200e\u200f"}, 422, "validation_error"),
    ({"display_name": "x" * 65}, 422, "validation_error"),
    ({"display_name": 5}, 400, "invalid_type"),
    ({"display_name": "ok", "username": "evil"}, 400, "unknown_field"),
    ({}, 400, "missing_field"),
])
def test_display_name_bad_input(api_url, make_user, body, status, code):
    a = make_user("pbad")
    assert_error(request("PATCH", api_url + ME, a, body), status, code)
    assert request("GET", api_url + "/api/auth/me", a).json()["display_name"] == a["display_name"]


def test_user_is_visible_only_to_those_sharing_a_conversation(api_url, make_user):
    a, b, outsider = make_user("va"), make_user("vb"), make_user("vo")
    create_conv(api_url, a, [b])
    assert request("GET", "%s/api/users/%d/" % (api_url, a["id"]), a).status_code == 200
    assert request("GET", "%s/api/users/%d/" % (api_url, a["id"]), b).status_code == 200
    # The outsider cannot tell a real user from an unknown id.
    body = assert_error(request("GET", "%s/api/users/%d/" % (api_url, a["id"]), outsider),
                        404, "not_found")
    unknown = assert_error(request("GET", "%s/api/users/%d/" % (api_url, 10 ** 15), outsider),
                           404, "not_found")
    assert body["detail"] == unknown["detail"]


# ---- avatar -------------------------------------------------------------------------------


def test_avatar_upload_is_served_cached_to_participants_only(front_end_url, make_user):
    a, b, outsider = make_user("aa"), make_user("ab"), make_user("ao")
    create_conv(front_end_url, a, [b])
    image = png(1)
    r = put_avatar(front_end_url, a, image, multipart=True)
    assert r.status_code == 200, r.text
    url = r.json()["avatar_url"]
    assert url.startswith("/api/users/%d/avatar/?v=" % a["id"]), url
    # Everyone's view of a carries the URL: the conversation list too.
    conv = request("GET", front_end_url + "/api/chat/conversations/", b).json()["results"][0]
    assert {p["id"]: p["avatar_url"] for p in conv["participants"]}[a["id"]] == url
    r = requests.get(front_end_url + url, headers=auth_headers(b), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == image
    assert r.headers["Content-Type"] == "image/png"
    assert "immutable" in r.headers["Cache-Control"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    etag = r.headers["ETag"]
    r = requests.get(front_end_url + url, timeout=TIMEOUT,
                     headers=dict(auth_headers(b), **{"If-None-Match": etag}))
    assert r.status_code == 304
    assert r.content == b""
    assert_error(requests.get(front_end_url + url, headers=auth_headers(outsider), timeout=TIMEOUT),
                 404, "not_found")
    # A new image is a new URL; the old one no longer claims to be current.
    r = put_avatar(front_end_url, a, png(2))
    assert r.status_code == 200, r.text
    assert r.json()["avatar_url"] != url
    r = requests.get(front_end_url + url, headers=auth_headers(b), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == png(2)
    assert r.headers["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize("data,content_type,status,code", [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 415, "unsupported_media_type"),
    (b"<html><script>alert(1)</script>", "image/png", 415, "unsupported_media_type"),
    (b"GIF89a" + b"\0" * 20, "image/png", 415, "unsupported_media_type"),
    (b"\xff\xd8\xff" + b"\0" * 20, "text/plain", 415, "unsupported_media_type"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * (600 * 1024), "image/png", 413, "payload_too_large"),
])
def test_avatar_refuses_what_is_not_a_small_image(api_url, make_user, data, content_type,
                                                  status, code):
    a = make_user("abad")
    assert_error(put_avatar(api_url, a, data, content_type), status, code)
    assert request("GET", api_url + "/api/auth/me", a).json()["avatar_url"] is None


def test_avatar_delete(api_url, make_user):
    a = make_user("adel")
    assert put_avatar(api_url, a, png(3)).status_code == 200
    r = request("DELETE", api_url + ME + "avatar/", a)
    assert r.status_code == 200, r.text
    assert r.json()["avatar_url"] is None
    assert_error(request("GET", "%s/api/users/%d/avatar/" % (api_url, a["id"]), a), 404,
                 "not_found")


def test_user_updated_reaches_those_sharing_a_conversation_only(servers, make_user):
    """Alice renames herself: Bob (shares a chat) and Alice's own socket get user.updated;
    Carol (shares nothing) does not: a message in Carol's own chat, sent after the rename,
    reaches her first and nothing before it."""
    api = servers.httpd_url
    a, b, c, d = make_user("ua"), make_user("ub"), make_user("uc"), make_user("ud")
    create_conv(api, a, [b])
    marker_conv = create_conv(api, c, [d])

    async def scenario():
        wa, wb, wc = (await connect(servers, a), await connect(servers, b),
                      await connect(servers, c))
        r = request("PATCH", api + ME, a, {"display_name": "Alice Renamed"})
        assert r.status_code == 200, r.text

        def is_update(f):
            return f["type"] == "user.updated" and f["data"]["user_id"] == a["id"]
        for ws in (wa, wb):
            f = await ws.wait_for(is_update)
            assert f["data"]["user"]["display_name"] == "Alice Renamed"
            assert f["conversation_id"] is None
        m = push_send(api, d, marker_conv, "marker")
        await wc.wait_for(lambda f: f["type"] == "message.created" and f["data"]["id"] == m["id"])
        assert not [f for f in wc.seen if f["type"] == "user.updated"], wc.seen
        for ws in (wa, wb, wc):
            await ws.close()

    run(scenario())


# ---- password and sessions ------------------------------------------------------------------


def test_session_list_marks_current_and_records_agent_and_address(api_url, make_user):
    a = make_user("sl")
    s1 = login(api_url, a, agent="First Browser/1.0")
    login(api_url, a, agent="Second\x7fBrowser")
    r = request("GET", api_url + ME + "sessions/", s1)
    assert r.status_code == 200, r.text
    sessions = r.json()["results"]
    assert len(sessions) == 3  # registration, and the two logins
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["user_agent"] == "First Browser/1.0"
    assert current[0]["address"] == "127.0.0.1"
    assert current[0]["last_used_at"] is not None
    assert "Second?Browser" in [s["user_agent"] for s in sessions]


def test_last_used_is_written_at_most_once_a_minute(servers, make_user):
    a = make_user("lu")
    sid = servers.db("SELECT id FROM sessions WHERE user_id = %s", (a["id"],))[0][0]
    servers.db("UPDATE sessions SET last_used_at = UTC_TIMESTAMP(6) - INTERVAL 30 SECOND "
               "WHERE id = %s", (sid,))
    before = servers.db("SELECT last_used_at FROM sessions WHERE id = %s", (sid,))[0][0]
    for _ in range(5):
        assert request("GET", servers.httpd_url + "/api/auth/me", a).status_code == 200
    assert servers.db("SELECT last_used_at FROM sessions WHERE id = %s", (sid,))[0][0] == before
    servers.db("UPDATE sessions SET last_used_at = UTC_TIMESTAMP(6) - INTERVAL 61 SECOND "
               "WHERE id = %s", (sid,))
    assert request("GET", servers.httpd_url + "/api/auth/me", a).status_code == 200
    after = servers.db("SELECT last_used_at FROM sessions WHERE id = %s", (sid,))[0][0]
    assert after > before


def test_end_one_session_and_all_others(api_url, make_user):
    a, b = make_user("se"), make_user("sx")
    s2, s3 = login(api_url, a), login(api_url, a)
    ids = {s["current"]: s["id"] for s in request("GET", api_url + ME + "sessions/", s2).json()["results"]
           if s["current"]}
    s2_id = ids[True]
    # Bob cannot end Alice's session: as unknown as a session that does not exist.
    assert_error(request("DELETE", "%s%ssessions/%d/" % (api_url, ME, s2_id), b), 404, "not_found")
    assert request("GET", api_url + "/api/auth/me", s2).status_code == 200
    r = request("DELETE", "%s%ssessions/%d/" % (api_url, ME, s2_id), s3)
    assert r.status_code == 204, r.text
    assert_error(request("GET", api_url + "/api/auth/me", s2), 401, "not_authenticated")
    r = request("DELETE", api_url + ME + "sessions/", s3)
    assert r.status_code == 204, r.text
    assert_error(request("GET", api_url + "/api/auth/me", a), 401, "not_authenticated")
    assert request("GET", api_url + "/api/auth/me", s3).status_code == 200
    assert [s["current"] for s in request("GET", api_url + ME + "sessions/", s3).json()["results"]] == [True]


def test_password_change_needs_the_current_one_and_ends_other_sessions(servers, make_user):
    api = servers.httpd_url
    a = make_user("pw")
    other = login(api, a)

    async def scenario():
        ws_other = await connect(servers, other)
        ws_mine = await connect(servers, a)
        r = request("POST", api + ME + "password/", a,
                    {"current_password": "wrong-password", "new_password": "new-password-1"})
        assert_error(r, 403, "wrong_password")
        r = request("POST", api + ME + "password/", a,
                    {"current_password": a["password"], "new_password": "short"})
        assert_error(r, 422, "validation_error")
        assert request("GET", api + "/api/auth/me", other).status_code == 200
        r = request("POST", api + ME + "password/", a,
                    {"current_password": a["password"], "new_password": "new-password-1"})
        assert r.status_code == 204, r.text
        assert (await ws_other.closed())[0] == 4401
        assert_error(request("GET", api + "/api/auth/me", other), 401, "not_authenticated")
        # This session and its socket stay: a message to itself arrives on it.
        assert request("GET", api + "/api/auth/me", a).status_code == 200
        conv = create_conv(api, a, [make_user("pwpeer")])
        m = push_send(api, a, conv, "still here")
        await ws_mine.wait_for(lambda f: f["type"] == "message.created" and f["data"]["id"] == m["id"])
        await ws_mine.close()

    run(scenario())
    assert_error(requests.post(api + "/api/auth/login", timeout=TIMEOUT,
                               json={"username": a["username"], "password": a["password"]}),
                 401, "authentication_failed")
    login(api, dict(a, password="new-password-1"))


@pytest.fixture(scope="module")
def low_login_bucket(servers):
    """A chat-httpd whose per-username login bucket holds 3 tokens and refills one a
    minute (the session's servers run with huge limits)."""
    servers.spawn("chat-httpd-account", ["chat-httpd"],
                  {"CHAT_HTTP_PORT": str(LIMITED_PORT), "CHAT_RATE_LOGIN_PER_USER_BURST": "3",
                   "CHAT_RATE_LOGIN_PER_USER_PER_MINUTE": "1"},
                  ready=lambda: port_open("127.0.0.1", LIMITED_PORT))
    yield "http://127.0.0.1:%d" % LIMITED_PORT
    servers.stop_proc("chat-httpd-account")


@pytest.mark.parametrize("method,path,body", [
    ("POST", ME + "password/", {"current_password": "guess-guess", "new_password": "new-password-1"}),
    ("DELETE", ME, {"password": "guess-guess"}),
])
def test_wrong_passwords_are_rate_limited_like_logins(low_login_bucket, make_user, method, path,
                                                      body):
    """A stolen session guessing the password takes tokens from the username's login
    bucket: after three wrong guesses the right password gets 429 too, and the account
    is still there."""
    a = make_user("rl")
    for _ in range(3):
        assert_error(request(method, low_login_bucket + path, a, body), 403, "wrong_password")
    right = dict(body)
    right["current_password" if "current_password" in body else "password"] = a["password"]
    r = request(method, low_login_bucket + path, a, right)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert request("GET", low_login_bucket + "/api/auth/me", a).status_code == 200


# ---- account deletion -------------------------------------------------------------------------


def test_account_deletion_leaves_only_tombstones(servers, make_user):
    api = servers.httpd_url
    a, b = make_user("del", display_name="Doomed Name"), make_user("keep")
    conv = create_conv(api, a, [b])
    group = create_conv(api, b, [a, make_user("third")], name="g", is_group=True)
    assert put_avatar(api, a, png(9)).status_code == 200
    mine = send(api, a, conv, "secret text of a")
    theirs = send(api, b, group, "b's message")
    r = request("PUT", "%s/api/chat/conversations/%d/messages/%d/reactions/%s/"
                % (api, group, theirs["id"], "%F0%9F%91%8D"), a)
    assert r.status_code in (200, 201), r.text
    up = requests.post(api + "/api/chat/attachments/", data=b"file of a", params={"filename": "a.txt"},
                       headers=dict(auth_headers(a), **{"Content-Type": "text/plain"}), timeout=TIMEOUT)
    assert up.status_code == 201
    other = login(api, a)

    async def scenario():
        ws = await connect(servers, other)
        assert_error(request("DELETE", api + ME, a, {"password": "not-it"}), 403, "wrong_password")
        r = request("DELETE", api + ME, a, {"password": a["password"]})
        assert r.status_code == 204, r.text
        assert (await ws.closed())[0] == 4401

    run(scenario())
    for token_user in (a, other):
        assert_error(request("GET", api + "/api/auth/me", token_user), 401, "not_authenticated")
    assert_error(requests.post(api + "/api/auth/login", timeout=TIMEOUT,
                               json={"username": a["username"], "password": a["password"]}),
                 401, "authentication_failed")
    # Bob sees a tombstone from "Deleted user", nothing else.
    msgs = request("GET", "%s/api/chat/conversations/%d/messages/" % (api, conv), b).json()["results"]
    m = [x for x in msgs if x["id"] == mine["id"]][0]
    assert m["deleted"] is True and m["text"] == ""
    assert m["sender"] == {"id": a["id"], "username": "", "display_name": "Deleted user",
                           "avatar_url": None, "deleted": True, "is_bot": False}
    g = request("GET", "%s/api/chat/conversations/%d/messages/" % (api, group), b).json()["results"]
    assert [x["reactions"] for x in g if x["id"] == theirs["id"]] == [[]]
    parts = request("GET", "%s/api/chat/conversations/%d/participants/" % (api, group), b).json()
    assert a["id"] not in [p["id"] for p in parts["results"]]
    assert_error(request("GET", "%s/api/users/%d/avatar/" % (api, a["id"]), b), 404, "not_found")
    # Nothing of it left in the database but the tombstone row.
    assert servers.db("SELECT COUNT(*) FROM attachments WHERE uploader_id = %s", (a["id"],))[0][0] == 0
    assert servers.db("SELECT COUNT(*) FROM user_avatars WHERE user_id = %s", (a["id"],))[0][0] == 0
    assert servers.db("SELECT COUNT(*) FROM sessions WHERE user_id = %s", (a["id"],))[0][0] == 0
    rows = servers.db("SELECT COUNT(*) FROM events WHERE payload LIKE %s", ("%secret text of a%",))
    assert rows[0][0] == 0
    # The username is free again.
    r = requests.post(api + "/api/auth/register", timeout=TIMEOUT,
                      json={"username": a["username"], "password": "another-password"})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["id"] != a["id"]
    # And nobody can start a chat with the deleted account.
    assert_error(request("POST", api + "/api/chat/conversations/", b, {"participant_ids": [a["id"]]}),
                 422, "validation_error")


def test_gc_finishes_a_deletion_cut_short(servers, make_user):
    """A deletion whose request died after the account row changed (simulated: only the
    row is marked) is finished by `chatctl gc`: the message becomes a tombstone and the
    account leaves its conversations."""
    api = servers.httpd_url
    a, b = make_user("cut"), make_user("cutpeer")
    conv = create_conv(api, a, [b])
    send(api, a, conv, "left behind")
    servers.db("UPDATE users SET deleted_at = UTC_TIMESTAMP(6), username = CONCAT('~', id) "
               "WHERE id = %s", (a["id"],))
    assert "purged 1 deleted accounts" in servers.chatctl("gc").stdout
    msgs = request("GET", "%s/api/chat/conversations/%d/messages/" % (api, conv), b).json()["results"]
    assert [(m["text"], m["deleted"], m["sender"]["display_name"]) for m in msgs] == [
        ("", True, "Deleted user")]
    assert servers.db("SELECT COUNT(*) FROM participants WHERE user_id = %s", (a["id"],))[0][0] == 0
