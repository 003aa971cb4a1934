"""REST API behaviour, through both front ends (chat-httpd, and nginx + chat-api over
FastCGI): every test taking `api_url` runs once per front end."""

import json
import re
import uuid

import pytest
import requests

from helpers import auth_headers, port_open, unique_name

TIMEOUT = 30
MAX_BODY_BYTES = 1048576  # default max_body_bytes
MAX_MESSAGE_CHARS = 4000  # default max_message_chars
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# ---- helpers ---------------------------------------------------------------------------

def post(url, body=None, headers=None, session=None, **kw):
    return (session or requests).post(url, json=body, headers=headers, timeout=TIMEOUT, **kw)


def get(url, headers=None, session=None, **kw):
    return (session or requests).get(url, headers=headers, timeout=TIMEOUT, **kw)


def post_raw(url, data, headers=None, content_type="application/json"):
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    return requests.post(url, data=data, headers=h, timeout=TIMEOUT)


def assert_error(r, status, code=None):
    """r is a JSON error with this status (and code), a detail and a request id."""
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, "expected code %s, got %s" % (code, body)
    assert body.get("request_id"), body
    assert r.headers.get("X-Request-Id") == body["request_id"], (r.headers, body)
    return body


def assert_user_shape(u):
    assert set(u) >= {"id", "username", "display_name"}, u
    assert isinstance(u["id"], int) and u["id"] > 0, u
    assert not any("password" in k for k in u), u


def conv_url(api_url, pk=None):
    base = api_url + "/api/chat/conversations/"
    return base if pk is None else "%s%s/" % (base, pk)


def msgs_url(api_url, pk):
    return "%s/api/chat/conversations/%s/messages/" % (api_url, pk)


def create_conv(api_url, owner, others, name=None, is_group=None, expect=(201, 200)):
    body = {"participant_ids": [o["id"] for o in others]}
    if name is not None:
        body["name"] = name
    if is_group is not None:
        body["is_group"] = is_group
    r = post(conv_url(api_url), body, auth_headers(owner))
    assert r.status_code in expect, r.text
    return r.json()


def send(api_url, user, conv_id, text, **extra):
    body = {"text": text}
    body.update(extra)
    r = post(msgs_url(api_url, conv_id), body, auth_headers(user))
    assert r.status_code == 201, r.text
    return r.json()


def set_cookies(r):
    """The raw Set-Cookie header values of a response, by cookie name."""
    out = {}
    for value in r.raw.headers.getlist("Set-Cookie"):
        name = value.split("=", 1)[0].strip()
        out[name] = value
    return out


def cookie_attrs(header):
    parts = [p.strip() for p in header.split(";")]
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.lower()] = v
    return attrs


def login_session(api_url, user):
    """A requests.Session logged in by cookie (no bearer header)."""
    s = requests.Session()
    r = post(api_url + "/api/auth/login",
             {"username": user["username"], "password": user["password"]}, session=s)
    assert r.status_code == 200, r.text
    assert s.cookies.get("chat_session") and s.cookies.get("chat_csrf"), r.headers
    return s


@pytest.fixture
def trio(make_user):
    return make_user("a"), make_user("b"), make_user("c")


# ---- registration ----------------------------------------------------------------------

def test_register_returns_token_and_user(api_url):
    name = unique_name("reg")
    r = post(api_url + "/api/auth/register",
             {"username": name, "password": "correct horse", "display_name": "Régine 🎉"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["token"], str) and len(body["token"]) >= 20
    assert_user_shape(body["user"])
    assert body["user"]["username"] == name
    assert body["user"]["display_name"] == "Régine 🎉"
    assert r.headers.get("X-Request-Id")
    me = get(api_url + "/api/auth/me", {"Authorization": "Bearer " + body["token"]})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == body["user"]["id"]
    assert me.json()["display_name"] == "Régine 🎉"


def test_register_without_display_name(api_url):
    name = unique_name("nodn")
    r = post(api_url + "/api/auth/register", {"username": name, "password": "password123"})
    assert r.status_code == 201, r.text
    dn = r.json()["user"]["display_name"]
    assert isinstance(dn, str) and dn, r.text


def test_register_duplicate_username(api_url, make_user):
    u = make_user("dup")
    r = post(api_url + "/api/auth/register", {"username": u["username"], "password": "another pw"})
    assert_error(r, 409)
    # Usernames are case-insensitive (the column collation is ascii_general_ci).
    r = post(api_url + "/api/auth/register",
             {"username": u["username"].upper(), "password": "another pw"})
    assert_error(r, 409)
    # The original password still works: the duplicate did not overwrite anything.
    r = post(api_url + "/api/auth/login", {"username": u["username"], "password": u["password"]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("username", [
    "", "a" * 33, "has space", "slash/x", "semi;colon", "at@sign", "ünïcode", "tab\tx",
    "quote'x", "new\nline", "percent%",
])
def test_register_invalid_username(api_url, username):
    r = post(api_url + "/api/auth/register", {"username": username, "password": "password123"})
    assert_error(r, 422, "validation_error")


@pytest.mark.parametrize("shape", ["one", "max", "punct"])
def test_register_valid_username_edges(api_url, shape):
    suffix = uuid.uuid4().hex
    name = {"one": None, "max": ("M" + suffix)[:32], "punct": "a.b-c_" + suffix[:20]}[shape]
    if name is None:
        # One character: a single-character name may be taken by an earlier run of the
        # other front end; take any free one.
        for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
            r = post(api_url + "/api/auth/register", {"username": ch, "password": "password123"})
            if r.status_code != 409:
                break
        assert r.status_code == 201, r.text
        return
    assert len(name) <= 32
    r = post(api_url + "/api/auth/register", {"username": name, "password": "password123"})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["username"] == name


@pytest.mark.parametrize("password,ok", [
    ("1234567", False),      # 7 characters
    ("12345678", True),      # 8
    ("p" * 256, True),
    ("p" * 257, False),
    ("éééé", False),         # 4 characters (8 bytes): the limit counts characters
    ("é" * 256, True),       # 256 characters (512 bytes)
    ("é" * 257, False),
])
def test_register_password_length(api_url, password, ok):
    r = post(api_url + "/api/auth/register",
             {"username": unique_name("pw"), "password": password})
    if ok:
        assert r.status_code == 201, r.text
    else:
        assert_error(r, 422, "validation_error")


def test_registration_closed(servers, make_user):
    """A server with registration_enabled=false refuses new accounts (403
    registration_closed) but still logs existing users in."""
    port = servers.extra_port
    servers.spawn("chat-httpd-closed", ["chat-httpd"],
                  {"CHAT_HTTP_PORT": str(port), "CHAT_REGISTRATION_ENABLED": "false"},
                  ready=lambda: port_open("127.0.0.1", port))
    try:
        url = "http://127.0.0.1:%d" % port
        r = post(url + "/api/auth/register",
                 {"username": unique_name("closed"), "password": "password123"})
        assert_error(r, 403, "registration_closed")
        u = make_user("open")  # on the normal server
        r = post(url + "/api/auth/login", {"username": u["username"], "password": u["password"]})
        assert r.status_code == 200, r.text
    finally:
        servers.stop_proc("chat-httpd-closed")


# ---- login, sessions, logout -----------------------------------------------------------

def test_login_sets_token_and_cookies(api_url, make_user):
    u = make_user("login")
    r = post(api_url + "/api/auth/login", {"username": u["username"], "password": u["password"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == u["id"] and body["user"]["username"] == u["username"]
    assert body["token"] and body["token"] != u["token"]  # a new session
    cookies = set_cookies(r)
    assert "chat_session" in cookies and "chat_csrf" in cookies, cookies
    sess = cookie_attrs(cookies["chat_session"])
    csrf = cookie_attrs(cookies["chat_csrf"])
    assert "httponly" in sess and sess.get("samesite", "").lower() == "lax", cookies
    assert sess.get("path") == "/", cookies
    assert "httponly" not in csrf and csrf.get("samesite", "").lower() == "lax", cookies
    assert csrf.get("path") == "/", cookies
    # The cookie carries the same session as the token.
    assert cookies["chat_session"].split(";")[0] == "chat_session=" + body["token"]
    # The login token works as a bearer token.
    me = get(api_url + "/api/auth/me", {"Authorization": "Bearer " + body["token"]})
    assert me.status_code == 200 and me.json()["username"] == u["username"], me.text


def test_login_username_case_insensitive_or_rejected(api_url, make_user):
    u = make_user("case")
    r = post(api_url + "/api/auth/login",
             {"username": u["username"].upper(), "password": u["password"]})
    # Either accepted as the same user or refused; never another user or a 500.
    if r.status_code == 200:
        assert r.json()["user"]["id"] == u["id"]
    else:
        assert_error(r, 401, "authentication_failed")


def test_login_failures(api_url, make_user):
    u = make_user("lf")
    r = post(api_url + "/api/auth/login", {"username": u["username"], "password": "wrong password"})
    body = assert_error(r, 401, "authentication_failed")
    assert "chat_session" not in set_cookies(r)
    r2 = post(api_url + "/api/auth/login",
              {"username": unique_name("nobody"), "password": "whatever1"})
    body2 = assert_error(r2, 401, "authentication_failed")
    # No user enumeration: the same message either way.
    assert body["detail"] == body2["detail"]


def test_me_requires_authentication(api_url):
    assert_error(get(api_url + "/api/auth/me"), 401, "not_authenticated")
    assert_error(get(api_url + "/api/auth/me", {"Authorization": "Bearer not-a-token"}), 401,
                 "not_authenticated")
    assert_error(get(api_url + "/api/auth/me", {"Authorization": "Basic Zm9vOmJhcg=="}), 401)
    assert_error(get(api_url + "/api/auth/me", {"Cookie": "chat_session=forged"}), 401,
                 "not_authenticated")


def test_me_returns_user(api_url, make_user, servers):
    u = make_user("me", display_name="Me Myself")
    r = get(api_url + "/api/auth/me", auth_headers(u))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_user_shape(body)
    assert (body["id"], body["username"], body["display_name"]) == (
        u["id"], u["username"], "Me Myself")


def test_cookie_authentication(api_url, make_user):
    u = make_user("cookie")
    s = login_session(api_url, u)
    r = get(api_url + "/api/auth/me", session=s)
    assert r.status_code == 200 and r.json()["id"] == u["id"], r.text
    r = get(api_url + "/api/chat/conversations/", session=s)
    assert r.status_code == 200, r.text


def test_logout_revokes_bearer_session(api_url, make_user):
    u = make_user("lo")
    r = post(api_url + "/api/auth/logout", None, auth_headers(u))
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers.get("X-Request-Id")
    assert_error(get(api_url + "/api/auth/me", auth_headers(u)), 401, "not_authenticated")
    # Logging out again with the dead token is unauthenticated.
    assert_error(post(api_url + "/api/auth/logout", None, auth_headers(u)), 401)
    # Other sessions of the same user are unaffected.
    r = post(api_url + "/api/auth/login", {"username": u["username"], "password": u["password"]})
    assert r.status_code == 200
    assert get(api_url + "/api/auth/me",
               {"Authorization": "Bearer " + r.json()["token"]}).status_code == 200


def test_logout_with_cookie_session(api_url, make_user):
    u = make_user("loc")
    s = login_session(api_url, u)
    token = s.cookies.get("chat_session")
    # Without the CSRF header the logout is refused and the session survives.
    assert_error(post(api_url + "/api/auth/logout", session=s), 403, "csrf_failed")
    assert get(api_url + "/api/auth/me", session=s).status_code == 200
    r = post(api_url + "/api/auth/logout", session=s,
             headers={"X-CSRFToken": s.cookies.get("chat_csrf")})
    assert r.status_code == 204, r.text
    cleared = set_cookies(r)
    assert "chat_session" in cleared, "logout should clear the session cookie"
    assert_error(get(api_url + "/api/auth/me", {"Authorization": "Bearer " + token}), 401)
    assert_error(get(api_url + "/api/auth/me", {"Cookie": "chat_session=" + token}), 401)


def test_logout_requires_authentication(api_url):
    assert_error(post(api_url + "/api/auth/logout"), 401, "not_authenticated")


# ---- CSRF ------------------------------------------------------------------------------

def test_csrf_on_cookie_session(api_url, make_user, servers):
    a, b = make_user("csa"), make_user("csb")
    s = login_session(api_url, a)
    csrf = s.cookies.get("chat_csrf")
    body = {"participant_ids": [b["id"]]}
    url = conv_url(api_url)
    assert_error(post(url, body, session=s), 403, "csrf_failed")
    wrong = ("A" if csrf[0] != "A" else "B") + csrf[1:]
    r = post(url, body, session=s, headers={"X-CSRFToken": wrong})
    assert r.status_code == 403, (
        "wrong CSRF header accepted: csrf cookie %r, header %r, request cookies %r, "
        "stored %r -> %s %s" % (csrf, wrong, r.request.headers.get("Cookie"),
                                servers.db("SELECT csrf_token FROM sessions WHERE user_id = %s",
                                           (a["id"],)), r.status_code, r.text))
    assert_error(r, 403, "csrf_failed")
    assert_error(post(url, body, session=s, headers={"X-CSRFToken": ""}), 403, "csrf_failed")
    # Nothing was created by the refused requests.
    assert servers.db("SELECT COUNT(*) FROM participants WHERE user_id = %s", (a["id"],)) == ((0,),)
    r = post(url, body, session=s, headers={"X-CSRFToken": csrf})
    assert r.status_code == 201, r.text
    conv = r.json()
    # Sending a message also needs the header.
    murl = msgs_url(api_url, conv["id"])
    assert_error(post(murl, {"text": "no csrf"}, session=s), 403, "csrf_failed")
    r = post(murl, {"text": "with csrf"}, session=s, headers={"X-CSRFToken": csrf})
    assert r.status_code == 201, r.text
    # Reads need no CSRF header.
    r = get(murl, session=s)
    assert r.status_code == 200
    assert [m["text"] for m in r.json()["results"]] == ["with csrf"]


def test_csrf_token_of_another_session_is_refused(api_url, make_user):
    a, b = make_user("csx"), make_user("csy")
    s = login_session(api_url, a)
    other = login_session(api_url, b)
    r = post(conv_url(api_url), {"participant_ids": [b["id"]]}, session=s,
             headers={"X-CSRFToken": other.cookies.get("chat_csrf")})
    assert_error(r, 403, "csrf_failed")


def test_bearer_needs_no_csrf(api_url, make_user):
    a, b = make_user("bra"), make_user("brb")
    r = post(conv_url(api_url), {"participant_ids": [b["id"]]}, auth_headers(a))
    assert r.status_code == 201, r.text
    r = post(msgs_url(api_url, r.json()["id"]), {"text": "hi"}, auth_headers(a))
    assert r.status_code == 201, r.text


# ---- users -----------------------------------------------------------------------------

def test_user_search(api_url, make_user):
    prefix = "srch" + uuid.uuid4().hex[:6]
    u1 = make_user(prefix)
    u2 = make_user(prefix)
    other = make_user("zzother")
    r = get(api_url + "/api/users/", auth_headers(other), params={"q": prefix})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    for u in results:
        assert_user_shape(u)
        assert u["username"].lower().startswith(prefix.lower()), u
    assert {u1["id"], u2["id"]} <= {u["id"] for u in results}
    # Prefix, not substring.
    r = get(api_url + "/api/users/", auth_headers(other), params={"q": prefix[1:]})
    assert r.status_code == 200
    assert not {u1["id"], u2["id"]} & {u["id"] for u in r.json()["results"]}


def test_user_search_without_q_is_bounded(api_url, make_user):
    u = make_user("srchall")
    r = get(api_url + "/api/users/", auth_headers(u))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert isinstance(results, list) and len(results) <= 200


def test_user_search_treats_wildcards_literally(api_url, make_user):
    u = make_user("wild")
    for q in ("%", "_", "\\"):
        r = get(api_url + "/api/users/", auth_headers(u), params={"q": q})
        assert r.status_code == 200, r.text
        assert all(x["username"].startswith(q) for x in r.json()["results"]), (q, r.text)


def test_user_search_requires_authentication(api_url):
    assert_error(get(api_url + "/api/users/", params={"q": "a"}), 401, "not_authenticated")


# ---- conversations ---------------------------------------------------------------------

def test_direct_conversation_is_unique(api_url, trio):
    a, b, _ = trio
    r = post(conv_url(api_url), {"participant_ids": [b["id"]]}, auth_headers(a))
    assert r.status_code == 201, r.text
    conv = r.json()
    assert conv["is_group"] is False
    assert isinstance(conv["id"], int) and conv["id"] > 0
    assert sorted(p["id"] for p in conv["participants"]) == sorted([a["id"], b["id"]])
    for p in conv["participants"]:
        assert_user_shape(p)
    assert conv["last_message"] is None
    assert conv["unread_count"] == 0
    assert RFC3339_UTC.match(conv["created_at"]), conv
    assert RFC3339_UTC.match(conv["last_activity_at"]), conv
    # The same pair again, from either side: the existing conversation, 200.
    r = post(conv_url(api_url), {"participant_ids": [b["id"]]}, auth_headers(a))
    assert r.status_code == 200 and r.json()["id"] == conv["id"], r.text
    r = post(conv_url(api_url), {"participant_ids": [a["id"]], "is_group": False},
             auth_headers(b))
    assert r.status_code == 200 and r.json()["id"] == conv["id"], r.text


def test_group_conversation(api_url, trio):
    a, b, c = trio
    r = post(conv_url(api_url), {"participant_ids": [b["id"], c["id"]], "name": "Team ✨",
                                 "is_group": True}, auth_headers(a))
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["is_group"] is True and g["name"] == "Team ✨"
    assert sorted(p["id"] for p in g["participants"]) == sorted([a["id"], b["id"], c["id"]])
    # Groups are not deduplicated.
    r = post(conv_url(api_url), {"participant_ids": [b["id"], c["id"]], "name": "Team ✨",
                                 "is_group": True}, auth_headers(a))
    assert r.status_code == 201 and r.json()["id"] != g["id"], r.text
    # Every member sees it.
    for u in (b, c):
        r = get(conv_url(api_url, g["id"]), auth_headers(u))
        assert r.status_code == 200 and r.json()["name"] == "Team ✨", r.text


def test_create_conversation_with_unknown_user(api_url, make_user, servers):
    a = make_user("unk")
    (max_id,), = servers.db("SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) FROM users")
    for ids in ([max_id + 1000], [a["id"], max_id + 1000]):
        r = post(conv_url(api_url), {"participant_ids": ids}, auth_headers(a))
        assert_error(r, 422, "validation_error")
    r = post(conv_url(api_url), {"participant_ids": [max_id + 5], "is_group": True,
                                 "name": "x"}, auth_headers(a))
    assert_error(r, 422, "validation_error")
    assert servers.db("SELECT COUNT(*) FROM participants WHERE user_id = %s",
                      (a["id"],)) == ((0,),)


def test_create_direct_conversation_needs_one_other(api_url, trio):
    a, b, c = trio
    # Nobody else, or only oneself: no conversation.
    for ids in ([], [a["id"]]):
        r = post(conv_url(api_url), {"participant_ids": ids}, auth_headers(a))
        assert_error(r, 422, "validation_error")


def test_conversation_list_newest_activity_first(api_url, trio):
    a, b, c = trio
    c1 = create_conv(api_url, a, [b])
    c2 = create_conv(api_url, a, [c])
    g = create_conv(api_url, a, [b, c], name="g", is_group=True)
    r = get(conv_url(api_url), auth_headers(a))
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["results"]]
    assert ids == [g["id"], c2["id"], c1["id"]], ids
    m = send(api_url, a, c1["id"], "bump")
    r = get(conv_url(api_url), auth_headers(a))
    convs = r.json()["results"]
    assert [x["id"] for x in convs] == [c1["id"], g["id"], c2["id"]]
    top = convs[0]
    assert top["last_message"]["id"] == m["id"] and top["last_message"]["text"] == "bump"
    assert top["unread_count"] == 0  # one's own message is not unread
    # b sees the conversations b is in, with the unread message counted.
    r = get(conv_url(api_url), auth_headers(b))
    bconvs = {x["id"]: x for x in r.json()["results"]}
    assert set(bconvs) == {c1["id"], g["id"]}
    assert bconvs[c1["id"]]["unread_count"] == 1
    assert bconvs[g["id"]]["unread_count"] == 0
    # c is not in c1.
    r = get(conv_url(api_url), auth_headers(c))
    assert c1["id"] not in {x["id"] for x in r.json()["results"]}


def test_conversation_detail(api_url, trio):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    send(api_url, b, conv["id"], "hello a")
    r = get(conv_url(api_url, conv["id"]), auth_headers(a))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == conv["id"] and d["is_group"] is False
    assert d["last_message"]["text"] == "hello a"
    assert d["last_message"]["sender"]["id"] == b["id"]
    assert d["unread_count"] == 1
    assert set(d) >= {"id", "is_group", "name", "created_at", "last_activity_at",
                      "participants", "last_message", "unread_count"}


def test_conversations_require_authentication(api_url):
    assert_error(get(conv_url(api_url)), 401, "not_authenticated")
    assert_error(post(conv_url(api_url), {"participant_ids": [1]}), 401, "not_authenticated")
    assert_error(get(conv_url(api_url, 1)), 401, "not_authenticated")
    assert_error(get(msgs_url(api_url, 1)), 401, "not_authenticated")
    assert_error(post(msgs_url(api_url, 1), {"text": "x"}), 401, "not_authenticated")


# ---- outsiders get 404 everywhere ------------------------------------------------------

def test_outsider_gets_404_on_every_conversation_url(api_url, trio, servers):
    a, b, outsider = trio
    conv = create_conv(api_url, a, [b])
    send(api_url, a, conv["id"], "private")
    (max_id,), = servers.db(
        "SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) FROM conversations")
    h = auth_headers(outsider)
    for pk in (conv["id"], max_id + 1, max_id + 100000, 999999999999999999):
        assert_error(get(conv_url(api_url, pk), h), 404, "not_found")
        assert_error(get(msgs_url(api_url, pk), h), 404, "not_found")
        assert_error(post(msgs_url(api_url, pk), {"text": "intrude"}, h), 404, "not_found")
        assert_error(get(msgs_url(api_url, pk) + "?before=5", h), 404, "not_found")
    # Ids that are not positive integers, or too large for the router: no such URL.
    for pk in ("0", "-1", "abc", "1.5", "1e3", "%20", "99999999999999999999",
               "18446744073709551617", str(conv["id"]) + "x"):
        assert_error(get(conv_url(api_url, pk), h), 404)
        assert_error(get(msgs_url(api_url, pk), h), 404)
        assert_error(post(msgs_url(api_url, pk), {"text": "x"}, h), 404)
    # The insider sees the message; nothing was added by the outsider.
    r = get(msgs_url(api_url, conv["id"]), auth_headers(b))
    assert [m["text"] for m in r.json()["results"]] == ["private"]
    assert servers.db("SELECT COUNT(*) FROM messages WHERE sender_id = %s",
                      (outsider["id"],)) == ((0,),)
    # A reply_to pointing into someone else's conversation is invalid, not a leak.
    mine = create_conv(api_url, outsider, [a])
    (m_id,), = servers.db("SELECT MAX(id) FROM messages WHERE conversation_id = %s",
                          (conv["id"],))
    r = post(msgs_url(api_url, mine["id"]), {"text": "x", "reply_to": m_id}, h)
    assert_error(r, 422, "validation_error")


def test_404_bodies_do_not_distinguish_existence(api_url, trio, servers):
    a, b, outsider = trio
    conv = create_conv(api_url, a, [b])
    (max_id,), = servers.db(
        "SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) FROM conversations")
    h = auth_headers(outsider)
    r1 = get(conv_url(api_url, conv["id"]), h).json()
    r2 = get(conv_url(api_url, max_id + 50), h).json()
    assert (r1["detail"], r1["code"]) == (r2["detail"], r2["code"])


# ---- messages --------------------------------------------------------------------------

def test_send_message_shape(api_url, trio):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    cid = str(uuid.uuid4())
    r = post(msgs_url(api_url, conv["id"]), {"text": "Hello, Bob! 👋", "client_msg_id": cid},
             auth_headers(a))
    assert r.status_code == 201, r.text
    m = r.json()
    assert isinstance(m["id"], int) and m["id"] > 0
    assert m["conversation_id"] == conv["id"]
    assert m["sender"] == {"id": a["id"], "username": a["username"],
                           "display_name": a["display_name"]} or (
        m["sender"]["id"] == a["id"] and m["sender"]["username"] == a["username"])
    assert m["text"] == "Hello, Bob! 👋"
    assert RFC3339_UTC.match(m["created_at"]), m["created_at"]
    assert m["edited_at"] is None
    assert m["deleted"] is False
    assert m["reply_to"] is None
    assert m["client_msg_id"] == cid
    # b reads it back identically.
    r = get(msgs_url(api_url, conv["id"]), auth_headers(b))
    assert r.status_code == 200
    body = r.json()
    assert body["results"] == [m]
    assert body["has_more"] is False


def test_text_roundtrip_exact(api_url, trio):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    texts = [
        "  leading and trailing spaces  ",
        "line1\nline2\r\nline3\ttab",
        "<script>alert('x')</script> & \"quotes\" \\ backslash",
        "日本語 العربية עברית Ελληνικά 🇫🇷 👩‍👩‍👧 \u200b zero-width",
        "nul-like \\u0000 text",
        "emoji only 😀😃😄",
        "'; DROP TABLE messages; --",
    ]
    sent = [send(api_url, a, conv["id"], t) for t in texts]
    assert [m["text"] for m in sent] == texts
    r = get(msgs_url(api_url, conv["id"]), auth_headers(b))
    assert [m["text"] for m in r.json()["results"]] == texts


def test_idempotent_send(api_url, trio, servers):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    cid = "client-" + uuid.uuid4().hex
    url = msgs_url(api_url, conv["id"])
    r1 = post(url, {"text": "once", "client_msg_id": cid}, auth_headers(a))
    assert r1.status_code == 201, r1.text
    r2 = post(url, {"text": "once", "client_msg_id": cid}, auth_headers(a))
    assert r2.status_code == 200, r2.text
    assert r2.json() == r1.json()
    # Even with different text the original wins.
    r3 = post(url, {"text": "changed", "client_msg_id": cid}, auth_headers(a))
    assert r3.status_code == 200 and r3.json()["id"] == r1.json()["id"], r3.text
    assert r3.json()["text"] == "once"
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s",
                      (conv["id"],)) == ((1,),)
    # The same client_msg_id from another sender is another message.
    r4 = post(url, {"text": "mine", "client_msg_id": cid}, auth_headers(b))
    assert r4.status_code == 201 and r4.json()["id"] != r1.json()["id"], r4.text
    # Without client_msg_id, every send is a new message.
    m1 = send(api_url, a, conv["id"], "dup")
    m2 = send(api_url, a, conv["id"], "dup")
    assert m1["id"] != m2["id"]
    assert m2["client_msg_id"] is None
    r = get(url, auth_headers(a))
    assert [m["text"] for m in r.json()["results"]] == ["once", "mine", "dup", "dup"]


def test_reply_to(api_url, trio):
    a, b, c = trio
    conv = create_conv(api_url, a, [b])
    other = create_conv(api_url, a, [c])
    first = send(api_url, a, conv["id"], "question?")
    foreign = send(api_url, a, other["id"], "elsewhere")
    reply = send(api_url, b, conv["id"], "answer", reply_to=first["id"])
    assert reply["reply_to"] == first["id"]
    r = post(msgs_url(api_url, conv["id"]), {"text": "x", "reply_to": foreign["id"]},
             auth_headers(b))
    assert_error(r, 422, "validation_error")
    r = post(msgs_url(api_url, conv["id"]), {"text": "x", "reply_to": foreign["id"] + 100000},
             auth_headers(b))
    assert_error(r, 422, "validation_error")
    r = post(msgs_url(api_url, conv["id"]), {"text": "x", "reply_to": None}, auth_headers(b))
    assert r.status_code == 201 and r.json()["reply_to"] is None, r.text


@pytest.mark.parametrize("text,ok", [
    ("", False),
    ("   ", False),
    (" \n\t\r\n ", False),
    ("x", True),
    ("a" * MAX_MESSAGE_CHARS, True),
    ("a" * (MAX_MESSAGE_CHARS + 1), False),
    ("é" * MAX_MESSAGE_CHARS, True),          # characters, not bytes
    ("é" * (MAX_MESSAGE_CHARS + 1), False),
    ("😀" * MAX_MESSAGE_CHARS, True),
])
def test_message_text_validation(api_url, make_user, text, ok):
    a, b = make_user("tv"), make_user("tv")
    conv = create_conv(api_url, a, [b])
    r = post(msgs_url(api_url, conv["id"]), {"text": text}, auth_headers(a))
    if ok:
        assert r.status_code == 201, r.text
        assert r.json()["text"] == text
    else:
        assert_error(r, 422, "validation_error")


def test_client_msg_id_validation(api_url, trio):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    url = msgs_url(api_url, conv["id"])
    r = post(url, {"text": "x", "client_msg_id": "k" * 64}, auth_headers(a))
    assert r.status_code == 201, r.text
    # Longer than the column (64): refused, not truncated or a 500.
    r = post(url, {"text": "x", "client_msg_id": "k" * 65}, auth_headers(a))
    assert r.status_code in (400, 422), r.text
    assert_error(r, r.status_code)


# ---- pagination ------------------------------------------------------------------------

def test_pagination_walk(api_url, trio):
    a, b, _ = trio
    conv = create_conv(api_url, a, [b])
    url = msgs_url(api_url, conv["id"])
    sent = [send(api_url, a if i % 2 else b, conv["id"], "m%03d" % i)["id"] for i in range(120)]
    assert sent == sorted(sent)
    h = auth_headers(b)

    # Backwards from the newest, default limit 50.
    r = get(url, h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["results"]) == 50 and page["has_more"] is True
    walked = [m["id"] for m in page["results"]]
    assert walked == sent[-50:]
    pages = 1
    while page["has_more"]:
        r = get(url, h, params={"before": page["results"][0]["id"]})
        assert r.status_code == 200, r.text
        page = r.json()
        ids = [m["id"] for m in page["results"]]
        assert ids == sorted(ids), "each page is oldest first"
        walked = ids + walked
        pages += 1
        assert pages < 10
    assert walked == sent, "backward walk must give every message once, in order"
    assert pages == 3
    assert [m["text"] for m in page["results"]][0] == "m000"

    # Forwards from the oldest, limit 40.
    r = get(url, h, params={"after": sent[0], "limit": 40})
    page = r.json()
    forward = [sent[0]]
    while True:
        assert r.status_code == 200, r.text
        ids = [m["id"] for m in page["results"]]
        assert ids == sorted(ids)
        forward += ids
        if not page["has_more"]:
            break
        r = get(url, h, params={"after": ids[-1], "limit": 40})
        page = r.json()
        assert len(forward) <= 200
    assert forward == sent, "forward walk must give every message once, in order"

    # Edges.
    r = get(url, h, params={"after": sent[-1]})
    assert r.json() == {"results": [], "has_more": False} or (
        r.json()["results"] == [] and r.json()["has_more"] is False)
    r = get(url, h, params={"before": sent[0]})
    assert r.json()["results"] == [] and r.json()["has_more"] is False
    r = get(url, h, params={"before": sent[1], "limit": 1})
    assert [m["id"] for m in r.json()["results"]] == [sent[0]]
    assert r.json()["has_more"] is False
    r = get(url, h, params={"before": sent[2], "limit": 1})
    assert [m["id"] for m in r.json()["results"]] == [sent[1]] and r.json()["has_more"] is True
    r = get(url, h, params={"limit": 200})
    assert [m["id"] for m in r.json()["results"]] == sent and r.json()["has_more"] is False
    r = get(url, h, params={"limit": 120})
    assert len(r.json()["results"]) == 120 and r.json()["has_more"] is False
    r = get(url, h, params={"limit": 119})
    assert r.json()["has_more"] is True
    # A cursor from before this conversation existed yields only its own messages.
    r = get(url, h, params={"after": 1, "limit": 200})
    assert {m["conversation_id"] for m in r.json()["results"]} == {conv["id"]}


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=500", "limit=-1", "limit=abc", "limit=", "limit=1.5",
    "limit=99999999999999999999999", "before=abc", "after=abc", "before=-5", "after=1e3",
    "before=1&after=1", "before=", "after=%00",
])
def test_pagination_bad_query(api_url, make_user, query):
    a, b = make_user("pq"), make_user("pq")
    conv = create_conv(api_url, a, [b])
    r = get(msgs_url(api_url, conv["id"]) + "?" + query, auth_headers(a))
    assert_error(r, 400, "bad_request")


@pytest.mark.parametrize("query", ["limit=1", "limit=200", "limit=50&before=999999999"])
def test_pagination_good_query(api_url, make_user, query):
    a, b = make_user("pg"), make_user("pg")
    conv = create_conv(api_url, a, [b])
    send(api_url, a, conv["id"], "one")
    r = get(msgs_url(api_url, conv["id"]) + "?" + query, auth_headers(a))
    assert r.status_code == 200, r.text
    assert [m["text"] for m in r.json()["results"]] == ["one"]


# ---- request-level errors --------------------------------------------------------------

@pytest.fixture
def conv_pair(api_url, make_user):
    a, b = make_user("bi"), make_user("bi")
    return a, b, create_conv(api_url, a, [b])


def test_malformed_json(api_url, conv_pair):
    a, _, conv = conv_pair
    url = msgs_url(api_url, conv["id"])
    for data in (b'{"text": ', b"{text: 1}", b"", b"{\"text\": \"x\"} trailing",
                 b"{\"text\": \"x\",}", b"{\"text\": \"unterminated}", b"{\"text\": 'x'}",
                 b"{\"text\": \"x\"}{\"text\": \"y\"}", b"\xef\xbb\xbf{\"text\": \"bom\"}"):
        r = post_raw(url, data, auth_headers(a))
        if data.startswith(b"\xef\xbb\xbf"):
            # A byte-order mark is not JSON (RFC 8259 section 8.1 allows ignoring it).
            assert r.status_code in (201, 400), r.text
            continue
        assert_error(r, 400, "parse_error")
    # A NUL byte: either not JSON or not acceptable text, never stored.
    r = post_raw(url, b'{"text": "a\x00b"}', auth_headers(a))
    assert assert_error(r, 400)["code"] in ("parse_error", "invalid_utf8")


def test_json_not_an_object(api_url, conv_pair):
    a, _, conv = conv_pair
    for data in (b"[]", b'"text"', b"5", b"null", b"true"):
        r = post_raw(msgs_url(api_url, conv["id"]), data, auth_headers(a))
        body = assert_error(r, 400)
        assert body["code"] in ("parse_error", "invalid_type", "bad_request"), body


@pytest.mark.parametrize("path,body", [
    ("messages", {"text": 5}),
    ("messages", {"text": None}),
    ("messages", {"text": ["a"]}),
    ("messages", {"text": {"a": 1}}),
    ("messages", {"text": True}),
    ("messages", {"text": "x", "reply_to": "1"}),
    ("messages", {"text": "x", "reply_to": True}),
    ("messages", {"text": "x", "reply_to": 1.5}),
    ("messages", {"text": "x", "client_msg_id": 5}),
    ("conversations", {"participant_ids": "x"}),
    ("conversations", {"participant_ids": 5}),
    ("conversations", {"participant_ids": [True]}),
    ("conversations", {"participant_ids": ["1"]}),
    ("conversations", {"participant_ids": [1.5]}),
    ("conversations", {"participant_ids": [None]}),
    ("conversations", {"participant_ids": [1], "is_group": "yes"}),
    ("conversations", {"participant_ids": [1], "is_group": 1}),
    ("conversations", {"participant_ids": [1], "name": 7}),
    ("register", {"username": 5, "password": "password123"}),
    ("register", {"username": "x", "password": 12345678}),
    ("register", {"username": "x", "password": "password123", "display_name": 1}),
    ("login", {"username": ["a"], "password": "password123"}),
])
def test_wrong_types(api_url, conv_pair, path, body):
    a, _, conv = conv_pair
    url = {
        "messages": msgs_url(api_url, conv["id"]),
        "conversations": conv_url(api_url),
        "register": api_url + "/api/auth/register",
        "login": api_url + "/api/auth/login",
    }[path]
    r = post(url, body, auth_headers(a))
    assert_error(r, 400, "invalid_type")


@pytest.mark.parametrize("raw", [
    b"\xff\xfe",             # never valid
    b"\xc0\xaf",             # overlong '/'
    b"\xed\xa0\x80",         # UTF-16 surrogate
    b"\xf4\x90\x80\x80",     # above U+10FFFF
    b"abc\x80",              # lone continuation byte
    b"\xe2\x82",             # truncated sequence
])
def test_invalid_utf8(api_url, conv_pair, raw, servers):
    a, _, conv = conv_pair
    data = b'{"text": "' + raw + b'"}'
    r = post_raw(msgs_url(api_url, conv["id"]), data, auth_headers(a))
    assert_error(r, 400, "invalid_utf8")
    r = post_raw(api_url + "/api/auth/register",
                 b'{"username": "u' + raw + b'", "password": "password123"}')
    assert_error(r, 400, "invalid_utf8")
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s",
                      (conv["id"],)) == ((0,),)


def test_escaped_lone_surrogate_is_not_stored_as_garbage(api_url, conv_pair):
    a, _, conv = conv_pair
    r = post_raw(msgs_url(api_url, conv["id"]), b'{"text": "x\\ud800y"}', auth_headers(a))
    assert r.status_code < 500, r.text
    if r.status_code == 201:
        r.json()  # must be valid JSON / UTF-8
    else:
        assert_error(r, r.status_code)


def test_unknown_field(api_url, conv_pair):
    a, b, conv = conv_pair
    cases = [
        (msgs_url(api_url, conv["id"]), {"text": "x", "sender_id": b["id"]}),
        (msgs_url(api_url, conv["id"]), {"text": "x", "Text": "y"}),
        (conv_url(api_url), {"participant_ids": [b["id"]], "owner": 1}),
        (api_url + "/api/auth/register",
         {"username": unique_name("uf"), "password": "password123", "is_admin": True}),
        (api_url + "/api/auth/login", {"username": a["username"], "password": a["password"],
                                       "remember": True}),
    ]
    for url, body in cases:
        assert_error(post(url, body, auth_headers(a)), 400, "unknown_field")


def test_missing_field(api_url, conv_pair):
    a, _, conv = conv_pair
    cases = [
        (msgs_url(api_url, conv["id"]), {}),
        (msgs_url(api_url, conv["id"]), {"client_msg_id": "abc"}),
        (conv_url(api_url), {"name": "x"}),
        (api_url + "/api/auth/register", {"username": unique_name("mf")}),
        (api_url + "/api/auth/register", {"password": "password123"}),
        (api_url + "/api/auth/login", {"username": a["username"]}),
    ]
    for url, body in cases:
        assert_error(post(url, body, auth_headers(a)), 400, "missing_field")


def test_payload_too_large(api_url, conv_pair, servers):
    a, _, conv = conv_pair
    url = msgs_url(api_url, conv["id"])
    data = json.dumps({"text": "a" * (MAX_BODY_BYTES + 100)}).encode()
    r = post_raw(url, data, auth_headers(a))
    assert_error(r, 413, "payload_too_large")
    # Far too large: nginx cuts it off itself, still with a JSON body.
    data = b'{"text": "' + b"a" * (3 * MAX_BODY_BYTES) + b'"}'
    r = post_raw(url, data, auth_headers(a))
    assert_error(r, 413, "payload_too_large")
    # Just under the limit: accepted as far as size goes (the text is then too long).
    data = json.dumps({"text": "a" * (MAX_BODY_BYTES - 100)}).encode()
    assert len(data) <= MAX_BODY_BYTES
    r = post_raw(url, data, auth_headers(a))
    assert_error(r, 422, "validation_error")
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s",
                      (conv["id"],)) == ((0,),)


def test_unsupported_media_type(api_url, conv_pair):
    a, _, conv = conv_pair
    url = msgs_url(api_url, conv["id"])
    body = b'{"text": "hello"}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                  "application/jsonx", "application/xml", None):
        r = post_raw(url, body, auth_headers(a), content_type=ctype)
        assert_error(r, 415, "unsupported_media_type")
    for ctype in ("application/json; charset=utf-8", "Application/JSON"):
        r = post_raw(url, body, auth_headers(a), content_type=ctype)
        assert r.status_code == 201, (ctype, r.text)


def test_method_not_allowed(api_url, conv_pair):
    a, _, conv = conv_pair
    for method, url in (("PUT", msgs_url(api_url, conv["id"])),
                        ("DELETE", msgs_url(api_url, conv["id"])),
                        ("PUT", conv_url(api_url, conv["id"])),
                        ("DELETE", conv_url(api_url)),
                        ("GET", api_url + "/api/auth/login"),
                        ("PUT", api_url + "/api/auth/me")):
        r = requests.request(method, url, json={"text": "x"}, headers=auth_headers(a),
                             timeout=TIMEOUT)
        assert_error(r, 405, "method_not_allowed")
        allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
        assert allow and method not in allow, (method, url, r.headers.get("Allow"))
    r = requests.put(msgs_url(api_url, conv["id"]), json={}, headers=auth_headers(a),
                     timeout=TIMEOUT)
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allow


def test_unknown_routes_are_json_404(api_url, make_user):
    u = make_user("nf")
    for path in ("/api/nope/", "/api/chat/conversations/1/nope/", "/api/auth/",
                 "/api/chat/conversations", "/api/../etc/passwd", "/api/users/1/nope/"):
        for headers in ({}, auth_headers(u)):
            r = get(api_url + path, headers)
            assert_error(r, 404, "not_found")


def test_request_ids(api_url, make_user):
    u = make_user("rid")
    ids = set()
    for r in (get(api_url + "/api/auth/me", auth_headers(u)),
              get(api_url + "/api/auth/me"),
              get(api_url + "/api/nope/"),
              post(api_url + "/api/auth/login", {"username": "x", "password": "y" * 8}),
              get(api_url + "/api/chat/conversations/", auth_headers(u))):
        rid = r.headers.get("X-Request-Id")
        assert rid, (r.request.url, r.headers)
        ids.add(rid)
    assert len(ids) == 5, "request ids must be unique"


def test_json_responses_are_utf8_json(api_url, make_user):
    u = make_user("ct", display_name="Zoë")
    r = get(api_url + "/api/auth/me", auth_headers(u))
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.content.decode("utf-8"))["display_name"] == "Zoë"


def test_many_concurrent_requests_keep_working(api_url, conv_pair):
    """A burst of parallel sends (several FastCGI workers / httpd threads at once):
    every one succeeds, nothing is lost or duplicated."""
    from concurrent.futures import ThreadPoolExecutor

    a, b, conv = conv_pair
    url = msgs_url(api_url, conv["id"])

    def one(i):
        u = a if i % 2 else b
        return post(url, {"text": "p%02d" % i, "client_msg_id": "c%d" % i}, auth_headers(u))

    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(one, range(40)))
    assert all(r.status_code == 201 for r in rs), [r.text for r in rs if r.status_code != 201]
    r = get(url, auth_headers(a), params={"limit": 200})
    texts = sorted(m["text"] for m in r.json()["results"])
    assert texts == sorted("p%02d" % i for i in range(40))


def test_migrations_recorded_and_idempotent(servers):
    before = servers.db("SELECT COUNT(*) FROM schema_migrations")
    assert before[0][0] >= 1
    servers.chatctl("migrate")
    assert servers.db("SELECT COUNT(*) FROM schema_migrations") == before


# ---- sessions and the admin CLI --------------------------------------------------------

def test_expired_session_is_refused(api_url, make_user, servers):
    u = make_user("exp")
    assert get(api_url + "/api/auth/me", auth_headers(u)).status_code == 200
    servers.db("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
               "WHERE user_id = %s", (u["id"],))
    assert_error(get(api_url + "/api/auth/me", auth_headers(u)), 401, "not_authenticated")
    assert_error(get(api_url + "/api/auth/me", {"Cookie": "chat_session=" + u["token"]}), 401)


def test_chatctl_user_add_and_passwd(api_url, servers):
    name = unique_name("cli")
    servers.chatctl("user", "add", name, "--password", "first-password",
                    "--display-name", "From CLI")
    r = post(api_url + "/api/auth/login", {"username": name, "password": "first-password"})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["display_name"] == "From CLI"
    token = r.json()["token"]
    # Adding the same user again fails and changes nothing.
    again = servers.chatctl("user", "add", name, "--password", "other-password", check=False)
    assert again.returncode != 0
    # passwd sets the password and ends the user's sessions.
    servers.chatctl("user", "passwd", name, "--password", "second-password")
    assert_error(get(api_url + "/api/auth/me", {"Authorization": "Bearer " + token}), 401)
    assert_error(post(api_url + "/api/auth/login",
                      {"username": name, "password": "first-password"}), 401,
                 "authentication_failed")
    r = post(api_url + "/api/auth/login", {"username": name, "password": "second-password"})
    assert r.status_code == 200, r.text


def test_chatctl_demo_is_idempotent(servers):
    servers.chatctl("demo")
    servers.chatctl("demo")
    rows = servers.db("SELECT username FROM users WHERE username IN ('alice', 'bob', 'carol') "
                      "ORDER BY username")
    assert rows == (("alice",), ("bob",), ("carol",))
    assert servers.db("SELECT COUNT(*) FROM conversations WHERE is_group AND name = %s",
                      ("Demo group",)) == ((1,),)
    r = post(servers.httpd_url + "/api/auth/login",
             {"username": "alice", "password": "password123"})
    assert r.status_code == 200, r.text
    convs = get(servers.httpd_url + "/api/chat/conversations/",
                {"Authorization": "Bearer " + r.json()["token"]}).json()["results"]
    names = sorted((c["is_group"], c["name"] or "") for c in convs)
    assert (True, "Demo group") in names and any(not g for g, _ in names), convs


# ---- field limits that the schema enforces ---------------------------------------------

@pytest.mark.parametrize("display_name", ["", "d" * 65])
def test_register_display_name_limits(api_url, display_name):
    r = post(api_url + "/api/auth/register", {"username": unique_name("dn"),
                                              "password": "password123",
                                              "display_name": display_name})
    body = assert_error(r, r.status_code)
    assert r.status_code in (400, 422), body


def test_register_display_name_64_chars(api_url):
    dn = "é" * 64
    r = post(api_url + "/api/auth/register", {"username": unique_name("dn"),
                                              "password": "password123", "display_name": dn})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["display_name"] == dn


def test_group_name_limits(api_url, trio):
    a, b, c = trio
    ok = create_conv(api_url, a, [b, c], name="n" * 100, is_group=True)
    assert ok["name"] == "n" * 100
    r = post(conv_url(api_url), {"participant_ids": [b["id"], c["id"]], "name": "n" * 101,
                                 "is_group": True}, auth_headers(a))
    body = assert_error(r, r.status_code)
    assert r.status_code in (400, 422), body


# ---- hostile or racing clients ---------------------------------------------------------

def test_oversized_credentials_are_just_unauthenticated(api_url):
    # Past the front end's header limits (nginx: 8 KiB a line; libmicrohttpd: its
    # connection memory) the server itself refuses the request.
    r = get(api_url + "/api/auth/me", {"Authorization": "Bearer " + "t" * 20000})
    assert r.status_code in (400, 401, 431), r.status_code
    for headers in ({"Authorization": "Bearer " + "t" * 300},
                    {"Authorization": "Bearer " + "t" * 4000},
                    {"Cookie": "chat_session=" + "c" * 4000},
                    {"Cookie": "a=b; " * 300 + "chat_session=zz"},
                    {"Authorization": "Bearer"},
                    {"Authorization": "Bearer    "}):
        assert_error(get(api_url + "/api/auth/me", headers), 401, "not_authenticated")


def test_deeply_nested_json(api_url, conv_pair):
    a, _, conv = conv_pair
    for depth in (64, 100000):
        data = b'{"text": ' + b"[" * depth + b"]" * depth + b"}"
        r = post_raw(msgs_url(api_url, conv["id"]), data, auth_headers(a))
        body = assert_error(r, 400)
        assert body["code"] in ("parse_error", "invalid_type"), body


@pytest.mark.parametrize("raw_id", [
    b"0", b"-1", b"9223372036854775807", b"9223372036854775808", b"18446744073709551616",
    b"1e400", b"1.0", b"100000000000000000000000000000",
])
def test_odd_numbers_for_ids(api_url, conv_pair, raw_id):
    a, _, conv = conv_pair
    for url, data in (
        (conv_url(api_url), b'{"participant_ids": [' + raw_id + b"]}"),
        (msgs_url(api_url, conv["id"]), b'{"text": "x", "reply_to": ' + raw_id + b"}"),
    ):
        r = post_raw(url, data, auth_headers(a))
        assert r.status_code in (400, 422), (url, data, r.status_code, r.text)
        assert_error(r, r.status_code)


def test_concurrent_direct_conversation_creation(api_url, make_user):
    """Both sides starting the same direct chat at once get one conversation."""
    from concurrent.futures import ThreadPoolExecutor

    a, b = make_user("race"), make_user("race")

    def start(i):
        me, other = (a, b) if i % 2 else (b, a)
        return post(conv_url(api_url), {"participant_ids": [other["id"]]}, auth_headers(me))

    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(start, range(16)))
    assert all(r.status_code in (200, 201) for r in rs), [r.text for r in rs]
    assert len({r.json()["id"] for r in rs}) == 1
    assert [r.status_code for r in rs].count(201) == 1


def test_concurrent_idempotent_send(api_url, conv_pair, servers):
    """Retries racing each other with one client_msg_id store one message."""
    from concurrent.futures import ThreadPoolExecutor

    a, _, conv = conv_pair
    url = msgs_url(api_url, conv["id"])
    cid = uuid.uuid4().hex

    def send_once(_):
        return post(url, {"text": "racing", "client_msg_id": cid}, auth_headers(a))

    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(send_once, range(16)))
    assert all(r.status_code in (200, 201) for r in rs), [r.text for r in rs]
    assert len({r.json()["id"] for r in rs}) == 1
    assert [r.status_code for r in rs].count(201) == 1
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s",
                      (conv["id"],)) == ((1,),)
