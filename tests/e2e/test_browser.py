"""The chat page in a real browser (headless Chromium through Selenium), plus the page's
HTTP contract: security headers, the redirect, the bootstrap element and the static
file handler's refusal of paths outside static/.

Two separate browser instances play two users: they log in through the form, start a
direct chat by username, and each sees the other's messages arrive over the WebSocket
without a reload. Screenshots of the final states go to var/test/screenshots/ (the
harness's var dir, CHAT_TEST_VAR_DIR).
"""

import http.client
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (REPO, browsers, click_option, console_problems, conversation_row,  # noqa: F401
                             page_front,
                             direct_chat, foreign_resources, login_through_form, message_texts,
                             say, screenshot, send, wait, wait_connected, wait_for_message)
from helpers import port_open, unique_name


# ---- the browser test --------------------------------------------------------------

def test_two_users_chat_live(servers, page_url, make_user, browsers):
    """Two browsers, two users: a direct chat started from the dialog, messages both
    ways live, markup shown as text, a real URL that survives a reload."""
    base = page_url
    front = page_front(servers, page_url)
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")

    a = browsers()
    b = browsers()
    login_through_form(a, base, alice)
    login_through_form(b, base, bob)
    wait_connected(a)
    wait_connected(b)

    # Alice starts a direct chat with Bob: the dialog searches users as she types.
    a.find_element(By.ID, "new-chat-open").click()
    a.find_element(By.ID, "user-search").send_keys(bob["username"])
    click_option(a, '#user-results .user-option[data-id="%d"]' % bob["id"])
    a.find_element(By.ID, "new-chat-start").click()
    wait(a).until(EC.visibility_of_element_located((By.ID, "compose")))
    wait(a).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".conversation.active"))
    conv_id = int(a.find_element(By.CSS_SELECTOR, ".conversation.active").get_attribute("data-id"))
    assert a.find_element(By.ID, "conversation-title").text == "Bob"
    # A real URL for the conversation.
    assert urlsplit(a.current_url).path == "/chat/%d/" % conv_id

    send(a, "hello bob")
    wait_for_message(a, "hello bob")

    # Bob's list gains the conversation live, with an unread badge, without a reload.
    wait(b).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, '.conversation[data-id="%d"]' % conv_id)))
    wait(b).until(lambda d: conversation_row(d, conv_id).find_element(
        By.CSS_SELECTOR, ".conversation-preview").text == "hello bob")
    row = conversation_row(b, conv_id)
    assert row.find_element(By.CSS_SELECTOR, ".conversation-name").text == "Alice"
    assert row.find_element(By.CSS_SELECTOR, ".unread-badge").text == "1"
    row.find_element(By.CSS_SELECTOR, "a").click()
    wait_for_message(b, "hello bob")
    assert not row.find_element(By.CSS_SELECTOR, ".unread-badge").is_displayed()

    # Markup in a message is text, in the sender's and the receiver's page.
    payload = "<img src=x onerror=alert(1)>"
    send(b, payload)
    wait_for_message(b, payload)
    wait_for_message(a, payload)
    send(b, "hi alice")
    wait_for_message(a, "hi alice")
    send(a, "bye bob")
    wait_for_message(b, "bye bob")

    expected = ["hello bob", payload, "hi alice", "bye bob"]
    for driver in (a, b):
        shown = message_texts(driver)
        assert [t for _, t in shown] == expected  # each once, in order
        assert [i for i, _ in shown] == sorted(i for i, _ in shown)
        assert driver.find_elements(By.CSS_SELECTOR, "#messages img") == []
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
        assert driver.find_elements(By.CSS_SELECTOR, "#messages .message.pending") == []
        # The list shows the latest message as the preview.
        wait(driver).until(lambda d: conversation_row(d, conv_id).find_element(
            By.CSS_SELECTOR, ".conversation-preview").text == "bye bob")

    for name, driver in (("alice", a), ("bob", b)):
        assert foreign_resources(driver, base) == []
        assert console_problems(driver) == []
        screenshot(servers, driver, "chat-%s-%s.png" % (front, name))

    # A reload shows the same history, rendered from the server this time.
    a.refresh()
    wait(a).until(EC.presence_of_element_located((By.ID, "app")))
    wait_for_message(a, "bye bob")
    assert [t for _, t in message_texts(a)] == expected


def test_reconnect_resumes_missed_messages(servers, page_url, make_user, auth_headers, browsers):
    """While chat-push is down the page says so; a message sent meanwhile appears once
    the page has reconnected (resumed from its last event id), exactly once."""
    base = page_url

    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    conv_id = direct_chat(servers, bob, alice)
    carol_conv = direct_chat(servers, carol, alice)  # newer: listed first until Bob writes

    def bob_says(text):
        say(servers, bob, conv_id, text)

    def order(d):
        return [int(li.get_attribute("data-id"))
                for li in d.find_elements(By.CSS_SELECTOR, "#conversation-list .conversation")]

    a = browsers()
    login_through_form(a, base, alice)
    wait_connected(a)
    assert order(a) == [carol_conv, conv_id]
    conversation_row(a, conv_id).find_element(By.CSS_SELECTOR, "a").click()
    wait(a).until(EC.visibility_of_element_located((By.ID, "compose")))
    bob_says("before the restart")
    wait_for_message(a, "before the restart")
    wait(a).until(lambda d: order(d) == [conv_id, carol_conv])

    push = urlsplit(servers.push_url)
    servers.stop_proc("chat-push")
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "connection-status"), "reconnecting in"))
    bob_says("while push was down")
    servers.spawn("chat-push", ["chat-push"],
                  ready=lambda: port_open(push.hostname, push.port) and
                  Path(servers.wake_socket).exists())
    wait_connected(a, 60)
    wait_for_message(a, "while push was down")
    bob_says("after the restart")
    wait_for_message(a, "after the restart")
    assert [t for _, t in message_texts(a)] == [
        "before the restart", "while push was down", "after the restart"]
    assert conversation_row(a, conv_id).find_element(
        By.CSS_SELECTOR, ".conversation-preview").text == "after the restart"

    # A message in a conversation that is not open: badge and order, not the open view.
    say(servers, carol, carol_conv, "psst")
    wait(a).until(lambda d: order(d) == [carol_conv, conv_id])
    row = conversation_row(a, carol_conv)
    wait(a).until(lambda d: row.find_element(By.CSS_SELECTOR, ".unread-badge").text == "1")
    assert row.find_element(By.CSS_SELECTOR, ".conversation-preview").text == "psst"
    assert "psst" not in [t for _, t in message_texts(a)]
    screenshot(servers, a, "chat-after-reconnect.png")


def test_register_through_form_and_logout(servers, page_url, browsers):
    base = page_url
    driver = browsers()
    driver.get(base + "/chat/")
    driver.find_element(By.ID, "register-toggle").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "login-display-name")))
    username = unique_name("carol")
    driver.find_element(By.ID, "login-username").send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys("correct horse battery")
    driver.find_element(By.ID, "login-display-name").send_keys("Carol <script>")
    driver.find_element(By.ID, "login-submit").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "app")))
    assert driver.find_element(By.ID, "me-name").text == "Carol <script>"
    wait_connected(driver)
    assert driver.find_element(By.ID, "no-conversations").is_displayed()

    # An unknown username finds no one, and nothing can be started.
    driver.find_element(By.ID, "new-chat-open").click()
    driver.find_element(By.ID, "user-search").send_keys("nobody_" + username[:20])
    wait(driver).until(EC.text_to_be_present_in_element((By.ID, "user-results"), "No one found."))
    assert not driver.find_element(By.ID, "new-chat-start").is_enabled()
    driver.find_element(By.ID, "new-chat-cancel").click()
    assert driver.find_elements(By.CSS_SELECTOR, ".conversation") == []

    driver.find_element(By.ID, "logout-button").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "login-form")))
    assert console_problems(driver) == []


# ---- the page's HTTP contract ------------------------------------------------------

def raw_get(base_url, path):
    """GET with the path sent exactly as given (no client-side normalization of '..')."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def test_page_headers(api_url):
    r = requests.get(api_url + "/chat/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in r.headers["Cache-Control"]
    assert 'id="login-form"' in r.text
    # No inline script other than the JSON data element, and no inline handlers.
    for tag in re.findall(r"<script\b[^>]*>", r.text):
        assert 'type="application/json"' in tag or "src=" in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", r.text)
    assert " style=" not in r.text

    r = requests.get(api_url + "/", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["Location"] == "/chat/"


def test_page_escapes_user_data(api_url, make_user, auth_headers):
    nasty = '"><script>alert(1)</script>\u2028</script>'
    user = make_user("esc", display_name=nasty)
    r = requests.get(api_url + "/chat/", headers=auth_headers(user), timeout=10)
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text
    assert r.text.count("</script>") == r.text.count("<script")
    boot = re.search(r'<script type="application/json" id="bootstrap">(.*?)</script>',
                     r.text, re.S)
    data = json.loads(boot.group(1))
    assert data["user"]["display_name"] == nasty
    assert data["csrf_cookie"] == "chat_csrf"
    assert data["ws_url"]
    assert isinstance(data["max_message_chars"], int)


@pytest.mark.parametrize("path", [
    "/static/../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/.hidden.js",
    "/static/chat.js/..",
    "/static/missing.js",
    "/static/",
])
def test_static_refuses_paths_outside(servers, api_url, path):
    status, body = raw_get(api_url, path)
    # chat-httpd answers 404; nginx refuses a path climbing above / itself with 400.
    assert status == 404 or (status == 400 and api_url == servers.nginx_url), (path, status)
    assert b"root:" not in body


def test_static_serves_assets(servers):
    for name, ctype in (("chat.js", "application/javascript"), ("chat-client.js", "application/javascript"),
                        ("chat.css", "text/css")):
        r = requests.get(servers.httpd_url + "/static/" + name, timeout=10)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"].startswith(ctype)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=3600" in r.headers["Cache-Control"]
        assert r.content == (REPO / "static" / name).read_bytes()
