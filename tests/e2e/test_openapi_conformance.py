"""The generic rules of docs/openapi.yaml, exercised on every JSON API operation it lists
(paths under /api/; the HTML pages have their own suites):
authentication (401), CSRF on cookie writes (403), JSON-only bodies (415), 404 for
outsiders on every conversation resource, and 404 for everyone but a site admin on the
site administration operations (x-site-admin). It runs through every front end of
conftest.FRONT_ENDS (chat-httpd, nginx and Apache over FastCGI, ...). The operations come from the spec, so a new
route is covered as soon as it is documented; each response is also validated against
the spec by openapi_check (installed by conftest.py)."""

import re

import pytest
import requests

import openapi_check
from helpers import auth_headers

TIMEOUT = 30
SAFE = ("get", "head", "options")

# A valid body for each operation that takes JSON, so that only the rule under test
# can refuse the request. Values in <> are filled from the `world` fixture.
BODIES = {
    "register": {"username": "<fresh>", "password": "password123"},
    "login": {"username": "<outsider_name>", "password": "<outsider_password>"},
    "createConversation": {"participant_ids": ["<member>"]},
    "renameConversation": {"name": "renamed by an outsider"},
    "addParticipant": {"user_id": "<outsider>"},
    "markRead": {"message_id": "<message>"},
    "markDelivered": {"message_id": "<message>"},
    "sendMessage": {"text": "from an outsider"},
    "editMessage": {"text": "edited by an outsider"},
    "setParticipantRole": {"role": "admin"},
    "setConversationNotifications": {"level": "none", "muted_until": None},
    "blockUser": {"user_id": "<member>"},
    "updateProfile": {"display_name": "renamed"},
    "deleteAccount": {"password": "<outsider_password>"},
    "changePassword": {"current_password": "<outsider_password>", "new_password": "password123"},
}


def operations():
    """(method, template, operation) for every documented operation of the JSON API."""
    for template, item in openapi_check.spec().doc["paths"].items():
        if not template.startswith("/api/"):
            continue
        for method in openapi_check.METHODS:
            if method in item:
                yield method, template, item[method]


def op_id(op):
    return "%s %s" % (op[0].upper(), op[1])


def site_admin_only(op):
    return bool(op[2].get("x-site-admin"))


def requires_auth(op):
    security = op[2].get("security", openapi_check.spec().doc.get("security", []))
    return bool(security) and {} not in security


def json_only_body(op):
    content = (op[2].get("requestBody") or {}).get("content", {})
    return list(content) == ["application/json"]


@pytest.fixture
def world(servers, front_end_url, make_user):
    """A group of owner and member with one message (carrying one attachment), an
    outsider and a site admin; the values that fill path parameters and bodies."""
    owner, member, outsider = make_user("own"), make_user("mem"), make_user("out")
    admin = make_user("adm")
    servers.chatctl("user", "admin", admin["username"])
    r = requests.post(front_end_url + "/api/chat/conversations/",
                      json={"participant_ids": [member["id"]], "name": "g", "is_group": True},
                      headers=auth_headers(owner), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    conv = r.json()
    r = requests.post(front_end_url + "/api/chat/attachments/", data=b"hello", params={"filename": "a.txt"},
                      headers=dict(auth_headers(owner), **{"Content-Type": "text/plain"}),
                      timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    attachment = r.json()
    r = requests.post("%s/api/chat/conversations/%d/messages/" % (front_end_url, conv["id"]),
                      json={"text": "hello", "attachment_ids": [attachment["id"]]},
                      headers=auth_headers(owner), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return {
        "api_url": front_end_url, "owner": owner, "member": member, "outsider": outsider,
        "admin": admin,
        "params": {
            "conversation_id": conv["id"], "message_id": r.json()["id"],
            "user_id": member["id"], "attachment_id": attachment["id"],
            "emoji": "%F0%9F%91%8D", "path": "chat.js", "session_id": 1,
        },
    }


def url_for(world, template):
    def fill(m):
        name = m.group(1)
        assert name in world["params"], "no test value for path parameter {%s}" % name
        return str(world["params"][name])
    return world["api_url"] + re.sub(r"\{([^}]+)\}", fill, template)


def body_for(world, op):
    def fill(v):
        if isinstance(v, list):
            return [fill(x) for x in v]
        if not isinstance(v, str) or not v.startswith("<"):
            return v
        key = v[1:-1]
        if key == "fresh":
            return "fresh_" + world["outsider"]["username"][-20:]
        if key == "message":
            return world["params"]["message_id"]
        if key.endswith("_name"):
            return world[key[:-5]]["username"]
        if key.endswith("_password"):
            return world[key[:-9]]["password"]
        return world[key]["id"]
    if op[2].get("requestBody") is None or not json_only_body(op):
        return None
    assert op[2]["operationId"] in BODIES, "no test body for " + op[2]["operationId"]
    return {k: fill(v) for k, v in BODIES[op[2]["operationId"]].items()}


def send(method, url, **kw):
    return requests.request(method.upper(), url, timeout=TIMEOUT, **kw)


def assert_code(r, status, code, what):
    assert r.status_code == status, "%s: expected %d %s, got %d %s" % (
        what, status, code, r.status_code, r.text)
    assert r.json()["code"] == code, (what, r.text)


@pytest.mark.parametrize("op", [o for o in operations() if requires_auth(o) and not site_admin_only(o)],
                         ids=op_id)
def test_secured_operations_answer_401_without_credentials(world, op):
    method, template, _ = op
    r = send(method, url_for(world, template), json=body_for(world, op))
    assert_code(r, 401, "not_authenticated", op_id(op))
    r = send(method, url_for(world, template), json=body_for(world, op),
             headers={"Authorization": "Bearer not-a-session"})
    assert_code(r, 401, "not_authenticated", op_id(op))


@pytest.mark.parametrize("op", [o for o in operations() if requires_auth(o) and o[0] not in SAFE],
                         ids=op_id)
def test_cookie_writes_need_the_csrf_header(world, op):
    method, template, _ = op
    s = requests.Session()
    who = world["admin" if site_admin_only(op) else "owner"]
    r = s.post(world["api_url"] + "/api/auth/login", timeout=TIMEOUT,
               json={"username": who["username"], "password": who["password"]})
    assert r.status_code == 200, r.text
    for headers in ({}, {"X-CSRFToken": "wrong"}):
        r = s.request(method.upper(), url_for(world, template), json=body_for(world, op),
                      headers=headers, timeout=TIMEOUT)
        assert_code(r, 403, "csrf_failed", op_id(op))


@pytest.mark.parametrize("op", [o for o in operations() if site_admin_only(o)], ids=op_id)
def test_site_admin_operations_answer_404_to_everyone_else(world, op):
    """Anonymous, a bad token, a plain user with a bearer token or a cookie (with its CSRF
    header), and a method the path does not take: each gets the 404 of an unknown path,
    never 401, 403 or 405. Nothing changed; the admin's own request goes through."""
    method, template, _ = op
    url = url_for(world, template)
    plain = requests.Session()
    r = plain.post(world["api_url"] + "/api/auth/login", timeout=TIMEOUT,
                   json={"username": world["member"]["username"],
                         "password": world["member"]["password"]})
    assert r.status_code == 200, r.text
    attempts = [
        (method, {}, None),
        (method, {"Authorization": "Bearer not-a-session"}, None),
        (method, auth_headers(world["member"]), None),
        (method, {"X-CSRFToken": plain.cookies.get("chat_csrf")}, plain),
        ("put", auth_headers(world["member"]), None),
        ("put", {}, None),
    ]
    for m, headers, session in attempts:
        r = (session or requests).request(m.upper(), url, headers=headers, timeout=TIMEOUT)
        assert_code(r, 404, "not_found", "%s %s as %s" % (m.upper(), template, headers or "anonymous"))
        assert "Allow" not in r.headers
    # The wrong method from the admin is the usual 405: the path exists for them.
    r = send("put", url, headers=auth_headers(world["admin"]))
    assert r.status_code == 405 and "Allow" in r.headers, r.text
    p, base = world["params"], world["api_url"]
    r = send("get", "%s/api/chat/conversations/%d/messages/" % (base, p["conversation_id"]),
             headers=auth_headers(world["member"]))
    assert r.status_code == 200, r.text
    assert [m["text"] for m in r.json()["results"]] == ["hello"]


@pytest.mark.parametrize("op", [o for o in operations() if json_only_body(o)], ids=op_id)
def test_json_bodies_refuse_other_media_types(world, op):
    method, template, _ = op
    r = send(method, url_for(world, template), data=b'{"text": "x"}',
             headers=dict(auth_headers(world["owner"]), **{"Content-Type": "text/plain"}))
    assert_code(r, 415, "unsupported_media_type", op_id(op))


@pytest.mark.parametrize("op", [o for o in operations()
                                if re.search(r"\{(conversation_id|attachment_id)\}", o[1])],
                         ids=op_id)
def test_outsiders_get_404_on_every_conversation_resource(world, op):
    method, template, _ = op
    r = send(method, url_for(world, template), json=body_for(world, op),
             headers=auth_headers(world["outsider"]))
    assert_code(r, 404, "not_found", op_id(op))
    # The insiders' view is unchanged.
    p, base = world["params"], world["api_url"]
    r = send("get", "%s/api/chat/conversations/%d/messages/" % (base, p["conversation_id"]),
             headers=auth_headers(world["member"]))
    assert r.status_code == 200, r.text
    msgs = r.json()["results"]
    assert [(m["text"], m["reactions"], len(m["attachments"])) for m in msgs] == [("hello", [], 1)]
    r = send("get", "%s/api/chat/conversations/%d/participants/" % (base, p["conversation_id"]),
             headers=auth_headers(world["member"]))
    assert {u["id"] for u in r.json()["results"]} == {world["owner"]["id"], world["member"]["id"]}
    r = send("get", "%s/api/chat/conversations/%d/" % (base, p["conversation_id"]),
             headers=auth_headers(world["member"]))
    assert r.json()["name"] == "g", r.text


@pytest.mark.parametrize("case", [
    ("post", "/api/auth/login", {"json": {"username": "x", "password": "p" * 257}}, 422,
     "validation_error"),
    ("get", "/api/users/?limit=0", {}, 400, "bad_request"),
    ("get", "/api/users/?limit=51", {}, 400, "bad_request"),
    ("delete", "/api/chat/conversations/{conversation_id}/messages/{message_id}/reactions/"
     + "x" * 33 + "/", {}, 422, "validation_error"),
    ("delete", "/api/chat/conversations/{conversation_id}/messages/{message_id}/reactions/%20/",
     {}, 422, "validation_error"),
    ("delete", "/api/chat/conversations/{conversation_id}/messages/{message_id}/reactions/%FF/",
     {}, 400, "invalid_utf8"),
    ("get", "/static/../README.md", {}, 404, None),
    ("get", "/static/no-such-file.js", {}, 404, None),
], ids=lambda c: "%s %s %d" % (c[0].upper(), c[1], c[3]))
def test_documented_error_paths(world, case):
    """Documented error responses that the feature suites do not reach; each answer is
    also validated against the spec."""
    method, template, kw, status, code = case
    r = send(method, url_for(world, template), headers=auth_headers(world["member"]), **kw)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["code"] == code, r.text
