"""The page as a whole in Chromium: server rendering and the plain form post without
JavaScript, real URLs (reload, back/forward, a shared link, the 404 page), the phone
layout at 360 px, keyboard use and ARIA, the dark theme, the connection fallbacks (SSE and
long-poll) when WebSocket fails, and the versioned static assets. Plus the no-JavaScript
form endpoint's refusals over plain HTTP."""

import re
from urllib.parse import urlsplit

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (REPO, browsers, conversation_row, direct_chat, finish,  # noqa: F401
                             page_front,
                             login_with_cookie, message_texts, open_conversation, pool, rest,
                             say, type_and_enter, wait, wait_connected, wait_for_message)


def session_for(base, user):
    s = requests.Session()
    r = s.post(base + "/api/auth/login", json={"username": user["username"], "password": user["password"]},
               timeout=30)
    assert r.status_code == 200, r.text
    return s


def form_token(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# ---- without JavaScript ----------------------------------------------------------------

def test_without_javascript_history_shows_and_the_form_sends(servers, page_url, make_user, browsers):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    say(servers, bob, conv, "hello <b>alice</b>")
    d = browsers(javascript=False)
    login_with_cookie(d, page_url, alice, "/chat/%d/" % conv)
    assert d.find_element(By.CSS_SELECTOR, ".conversation.active .conversation-name").text == "Bob"
    assert d.find_element(By.ID, "conversation-title").text == "Bob"
    texts = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#messages .message .message-text")]
    assert texts == ["hello <b>alice</b>"]
    box = d.find_element(By.ID, "compose-text")
    box.send_keys("sent by a plain form")
    box.send_keys(Keys.SHIFT, Keys.ENTER)  # a textarea without script: just a new line
    box.send_keys("second line")
    d.find_element(By.ID, "send-button").click()
    wait(d).until(lambda x: len(x.find_elements(By.CSS_SELECTOR, "#messages .message")) == 2)
    assert urlsplit(d.current_url).path == "/chat/%d/" % conv  # the 303 came back here
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert stored[-1]["text"] == "sent by a plain form\nsecond line"
    assert stored[-1]["sender"]["id"] == alice["id"]
    # The conversation list works as plain links.
    conversation_row(d, conv).find_element(By.CSS_SELECTOR, "a").click()
    assert urlsplit(d.current_url).path == "/chat/%d/" % conv
    finish(servers, d, page_url, "nojs-%s.png" % (page_front(servers, page_url)))


def test_send_form_refusals(servers, api_url, make_user):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    eve = make_user("eve", display_name="Eve")
    conv = direct_chat(servers, alice, bob)
    s = session_for(api_url, alice)
    page = s.get(api_url + "/chat/%d/" % conv, timeout=10)
    token = form_token(page.text)
    cmid = re.search(r'name="client_msg_id" value="([^"]+)"', page.text).group(1)
    url = api_url + "/chat/%d/send" % conv
    form = {"text": "once", "csrf_token": token, "client_msg_id": cmid}

    r = s.post(url, data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/chat/%d/" % conv
    # The same rendered form posted again (reload, double click) stores nothing more.
    r = s.post(url, data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["once"]

    # A wrong or missing token: 403, nothing stored (the cookie alone proves nothing).
    assert s.post(url, data={"text": "x", "csrf_token": "nope"}, timeout=10).status_code == 403
    assert s.post(url, data={"text": "x"}, timeout=10).json()["code"] == "missing_field"
    # Blank text: the page again, 422, with the reason and nothing stored.
    r = s.post(url, data={"text": "   ", "csrf_token": token}, timeout=10)
    assert r.status_code == 422 and "text/html" in r.headers["Content-Type"]
    assert "text must not be empty." in r.text
    # Malformed bodies and types.
    assert s.post(url, data="text=%zz&csrf_token=" + token, timeout=10,
                  headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert s.post(url, data={"text": "x", "csrf_token": token, "extra": "1"},
                  timeout=10).json()["code"] == "unknown_field"
    assert s.post(url, json={"text": "x", "csrf_token": token}, timeout=10).status_code == 415
    assert s.post(url, data={"text": "x" * 5000, "csrf_token": token}, timeout=10).status_code == 422
    # Anonymous: 401. An outsider (with a valid token of their own): the 404 page.
    assert requests.post(url, data={"text": "x", "csrf_token": token}, timeout=10).status_code == 401
    e = session_for(api_url, eve)
    eve_token = form_token(e.get(api_url + "/chat/", timeout=10).text)
    r = e.post(url, data={"text": "x", "csrf_token": eve_token}, timeout=10)
    assert r.status_code == 404 and "not in it" in r.text
    r = e.get(api_url + "/chat/%d/" % conv, timeout=10)
    assert r.status_code == 404 and "text/html" in r.headers["Content-Type"]
    assert "Content-Security-Policy" in r.headers
    assert e.get(api_url + "/chat/999999999/", timeout=10).status_code == 404
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["once"]


# ---- URLs ----------------------------------------------------------------------------------

def test_real_urls_back_forward_reload_and_shared_link(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    with_bob = direct_chat(servers, alice, bob)
    with_carol = direct_chat(servers, alice, carol)
    say(servers, bob, with_bob, "from bob")
    say(servers, carol, with_carol, "from carol")
    base = page_url
    d = login_with_cookie(pool.get(0), base, alice)
    wait_connected(d)
    path = lambda: urlsplit(d.current_url).path  # noqa: E731
    open_conversation(d, with_bob)
    wait_for_message(d, "from bob")
    assert path() == "/chat/%d/" % with_bob
    open_conversation(d, with_carol)
    wait_for_message(d, "from carol")
    assert path() == "/chat/%d/" % with_carol
    d.back()
    wait_for_message(d, "from bob")
    assert path() == "/chat/%d/" % with_bob and d.find_element(By.ID, "conversation-title").text == "Bob"
    d.forward()
    wait_for_message(d, "from carol")
    d.refresh()
    wait_for_message(d, "from carol")
    assert d.find_element(By.ID, "conversation-title").text == "Carol"

    # A shared link, opened logged out: the login form, then that conversation.
    other = pool.get(1)
    other.get(base + "/static/favicon.svg")
    other.delete_all_cookies()
    other.get(base + "/chat/%d/" % with_carol)
    other.find_element(By.ID, "login-username").send_keys(alice["username"])
    other.find_element(By.ID, "login-password").send_keys(alice["password"], Keys.ENTER)
    wait(other).until(EC.presence_of_element_located((By.ID, "app")))
    wait_for_message(other, "from carol")
    assert urlsplit(other.current_url).path == "/chat/%d/" % with_carol
    finish(servers, d, base, "urls.png")
    finish(servers, other, base, "urls-shared.png")


# ---- layout, keyboard, theme -------------------------------------------------------------

def test_phone_layout_two_panes(servers, page_url, make_user, browsers):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    say(servers, bob, conv, "on the phone")
    d = browsers(width=360)
    login_with_cookie(d, page_url, alice)
    wait_connected(d)
    assert d.execute_script("return window.innerWidth") == 360
    sidebar = d.find_element(By.CSS_SELECTOR, ".sidebar")
    pane = d.find_element(By.ID, "conversation-pane")
    assert sidebar.is_displayed() and not pane.is_displayed()
    assert d.execute_script("return document.documentElement.scrollWidth") <= 360
    finish(servers, d, page_url, "phone-list.png")
    conversation_row(d, conv).find_element(By.CSS_SELECTOR, "a").click()
    wait_for_message(d, "on the phone")
    assert pane.is_displayed() and not sidebar.is_displayed()
    assert d.execute_script("return document.documentElement.scrollWidth") <= 360
    type_and_enter(d, "typed on a phone")
    wait_for_message(d, "typed on a phone")
    box = d.find_element(By.ID, "compose-text").rect
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    finish(servers, d, page_url, "phone-conversation.png")
    back = d.find_element(By.ID, "back-button")
    assert back.is_displayed()
    back.click()
    wait(d).until(lambda x: sidebar.is_displayed())
    assert urlsplit(d.current_url).path == "/chat/"


def test_keyboard_only_and_aria(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    d = login_with_cookie(pool.get(0), page_url, alice)
    wait_connected(d)
    body = d.find_element(By.TAG_NAME, "body")
    body.click()
    link = None
    for _ in range(30):  # Tab through the page to the conversation
        d.switch_to.active_element.send_keys(Keys.TAB)
        active = d.switch_to.active_element
        if active.get_attribute("class") == "conversation-link":
            link = active
            break
    assert link is not None, "the conversation link is not reachable with Tab"
    # Focus is visible.
    assert d.execute_script("return getComputedStyle(document.activeElement).outlineStyle") != "none"
    link.send_keys(Keys.ENTER)
    wait(d).until(lambda x: x.switch_to.active_element.get_attribute("id") == "compose-text")
    d.switch_to.active_element.send_keys("typed without a mouse", Keys.ENTER)
    wait_for_message(d, "typed without a mouse")
    # Incoming messages are announced; roles are in place.
    say(servers, bob, conv, "announce me")
    wait(d).until(lambda x: x.find_element(By.ID, "announcer").get_attribute("textContent") == "Bob: announce me")
    assert d.find_element(By.ID, "announcer").get_attribute("aria-live") == "polite"
    assert d.find_element(By.ID, "connection-status").get_attribute("role") == "status"
    assert d.find_element(By.CSS_SELECTOR, "#messages .day-separator").get_attribute("role") == "separator"
    more = d.find_element(By.CSS_SELECTOR, "#messages .message .more-button")
    assert more.get_attribute("aria-label") == "Message actions"
    more.send_keys(Keys.ENTER)
    assert more.get_attribute("aria-expanded") == "true"
    assert d.switch_to.active_element.text == "React"
    # Dialogs: Escape closes the new-chat dialog.
    d.find_element(By.ID, "new-chat-open").send_keys(Keys.ENTER)
    assert d.switch_to.active_element.get_attribute("id") == "user-search"
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(d).until(lambda x: not x.find_element(By.ID, "new-chat-dialog").is_displayed())
    finish(servers, d, page_url, "keyboard.png")


def test_dark_theme_follows_the_system(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    say(servers, bob, conv, "in the dark")
    d = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
    bg = "return getComputedStyle(document.body).backgroundColor"
    try:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        assert d.execute_script(bg) == "rgb(244, 245, 247)"
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        assert d.execute_script(bg) == "rgb(21, 23, 26)"
        wait_for_message(d, "in the dark")
        finish(servers, d, page_url, "dark.png")
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


# ---- connection fallbacks ----------------------------------------------------------------

# WebSocket that never connects, as behind a proxy without Upgrade support: close 1006.
NO_WEBSOCKET = """
window.WebSocket = class { constructor() { setTimeout(() => this.onclose && this.onclose({code: 1006}), 20); }
  send() {} close() {} };
"""
NO_EVENTSOURCE = "delete window.EventSource;"


@pytest.mark.parametrize("transport", ["sse", "poll"])
def test_fallback_when_websocket_fails(servers, page_url, make_user, browsers, transport):
    """The push daemon's SSE and long-poll URLs are on its own port here (push_public_url
    ":<port>/ws/"), another origin for the page: this passes only because chat-push grants
    the page's origin (allowed_origins) CORS with credentials. Behind nginx
    (push_public_url "/ws/") they are same-origin."""
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    d = browsers()
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                      {"source": NO_WEBSOCKET + (NO_EVENTSOURCE if transport == "poll" else "")})
    login_with_cookie(d, page_url, alice, "/chat/%d/" % conv)
    wait_connected(d, 40)
    assert d.find_element(By.ID, "connection-status").get_attribute("data-transport") == transport
    assert d.find_element(By.ID, "connection-status").text == (
        "connected (SSE)" if transport == "sse" else "connected (long-poll)")
    say(servers, bob, conv, "over %s" % transport)
    wait_for_message(d, "over %s" % transport)
    type_and_enter(d, "reply over %s" % transport)
    wait_for_message(d, "reply over %s" % transport)
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["over %s" % transport, "reply over %s" % transport]
    assert [t for _, t in message_texts(d)] == [m["text"] for m in stored]
    finish(servers, d, page_url, "fallback-%s.png" % transport)


# ---- assets ---------------------------------------------------------------------------------

def test_versioned_assets_and_csp(servers, api_url, make_user):
    user = make_user("assets")
    s = session_for(api_url, user)
    page = s.get(api_url + "/chat/", timeout=10)
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    versioned = [u for u in urls if u.startswith("/static/v/")]
    assert {u.rsplit("/", 1)[1] for u in versioned} >= {"chat.js", "chat.css", "chat-client.js", "favicon.svg"}
    assert len({u.split("/")[3] for u in versioned}) == 1  # one version for all
    for u in versioned:
        r = requests.get(api_url + u, timeout=10)
        assert r.status_code == 200, u
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.content == (REPO / "static" / u.rsplit("/", 1)[1]).read_bytes()
    for bad in ("/static/v/xyz/chat.js", "/static/v/abc/.hidden.js", "/static/v//chat.js"):
        assert requests.get(api_url + bad, timeout=10).status_code in (400, 404), bad
    csp = dict(d.strip().split(" ", 1) for d in page.headers["Content-Security-Policy"].split(";"))
    push_port = urlsplit(servers.push_url).port
    # The page's own host on the push port, as its script resolves ':PORT/ws/' (not *).
    host = urlsplit(api_url).hostname
    assert csp["connect-src"].split() == ["'self'"] + ["%s://%s:%d" % (p, host, push_port) for p in ("ws", "http")]
    assert csp["script-src"] == "'self'"


def test_offline_banner_and_reconnect_when_back_online(servers, page_url, make_user, pool):
    """The browser going offline shows "offline" (not a countdown); coming back online
    reconnects at once instead of waiting out the backoff, and resumes."""
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    d = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
    wait_connected(d)
    d.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    try:
        d.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
        wait(d).until(lambda x: x.find_element(By.ID, "connection-status").get_attribute("data-state") == "offline")
        type_and_enter(d, "written offline")
        wait(d).until(EC.text_to_be_present_in_element((By.ID, "connection-status"), "offline · 1 waiting to send"))
        say(servers, bob, conv, "sent while alice was offline")
        finish(servers, d, page_url, "offline-banner.png")
    finally:
        d.execute_cdp_cmd("Network.emulateNetworkConditions", dict(offline, offline=False))
    wait_connected(d, 10)
    wait_for_message(d, "sent while alice was offline")
    wait_for_message(d, "written offline")
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["sent while alice was offline", "written offline"]
