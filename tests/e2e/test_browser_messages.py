"""The conversation view in Chromium, with two users in two browsers (reused across the
module; every test registers its own users): sending with Enter and Shift+Enter, ticks
from receipts, safe links, replies, edits, deletes, reactions, infinite scroll with the
unread divider and the jump-to-latest button, a failed send and its retry, the offline
queue across a chat-push restart, and attachments (picker, drag-and-drop, paste, size
limit, thumbnails and the viewer). Each test ends with a screenshot and the no-foreign-
origin and console checks (browser_helpers.finish)."""

import base64
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (direct_chat, finish, login_with_cookie, message_li, message_texts,  # noqa: F401
                             pool, rest, say, status_state, type_and_enter,
                             wait, wait_connected, wait_for_message)

# A 2x2 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVQI12P4z8DAwMDAxMDAwMDAAAAhAgP/"
    "OjfZ3gAAAABJRU5ErkJggg==")


def two_users(servers, base, make_user, pool, open_both=True):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    a = login_with_cookie(pool.get(0), base, alice, "/chat/%d/" % conv)
    b = login_with_cookie(pool.get(1), base, bob, "/chat/%d/" % conv if open_both else "/chat/")
    wait_connected(a)
    wait_connected(b)
    return alice, bob, conv, a, b


def ticks(li):
    return li.find_element(By.CSS_SELECTOR, ".ticks").get_attribute("data-state")


def test_send_with_enter_ticks_links_and_replies(servers, page_url, make_user, pool):
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool, open_both=False)

    # Enter sends; Shift+Enter is a new line inside the message.
    box = a.find_element(By.ID, "compose-text")
    box.send_keys("line one")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("line two", Keys.ENTER)
    wait_for_message(a, "line one\nline two")
    assert box.get_attribute("value") == ""
    li = message_li(a, "line one\nline two")
    # Bob has not opened the conversation: sent (or delivered, once his page saw it).
    wait(a).until(lambda d: ticks(message_li(d, "line one\nline two")) == "delivered")

    # Bob opens it: read, and Alice sees the read ticks live.
    b.find_element(By.CSS_SELECTOR, '.conversation[data-id="%d"] a' % conv).click()
    wait_for_message(b, "line one\nline two")
    wait(a).until(lambda d: ticks(message_li(d, "line one\nline two")) == "read")
    assert li.find_element(By.CSS_SELECTOR, ".ticks").get_attribute("aria-label") == "read"

    # A link is clickable, opens elsewhere without the opener, and markup stays text.
    type_and_enter(b, "see https://example.com/a?b=1. <b>bold</b>")
    wait_for_message(a, "see https://example.com/a?b=1. <b>bold</b>")
    link = message_li(a, "see https://example.com/a?b=1. <b>bold</b>").find_element(
        By.CSS_SELECTOR, ".message-text a")
    assert link.get_attribute("href") == "https://example.com/a?b=1"
    assert link.text == "https://example.com/a?b=1"
    assert "noopener" in link.get_attribute("rel") and link.get_attribute("target") == "_blank"
    assert a.find_elements(By.CSS_SELECTOR, ".message-text b") == []

    # Day separator and local times.
    assert a.find_element(By.CSS_SELECTOR, "#messages .day-separator").text == "Today"
    t = li.find_element(By.CSS_SELECTOR, "time")
    local = a.execute_script(
        "return new Date(arguments[0]).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'})",
        t.get_attribute("datetime"))
    assert t.text == local

    # Bob replies to Alice's first message; the quote jumps to the original.
    target = message_li(b, "line one\nline two")
    target.find_element(By.CSS_SELECTOR, ".more-button").click()
    target.find_element(By.CSS_SELECTOR, ".reply-button").click()
    assert "Replying to Alice" in b.find_element(By.ID, "reply-bar-text").text
    type_and_enter(b, "this is a reply")
    wait_for_message(a, "this is a reply")
    reply = message_li(a, "this is a reply")
    quote = reply.find_element(By.CSS_SELECTOR, ".reply-quote")
    assert quote.find_element(By.CSS_SELECTOR, ".reply-sender").text == "Alice"
    assert quote.find_element(By.CSS_SELECTOR, ".reply-text").text.startswith("line one")
    quote.click()
    wait(a).until(lambda d: "flash" in message_li(d, "line one\nline two").get_attribute("class"))
    stored = rest(servers, alice, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert stored[-1]["reply_to"] == stored[0]["id"]
    finish(servers, a, page_url, "messages-send-alice.png")
    finish(servers, b, page_url, "messages-send-bob.png")


def test_edit_delete_and_reactions(servers, page_url, make_user, pool):
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool)
    type_and_enter(a, "first draft")
    type_and_enter(a, "to be deleted")
    wait_for_message(b, "to be deleted")

    # Edit: Alice changes her message; Bob sees the new text marked edited.
    li = message_li(a, "first draft")
    li.find_element(By.CSS_SELECTOR, ".more-button").click()
    li.find_element(By.CSS_SELECTOR, ".edit-button").click()
    area = li.find_element(By.CSS_SELECTOR, ".edit-text")
    area.clear()
    area.send_keys("final text", Keys.ENTER)
    wait_for_message(b, "final text")
    assert message_li(b, "final text").find_element(By.CSS_SELECTOR, ".edited").text == "edited"
    # Bob cannot edit Alice's messages: no such action offered.
    other = message_li(b, "final text")
    other.find_element(By.CSS_SELECTOR, ".more-button").click()
    assert other.find_elements(By.CSS_SELECTOR, ".edit-button") == []
    assert other.find_elements(By.CSS_SELECTOR, ".delete-button") == []

    # Delete (with a confirming second click): a tombstone for both.
    li = message_li(a, "to be deleted")
    li.find_element(By.CSS_SELECTOR, ".more-button").click()
    li.find_element(By.CSS_SELECTOR, ".delete-button").click()
    li.find_element(By.CSS_SELECTOR, ".delete-button").click()
    wait(b).until(lambda d: "to be deleted" not in [t for _, t in message_texts(d)])
    assert [t for _, t in message_texts(b)] == ["final text", "Message deleted"]
    assert "deleted" in b.find_elements(By.CSS_SELECTOR, "#messages .message")[-1].get_attribute("class")

    # Reactions: Bob picks one; Alice sees the count and who reacted, and adds hers.
    li = message_li(b, "final text")
    li.find_element(By.CSS_SELECTOR, ".react-button").click()
    wait(b).until(EC.visibility_of_element_located((By.ID, "reaction-dialog")))
    b.find_element(By.CSS_SELECTOR, '#reaction-choices button[aria-label="React with 👍"]').click()
    chip_sel = '.reaction[data-emoji="👍"]'
    wait(a).until(lambda d: message_li(d, "final text").find_elements(By.CSS_SELECTOR, chip_sel))
    chip = message_li(a, "final text").find_element(By.CSS_SELECTOR, chip_sel)
    assert chip.text == "👍 1" and chip.get_attribute("title") == "Bob"
    assert chip.get_attribute("aria-pressed") == "false"
    chip.click()
    wait(b).until(lambda d: message_li(d, "final text").find_element(
        By.CSS_SELECTOR, chip_sel).text == "👍 2")
    assert message_li(b, "final text").find_element(By.CSS_SELECTOR, chip_sel).get_attribute(
        "title") == "You, Alice"
    finish(servers, a, page_url, "messages-actions-alice.png")
    finish(servers, b, page_url, "messages-actions-bob.png")


def test_history_scroll_divider_and_jump(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    for i in range(70):
        say(servers, alice, conv, "old %d" % i)
    for i in range(5):
        say(servers, bob, conv, "unread %d" % i)
    a = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
    wait_connected(a)
    wait_for_message(a, "unread 4")
    assert len(message_texts(a)) == 50
    # The divider sits right before Bob's first unread message.
    divider_next = a.execute_script(
        "const d = document.querySelector('#messages .unread-divider');"
        "return d && d.nextElementSibling.querySelector('.message-text').textContent;")
    assert divider_next == "unread 0"

    # Scrolling to the top loads the older page and keeps the view in place: the message
    # that was at the top stays where it was, with the older page above it.
    top_text = message_texts(a)[0][1]
    where = ("const s = document.getElementById('message-scroller');"
             "const li = [...document.querySelectorAll('#messages .message')]"
             ".find(l => l.querySelector('.message-text').textContent === arguments[0]);"
             "return [li.getBoundingClientRect().top - s.getBoundingClientRect().top, s.scrollTop];")
    a.execute_script("document.getElementById('message-scroller').scrollTop = 0;")
    before, _ = a.execute_script(where, top_text)
    wait(a).until(lambda d: len(message_texts(d)) == 75)
    assert [t for _, t in message_texts(a)][:2] == ["old 0", "old 1"]
    after, scroll_top = a.execute_script(where, top_text)
    assert scroll_top > 500 and abs(after - before) < 40, (before, after, scroll_top)
    assert a.find_element(By.ID, "history-status").text == "Beginning of the conversation"

    # Away from the bottom, a new message does not pull the view down; the button does.
    jump = a.find_element(By.ID, "jump-latest")
    wait(a).until(lambda d: jump.is_displayed())
    say(servers, bob, conv, "newest")
    wait_for_message(a, "newest")
    assert jump.is_displayed()
    jump.click()
    wait(a).until(lambda d: not jump.is_displayed())
    assert a.execute_script(
        "const s = document.getElementById('message-scroller');"
        "return s.scrollHeight - s.scrollTop - s.clientHeight < 80;")
    finish(servers, a, page_url, "messages-history.png")


def test_failed_send_shows_retry_and_stores_once(servers, page_url, make_user, pool):
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool)
    a.execute_cdp_cmd("Network.enable", {})
    a.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/chat/conversations/%d/messages/" % conv]})
    type_and_enter(a, "flaky network")
    retry = wait(a).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#messages .message.failed .retry")))
    assert retry.text == "Not sent. Retry"
    assert a.find_element(By.CSS_SELECTOR, "#messages .message.failed .ticks").get_attribute(
        "data-state") == "failed"
    a.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    retry.click()
    wait_for_message(a, "flaky network")
    wait_for_message(b, "flaky network")
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["flaky network"]
    assert a.find_elements(By.CSS_SELECTOR, "#messages .message.pending") == []
    finish(servers, a, page_url, "messages-retry.png")


def test_offline_queue_sent_on_reconnect(servers, page_url, make_user, pool):
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool)
    servers.stop_proc("chat-push")
    try:
        wait(a).until(lambda d: status_state(d) == "reconnecting")
        type_and_enter(a, "queued one")
        type_and_enter(a, "queued two")
        pending = a.find_elements(By.CSS_SELECTOR, "#messages .message.pending")
        assert [p.find_element(By.CSS_SELECTOR, ".message-text").text for p in pending] == [
            "queued one", "queued two"]
        wait(a).until(EC.text_to_be_present_in_element((By.ID, "connection-status"), "2 waiting to send"))
        assert a.execute_script("return JSON.parse(localStorage.getItem(arguments[0])).length",
                                "chat-outbox-%d" % alice["id"]) == 2
        # Nothing reached the server while the socket was down.
        assert rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"] == []
        finish(servers, a, page_url, "messages-offline-queued.png")
    finally:
        servers.restart_push()
    wait_connected(a, 60)
    wait_for_message(a, "queued two")
    wait_for_message(b, "queued two")
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert [m["text"] for m in stored] == ["queued one", "queued two"]
    assert [t for _, t in message_texts(b)] == ["queued one", "queued two"]
    assert a.execute_script("return JSON.parse(localStorage.getItem(arguments[0])).length",
                            "chat-outbox-%d" % alice["id"]) == 0
    finish(servers, a, page_url, "messages-offline-sent.png")


DROP_JS = """
const [name, type, b64, size, kind] = arguments;
const bytes = b64 ? Uint8Array.from(atob(b64), c => c.charCodeAt(0)) : new Uint8Array(size);
const file = new File([bytes], name, {type});
const dt = new DataTransfer();
dt.items.add(file);
if (kind === 'drop') {
  const pane = document.getElementById('conversation-pane');
  pane.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
  pane.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
} else {
  document.getElementById('compose-text').dispatchEvent(
    new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
}
"""


def test_attachments_picker_drop_paste_and_limit(servers, page_url, make_user, pool, tmp_path):
    alice, bob, conv, a, b = two_users(servers, page_url, make_user, pool)
    hint = a.find_element(By.ID, "attach-hint")
    assert "up to 8 MiB each" in hint.text  # the limit, before any upload

    # Picker: an image.
    png = Path(tmp_path) / "dot.png"
    png.write_bytes(PNG)
    a.find_element(By.ID, "attach-input").send_keys(str(png))
    wait(a).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload-tray .upload.done"))
    assert a.find_element(By.CSS_SELECTOR, "#upload-tray progress").get_attribute("value") == "1"
    # Drag-and-drop: a text file; paste: another one.
    a.execute_script(DROP_JS, "notes.txt", "text/plain", base64.b64encode(b"hello\n").decode(), 0, "drop")
    a.execute_script(DROP_JS, "pasted.txt", "text/plain", base64.b64encode(b"pasted\n").decode(), 0, "paste")
    wait(a).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upload-tray .upload.done")) == 3)
    # Too large: refused before any upload, with the limit in the message.
    a.execute_script(DROP_JS, "big.bin", "application/octet-stream", "", 8 * 1024 * 1024 + 1, "drop")
    big = wait(a).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#upload-tray .upload.failed .error")))
    assert big.text == "Too large: the limit is 8 MiB."
    big.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, ".upload-remove").click()
    type_and_enter(a, "files")
    wait_for_message(b, "files")

    li = message_li(b, "files")
    thumb = li.find_element(By.CSS_SELECTOR, "img.thumb")
    wait(b).until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb) == 2)
    links = {e.text: e.get_attribute("download") for e in li.find_elements(By.CSS_SELECTOR, ".file-link")}
    assert links == {"notes.txt": "notes.txt", "pasted.txt": "pasted.txt"}
    li.find_element(By.CSS_SELECTOR, ".thumb-button").click()
    viewer = wait(b).until(EC.visibility_of_element_located((By.ID, "image-viewer")))
    assert b.find_element(By.ID, "image-viewer-img").get_attribute("src") == thumb.get_attribute("src")
    finish(servers, b, page_url, "messages-attachments-viewer.png")
    viewer.find_element(By.ID, "image-viewer-close").click()
    stored = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % conv)["results"]
    assert sorted(x["filename"] for x in stored[0]["attachments"]) == ["dot.png", "notes.txt", "pasted.txt"]
    finish(servers, a, page_url, "messages-attachments-sender.png")
