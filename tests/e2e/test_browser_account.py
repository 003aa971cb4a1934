"""The settings dialog in Chromium (two users, two browsers): a new display name and
picture reach the other window live (conversation list, header, messages) through
user.updated; the session list marks this device and ends another session; a password
change with a wrong and then the right current password; deleting the account turns the
other window's view of its messages into "Deleted user" tombstones."""

from pathlib import Path

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (finish, pool, rest, say, wait, wait_connected,  # noqa: F401
                             wait_for_message)
from test_browser_messages import PNG, two_users


def two_windows(servers, page_url, make_user, pool):
    """Alice and Bob in their direct chat, each in a browser, with one message of hers."""
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool)
    say(servers, alice, conv, "hello from alice")
    for d in (a, b):
        wait_for_message(d, "hello from alice")
    return alice, bob, conv, a, b


def avatar_src(driver, css):
    """The src of the <img> inside the first avatar matching css, or None."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0] + ' img'); return e ? e.src : null;", css)


def avatar_loaded(driver, css):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0] + ' img');"
        "return !!(e && e.complete && e.naturalWidth === 2);", css)


def open_settings(driver):
    driver.find_element(By.ID, "settings-open").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "settings-dialog")))
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#session-list .session"))


def test_profile_picture_sessions_and_password(servers, page_url, make_user, pool, tmp_path):
    alice, bob, conv, a, b = two_windows(servers, page_url, make_user, pool)
    open_settings(a)

    # A new name: Alice's own header and Bob's list, header and messages follow live.
    name = a.find_element(By.ID, "profile-name")
    assert name.get_attribute("value") == "Alice"
    name.clear()
    name.send_keys("Alice Cooper")
    a.find_element(By.ID, "profile-save").click()
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "profile-status"), "Saved."))
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "me-name"), "Alice Cooper"))
    wait(b).until(EC.text_to_be_present_in_element((By.ID, "conversation-title"), "Alice Cooper"))
    wait(b).until(lambda d: d.find_element(
        By.CSS_SELECTOR, '.conversation[data-id="%d"] .conversation-name' % conv).text == "Alice Cooper")
    wait(b).until(lambda d: d.find_element(By.CSS_SELECTOR, "#messages .message .message-sender").text
                  == "Alice Cooper")

    # A picture: shown, and loaded, in Bob's list row, header and beside her message.
    png = Path(tmp_path) / "me.png"
    png.write_bytes(PNG)
    a.find_element(By.ID, "avatar-input").send_keys(str(png))
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "profile-status"), "Picture updated."))
    prefix = "/api/users/%d/avatar/?v=" % alice["id"]
    for css in ('.conversation[data-id="%d"] .conversation-avatar' % conv, "#conversation-avatar",
                "#messages .message .message-meta .avatar"):
        wait(b).until(lambda d: (avatar_src(d, css) or "").startswith(page_url + prefix))
        wait(b).until(lambda d: avatar_loaded(d, css))
    wait(a).until(lambda d: avatar_loaded(d, "#me-avatar"))
    # A file that is not a picture is refused with the reason.
    bad = Path(tmp_path) / "notes.txt"
    bad.write_bytes(b"not an image")
    a.find_element(By.ID, "avatar-input").send_keys(str(bad))
    err = wait(a).until(EC.visibility_of_element_located((By.ID, "settings-error")))
    assert "PNG, JPEG, GIF or WebP" in err.text

    # Sessions: this device is marked; ending the registration session logs it out.
    rows = a.find_elements(By.CSS_SELECTOR, "#session-list .session")
    assert len(rows) == 2, [r.text for r in rows]
    assert len(a.find_elements(By.CSS_SELECTOR, "#session-list .session.current")) == 1
    a.find_element(By.CSS_SELECTOR, "#session-list .session:not(.current) .session-end").click()
    wait(a).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#session-list .session")) == 1)
    r = requests.get(servers.httpd_url + "/api/auth/me", timeout=30,
                     headers={"Authorization": "Bearer " + alice["token"]})
    assert r.status_code == 401

    # Password: the wrong current one is refused, the right one works and this page
    # stays logged in and connected.
    a.find_element(By.ID, "password-current").send_keys("not-my-password")
    a.find_element(By.ID, "password-new").send_keys("a-new-password")
    a.find_element(By.ID, "password-change").click()
    err = wait(a).until(EC.visibility_of_element_located((By.ID, "settings-error")))
    wait(a).until(lambda d: "wrong" in d.find_element(By.ID, "settings-error").text)
    a.find_element(By.ID, "password-current").clear()
    a.find_element(By.ID, "password-current").send_keys(alice["password"])
    a.find_element(By.ID, "password-change").click()
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "password-status"), "Password changed"))
    finish(servers, a, page_url, "account-settings.png")
    a.find_element(By.ID, "settings-close").click()
    wait_connected(a)
    say(servers, bob, conv, "still connected?")
    wait_for_message(a, "still connected?")
    finish(servers, b, page_url, "account-peer-sees-profile.png")


def test_delete_account_from_the_page(servers, page_url, make_user, pool):
    alice, bob, conv, a, b = two_windows(servers, page_url, make_user, pool)
    open_settings(a)
    a.find_element(By.ID, "delete-password").send_keys(alice["password"])
    button = a.find_element(By.ID, "delete-account")
    button.click()
    assert "again" in button.text  # a second click confirms
    button.click()
    wait(a).until(EC.presence_of_element_located((By.ID, "login-form")))
    # Bob's window: her message is a tombstone from "Deleted user", live.
    wait(b).until(lambda d: d.find_element(By.CSS_SELECTOR, "#messages .message .message-sender").text
                  == "Deleted user")
    li = b.find_element(By.CSS_SELECTOR, "#messages .message")
    assert "deleted" in li.get_attribute("class")
    assert "hello from alice" not in b.find_element(By.ID, "messages").text
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [(m["text"], m["sender"]["display_name"]) for m in stored] == [("", "Deleted user")]
    finish(servers, b, page_url, "account-deleted-peer.png")
