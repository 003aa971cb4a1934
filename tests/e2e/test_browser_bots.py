"""The page marks a bot's messages (issue 13, item 6; docs/API.md, "Bots"): the badge is
in the server-rendered history and on a message that arrives live, in the page's
language, and never on a person's message."""

import re

from browser_helpers import (direct_chat, login_with_cookie, pool,  # noqa: F401
                             wait_connected, wait_for_message)
from helpers import catalog, unique_name
from test_api import send


def add_bot(servers):
    name = unique_name("bot")
    out = servers.chatctl("bot", "add", name, "--display-name", "Build Bot").stdout
    return {"id": int(re.search(r"\(id (\d+)\)", out).group(1)), "username": name,
            "token": re.search(r"^token: (\S+)$", out, re.M).group(1)}


def badge(driver, text):
    """(text, title) of the bot badge on the confirmed message showing `text`, or None;
    read by one script, so a live re-render of the list cannot make it stale halfway."""
    found = driver.execute_script(
        "const li = [...document.querySelectorAll('#messages .message[data-id]')]"
        ".find(li => li.querySelector('.message-text').textContent === arguments[0]);"
        "if (!li) throw new Error('no message ' + arguments[0]);"
        "const b = li.querySelector('.message-meta .bot-badge');"
        "return b ? [b.textContent, b.title] : null;", text)
    return tuple(found) if found else None


def test_bot_messages_carry_a_badge(servers, page_url, make_user, pool):
    en = catalog("en")
    expected = (en["webhooks.bot_badge"], en["webhooks.bot_title"])
    alice, carol = make_user("alice", display_name="Alice"), make_user("carol")
    bot = add_bot(servers)
    conv = direct_chat(servers, alice, bot)
    send(servers.httpd_url, bot, conv, "build #1 passed")
    d = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
    wait_connected(d)
    # Rendered by the server with the history.
    wait_for_message(d, "build #1 passed")
    assert badge(d, "build #1 passed") == expected
    # Rendered by the page when it arrives.
    send(servers.httpd_url, bot, conv, "build #2 passed")
    wait_for_message(d, "build #2 passed")
    assert badge(d, "build #2 passed") == expected
    # A person's message has none.
    other = direct_chat(servers, alice, carol)
    send(servers.httpd_url, carol, other, "hi from a person")
    d.get(page_url + "/chat/%d/" % other)
    wait_for_message(d, "hi from a person")
    assert badge(d, "hi from a person") is None
