"""Bots (issue 13, item 6; docs/API.md, "Bots"): an account made by `chatctl bot add`
with an API token (Authorization: Bearer), which posts and reads only in the
conversations it takes part in, cannot log in or use a cookie session, and shows
"is_bot": true. Its outgoing URL gets every other participant's message, signed like a
webhook, from a real receiver started here; the bot answers through the API. Every API
part runs through both front ends (api_url)."""

import asyncio
import hashlib
import os
import re

import pytest
import requests

from api_helpers import group, request
from helpers import unique_name
from test_api import TIMEOUT, assert_error, conv_url, create_conv, msgs_url, send
from test_push import connect, is_msg
from webhook_helpers import BOT_RECEIVER_PORT, Receiver, signed_by


def add_bot(servers, url=None, display_name=None):
    """chatctl bot add -> {id, username, token, display_name[, secret]} (the make_user shape)."""
    name = unique_name("bot")
    args = ["bot", "add", name]
    if display_name:
        args += ["--display-name", display_name]
    if url:
        args += ["--url", url]
    out = servers.chatctl(*args).stdout
    bot = {"id": int(re.search(r"^created bot \S+ \(id (\d+)\)$", out, re.M).group(1)),
           "username": name, "display_name": display_name or name,
           "token": re.search(r"^token: (\S+)$", out, re.M).group(1)}
    if url:
        bot["secret"] = re.search(r"^secret: (\S+)$", out, re.M).group(1)
    return bot


def bot_user(bot):
    return {"id": bot["id"], "username": bot["username"], "display_name": bot["display_name"],
            "avatar_url": None, "deleted": False, "is_bot": True}


@pytest.fixture
def bot_receiver():
    receiver = Receiver(BOT_RECEIVER_PORT)
    receiver.start()
    yield receiver
    receiver.stop()


def test_bot_token_authenticates_and_shows_is_bot(api_url, servers, make_user):
    bot = add_bot(servers, display_name="Build Bot")
    assert re.fullmatch(r"bot_[A-Za-z0-9_-]{43}", bot["token"])
    r = request("GET", api_url + "/api/auth/me", bot)
    assert r.status_code == 200, r.text
    # The caller's own user object carries the language setting (docs/API.md, "Languages").
    assert r.json() == dict(bot_user(bot), locale=None)
    # Others see it as a bot too (a profile is visible to those who share a conversation).
    u = make_user("bu")
    create_conv(api_url, u, [bot])
    r = request("GET", "%s/api/users/%d/" % (api_url, bot["id"]), u)
    assert r.status_code == 200, r.text
    assert r.json()["is_bot"] is True
    r = request("GET", api_url + "/api/auth/me", u)
    assert r.json()["is_bot"] is False


def test_bot_cannot_log_in_or_use_a_cookie(api_url, servers):
    bot = add_bot(servers)
    for password in ("", "!", "password123", bot["token"]):
        r = requests.post(api_url + "/api/auth/login",
                          json={"username": bot["username"], "password": password or "x" * 8},
                          timeout=TIMEOUT)
        assert_error(r, 401, "authentication_failed")
    # The token as a session cookie is no session.
    r = requests.get(api_url + "/api/auth/me", cookies={"chat_session": bot["token"]}, timeout=TIMEOUT)
    assert_error(r, 401, "not_authenticated")
    # A forged or changed token is nobody.
    for token in (bot["token"][:-1] + ("A" if bot["token"][-1] != "A" else "B"), "bot_", "bot_x"):
        r = request("GET", api_url + "/api/auth/me", {"token": token})
        assert_error(r, 401, "not_authenticated")


def test_user_list_marks_bots(servers, make_user):
    bot, person = add_bot(servers), make_user("bl")
    lines = servers.chatctl("user", "list").stdout.splitlines()
    assert lines[0].split()[:5] == ["id", "username", "admin", "bot", "deactivated"]
    rows = {ln.split()[1]: ln.split() for ln in lines[1:]}
    assert rows[bot["username"]][2:4] == ["no", "yes"]
    assert rows[person["username"]][2:4] == ["no", "no"]


def test_new_token_replaces_the_old(api_url, servers):
    bot = add_bot(servers)
    out = servers.chatctl("bot", "token", bot["username"]).stdout
    new = re.search(r"^token: (\S+)$", out, re.M).group(1)
    assert new != bot["token"]
    assert_error(request("GET", api_url + "/api/auth/me", bot), 401, "not_authenticated")
    assert request("GET", api_url + "/api/auth/me", {"token": new}).status_code == 200
    r = servers.chatctl("bot", "token", "no_such_bot_here", check=False)
    assert r.returncode == 1 and "no such bot" in r.stderr


def test_bot_posts_and_reads_only_where_it_takes_part(api_url, servers, make_user):
    bot, owner, outsider = add_bot(servers), make_user("bo"), make_user("bx")
    conv = group(api_url, owner, [bot])
    other = create_conv(api_url, owner, [outsider])
    m = send(api_url, bot, conv["id"], "build #12 passed")
    assert m["sender"] == bot_user(bot)
    r = request("GET", msgs_url(api_url, conv["id"]), owner)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [m["id"]]
    assert r.json()["results"][0]["sender"]["is_bot"] is True
    r = request("GET", msgs_url(api_url, conv["id"]), bot)
    assert r.status_code == 200 and r.json()["results"][0]["id"] == m["id"]
    # A conversation the bot is not in: 404 for everything, as for any outsider.
    assert_error(request("GET", conv_url(api_url, other["id"]), bot), 404, "not_found")
    assert_error(request("GET", msgs_url(api_url, other["id"]), bot), 404, "not_found")
    assert_error(request("POST", msgs_url(api_url, other["id"]), bot, {"text": "spam"}), 404,
                 "not_found")
    r = request("GET", msgs_url(api_url, other["id"]), owner)
    assert r.json()["results"] == []
    # Once removed from the group, the bot is an outsider there too.
    r = request("DELETE", "%sparticipants/%d/" % (conv_url(api_url, conv["id"]), bot["id"]), owner)
    assert r.status_code == 204, r.text
    assert_error(request("POST", msgs_url(api_url, conv["id"]), bot, {"text": "still here?"}), 404,
                 "not_found")


def test_bot_message_reaches_participants_sockets(api_url, servers, make_user):
    bot, owner = add_bot(servers), make_user("bs")
    conv = create_conv(api_url, owner, [bot])

    async def scenario():
        ws = await connect(servers, owner)
        try:
            m = send(api_url, bot, conv["id"], "deploy finished")
            frame = await ws.wait_for(is_msg(conv["id"]), what="the bot's message")
            assert frame["data"]["id"] == m["id"]
            assert frame["data"]["sender"] == bot_user(bot)
        finally:
            await ws.close()

    asyncio.run(scenario())


def test_bot_token_is_refused_on_the_socket(servers):
    """Bots receive through their outgoing URL, not the push socket (docs/API.md)."""
    bot = add_bot(servers)

    async def scenario():
        c = await connect(servers, bot, hello=False)
        err = await c.recv()
        assert err["type"] == "error" and err["code"] == "not_authenticated", err
        code, _ = await c.closed()
        assert code == 4401

    asyncio.run(scenario())


def test_outgoing_url_gets_messages_and_the_bot_answers(api_url, servers, make_user, bot_receiver):
    bot = add_bot(servers, url=bot_receiver.url, display_name="Echo")
    alice, bob = make_user("ba"), make_user("bb")
    conv = group(api_url, alice, [bob, bot])

    def to_bot(message_id):
        return lambda r: r["json"].get("type") == "message.created" and \
            r["json"]["message"]["id"] == message_id

    async def scenario():
        ws = await connect(servers, bob)
        try:
            m = send(api_url, alice, conv["id"], "echo: hello")
            [got] = bot_receiver.wait_for(to_bot(m["id"]), "the message at the bot's URL")
            assert signed_by(bot["secret"])(got)
            body = got["json"]
            assert body["bot"] == {"id": bot["id"], "username": bot["username"],
                                   "display_name": "Echo", "is_bot": True}
            assert body["conversation"] == {"id": conv["id"], "name": "team", "is_group": True}
            assert body["message"]["text"] == "echo: hello"
            assert body["message"]["sender"]["id"] == alice["id"]
            assert body["message"]["conversation_id"] == conv["id"]
            assert body["message"]["reply_to"] is None
            assert body["message"]["created_at"] == m["created_at"]
            # The bot answers through the API; bob's socket gets it.
            answer = send(api_url, bot, conv["id"], "hello", reply_to=m["id"])
            frame = await ws.wait_for(lambda f: is_msg(conv["id"])(f) and f["data"]["id"] == answer["id"],
                                      what="the bot's answer")
            assert frame["data"]["sender"]["is_bot"] is True
            assert frame["data"]["reply_to"] == m["id"]
            # A later message by bob reaches the URL: the bot's own answer never did.
            marker = send(api_url, bob, conv["id"], "thanks")
            bot_receiver.wait_for(to_bot(marker["id"]), "the marker at the bot's URL")
            assert bot_receiver.matching(to_bot(answer["id"])) == []
            return m
        finally:
            await ws.close()

    asyncio.run(scenario())


def test_outgoing_url_is_only_for_the_bots_conversations(api_url, servers, make_user, bot_receiver):
    bot = add_bot(servers, url=bot_receiver.url)
    alice, bob = make_user("ba"), make_user("bb")
    private = create_conv(api_url, alice, [bob])
    shared = create_conv(api_url, alice, [bot])
    secret_msg = send(api_url, alice, private["id"], "not for bots")
    marker = send(api_url, alice, shared["id"], "for the bot")
    bot_receiver.wait_for(lambda r: r["json"]["message"]["id"] == marker["id"], "the marker")
    assert bot_receiver.matching(lambda r: r["json"]["message"]["id"] == secret_msg["id"]) == []
    assert servers.db("SELECT COUNT(*) FROM webhook_deliveries WHERE message_id = %s",
                      (secret_msg["id"],))[0][0] == 0


def test_chatctl_bot_url_validation(servers):
    bot = add_bot(servers)
    r = servers.chatctl("bot", "url", bot["username"], "javascript:alert(1)", check=False)
    assert r.returncode == 1 and "not an http:// or https:// URL" in r.stderr
    r = servers.chatctl("bot", "add", "bad name!", check=False)
    assert r.returncode == 1 and "invalid" in r.stderr
    out = servers.chatctl("bot", "url", bot["username"], "https://bots.example.com/a").stdout
    first = re.search(r"^webhook (\d+):", out, re.M).group(1)
    out = servers.chatctl("bot", "url", bot["username"], "https://bots.example.com/b").stdout
    assert re.search(r"^webhook (\d+):", out, re.M).group(1) == first  # replaced, not added
    listing = servers.chatctl("webhook", "list").stdout
    assert "https://bots.example.com/b" in listing and "https://bots.example.com/a" not in listing
    servers.chatctl("webhook", "remove", first)


def test_a_session_token_that_starts_like_a_bot_token_still_works(api_url, servers, make_user):
    """Session tokens are 43 random base64url characters, so about one in 17 million
    starts with "bot_": it is still looked up as a session (bot tokens are longer)."""
    user = make_user("bt")
    token = "bot_" + os.urandom(39).hex()[:39]
    servers.db("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) "
               "VALUES (%s, %s, %s, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR)",
               (hashlib.sha256(token.encode()).digest(), user["id"], "c" * 43))
    r = request("GET", api_url + "/api/auth/me", {"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user["id"] and r.json()["is_bot"] is False
