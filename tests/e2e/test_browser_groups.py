"""Groups, typing, presence, read state and notifications in Chromium with three users in
three browsers (reused across the module; each test registers its own users): creating a
group from the dialog with user search as you type, renaming, adding, removing and
leaving with every open window following live; "X is typing…" and "X and Y are
typing…"; online dots and "last seen"; the conversation-list search; desktop
notifications and the unread count in the title while the tab is hidden."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (click_option, conversation_row, direct_chat, finish, group_chat,  # noqa: F401
                             login_with_cookie, open_conversation, pool, rest, say, wait,
                             wait_connected, wait_for_message)


def login_all(base, pool, users, path="/chat/"):
    drivers = [login_with_cookie(pool.get(i), base, u, path) for i, u in enumerate(users)]
    for d in drivers:
        wait_connected(d)
    return drivers


def list_names(driver):
    # One script reads every name at once: the list is re-rendered live, so elements
    # found one call earlier can be stale by the time their text is read.
    return driver.execute_script(
        "return Array.from(document.querySelectorAll("
        "'#conversation-list .conversation:not([hidden]) .conversation-name'))"
        ".map(e => e.innerText.trim());")


def test_group_create_rename_members_and_leave(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    a, b, c = login_all(page_url, pool, [alice, bob, carol])

    # Alice creates a group: search as you type, pick two people, name it.
    a.find_element(By.ID, "new-chat-open").click()
    for user in (bob, carol):
        a.find_element(By.ID, "user-search").send_keys(user["username"][:-2])
        click_option(a, '#user-results .user-option[data-id="%d"]' % user["id"])
    assert [e.text.split("\n")[0].rstrip("×") for e in a.find_elements(By.CSS_SELECTOR, "#chosen-users .chip")] == ["Bob", "Carol"]
    assert a.find_element(By.ID, "group-name").is_displayed()
    a.find_element(By.ID, "group-name").send_keys("Trip")
    a.find_element(By.ID, "new-chat-start").click()
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "conversation-title"), "Trip"))
    conv = int(a.find_element(By.ID, "conversation-pane").get_attribute("data-id"))
    assert a.find_element(By.ID, "conversation-subtitle").text.startswith("3 members")
    for d in (b, c):
        wait(d).until(lambda x: "Trip" in list_names(x))
    open_conversation(b, conv)
    open_conversation(c, conv)

    # Rename: every window follows.
    a.find_element(By.ID, "details-button").click()
    rename = a.find_element(By.ID, "rename-input")
    rename.clear()
    rename.send_keys("Trip 2026")
    a.find_element(By.ID, "rename-button").click()
    for d in (a, b, c):
        wait(d).until(EC.text_to_be_present_in_element((By.ID, "conversation-title"), "Trip 2026"))
        wait(d).until(lambda x: "Trip 2026" in list_names(x))

    # Remove Carol (Alice created the group, so she is its admin): Carol's window leaves.
    click_option(a, '#member-list .member[data-id="%d"] .remove-member' % carol["id"])
    wait(c).until(lambda x: "Trip 2026" not in list_names(x))
    wait(c).until(lambda x: x.find_elements(By.ID, "no-conversation"))
    wait(b).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "2 members"))
    # Bob is a plain member (Alice, the creator, is the admin): he is offered no Remove,
    # role change or rename (test_browser_group_roles.py covers the admin's side).
    b.find_element(By.ID, "details-button").click()
    wait(b).until(lambda x: x.find_elements(
        By.CSS_SELECTOR, '#member-list .member[data-id="%d"] .role-badge' % alice["id"]))
    assert b.find_elements(By.CSS_SELECTOR, "#member-list .remove-member, #member-list .role-button") == []
    assert not b.find_element(By.ID, "rename-row").is_displayed()
    b.find_element(By.ID, "details-close").click()

    # Add her back from the dialog's search: she sees the group again, with its history.
    say(servers, bob, conv, "while carol was out")
    a.find_element(By.ID, "add-member-input").send_keys(carol["username"])
    click_option(a, '#add-member-results .user-option[data-id="%d"]' % carol["id"])
    wait(c).until(lambda x: "Trip 2026" in list_names(x))
    open_conversation(c, conv)
    wait_for_message(c, "while carol was out")
    wait(b).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "3 members"))
    a.find_element(By.ID, "details-close").click()

    # Bob leaves: gone from his list, and the others see two members.
    b.find_element(By.ID, "details-button").click()
    b.find_element(By.ID, "leave-button").click()
    wait(b).until(lambda x: "Trip 2026" not in list_names(x))
    assert b.current_url.endswith("/chat/")
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "2 members"))
    wait(c).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "2 members"))
    finish(servers, a, page_url, "groups-alice.png")
    finish(servers, b, page_url, "groups-bob-left.png")
    finish(servers, c, page_url, "groups-carol.png")


def test_typing_indicators(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    conv = group_chat(servers, alice, [bob, carol], "Typists")
    a, b, c = login_all(page_url, pool, [alice, bob, carol], "/chat/%d/" % conv)

    a.find_element(By.ID, "compose-text").send_keys("hel")
    wait(c).until(EC.text_to_be_present_in_element((By.ID, "typing-indicator"), "Alice is typing…"))
    b.find_element(By.ID, "compose-text").send_keys("wor")
    wait(c).until(EC.text_to_be_present_in_element((By.ID, "typing-indicator"), "Alice and Bob are typing…"))
    # The typer's own window shows the other typist only.
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "typing-indicator"), "Bob is typing…"))
    finish(servers, c, page_url, "typing-two.png")
    # Sending stops it; blurring the box stops it.
    a.find_element(By.ID, "compose-text").send_keys("lo\n")
    wait_for_message(c, "hello")
    b.find_element(By.ID, "conversation-title").click()
    b.execute_script("document.getElementById('compose-text').blur()")
    wait(c).until(lambda d: d.find_element(By.ID, "typing-indicator").text == "")
    assert c.find_element(By.ID, "conversation-subtitle").text.startswith("3 members")
    finish(servers, c, page_url, "typing-stopped.png")


def test_presence_dots_and_last_seen(servers, page_url, make_user, pool):
    # Offline is announced after push_presence_offline_delay_ms: short for this test.
    servers.stop_proc("chat-push")
    servers.spawn("chat-push", ["chat-push"], extra_env={"CHAT_PUSH_PRESENCE_OFFLINE_DELAY_MS": "300"},
                  ready=servers._push_ready)
    try:
        alice = make_user("alice", display_name="Alice")
        bob = make_user("bob", display_name="Bob")
        conv = direct_chat(servers, alice, bob)
        a = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
        wait_connected(a)
        dot = conversation_row(a, conv).find_element(By.CSS_SELECTOR, ".presence-dot")
        assert "online" not in dot.get_attribute("class")
        assert a.find_element(By.ID, "conversation-subtitle").text in ("offline", "")
        b = login_with_cookie(pool.get(1), page_url, bob, "/chat/")
        wait_connected(b)
        wait(a).until(lambda d: "online" in dot.get_attribute("class"))
        wait(a).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "online"))
        finish(servers, a, page_url, "presence-online.png")
        b.get(page_url + "/static/favicon.svg")  # Bob closes the page
        wait(a).until(lambda d: "online" not in dot.get_attribute("class"))
        wait(a).until(EC.text_to_be_present_in_element((By.ID, "conversation-subtitle"), "last seen today at"))
        finish(servers, a, page_url, "presence-last-seen.png")
    finally:
        servers.restart_push()


def test_list_search_order_and_unread_badges(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob Builder")
    carol = make_user("carol", display_name="Carol")
    with_bob = direct_chat(servers, alice, bob)
    with_carol = direct_chat(servers, alice, carol)
    a = login_all(page_url, pool, [alice])[0]
    assert list_names(a) == ["Carol", "Bob Builder"]
    say(servers, bob, with_bob, "ping from bob")
    wait(a).until(lambda d: list_names(d) == ["Bob Builder", "Carol"])  # sorted by activity, live
    badge = conversation_row(a, with_bob).find_element(By.CSS_SELECTOR, ".unread-badge")
    wait(a).until(lambda d: badge.text == "1")
    assert a.title.startswith("(1) ")
    a.find_element(By.ID, "conversation-filter").send_keys("build")
    assert list_names(a) == ["Bob Builder"]
    a.find_element(By.ID, "conversation-filter").clear()
    a.find_element(By.ID, "conversation-filter").send_keys("zzz")
    assert list_names(a) == []
    a.find_element(By.ID, "conversation-filter").clear()
    a.find_element(By.ID, "conversation-filter").send_keys(" ")
    wait(a).until(lambda d: list_names(d) == ["Bob Builder", "Carol"])
    assert with_carol
    # Opening it reads it: the badge goes, and Bob's page would get the receipt.
    open_conversation(a, with_bob)
    wait(a).until(lambda d: not badge.is_displayed())
    assert not a.title.startswith("(")
    markers = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/" % with_bob)["results"]
    status = rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/%d/status/" % (with_bob, markers[-1]["id"]))
    wait(a).until(lambda d: rest(servers, bob, "GET", "/api/chat/conversations/%d/messages/%d/status/" % (
        with_bob, markers[-1]["id"]))["results"][0]["status"] == "read")
    assert status["results"][0]["user_id"] == alice["id"]
    finish(servers, a, page_url, "list-search.png")


NOTIFY_STUB = """
window.__notes = [];
class FakeNotification {
  constructor(title, opts) { window.__notes.push({title, body: opts.body, page: document.title}); }
}
FakeNotification.permission = 'granted';
FakeNotification.requestPermission = async () => 'granted';
window.Notification = FakeNotification;
"""


def test_notification_and_title_count_while_hidden(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    a = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % conv)
    wait_connected(a)
    # Permission is asked from a button (a user gesture), once.
    button = a.find_element(By.ID, "notify-button")
    assert button.is_displayed()
    a.execute_script(NOTIFY_STUB)
    button.click()
    wait(a).until(lambda d: not button.is_displayed())
    # Another tab in front: this one is hidden.
    first = a.current_window_handle
    a.switch_to.new_window("tab")
    a.get(page_url + "/static/favicon.svg")
    msg = say(servers, bob, conv, "are you there?")
    # The hidden page got it: it reports delivery (not reading) to the server.
    status = "/api/chat/conversations/%d/messages/%d/status/" % (conv, msg["id"])
    wait(a).until(lambda d: rest(servers, bob, "GET", status)["results"][0]["status"] == "delivered")
    a.switch_to.window(first)
    notes = a.execute_script("return window.__notes")
    wait_for_message(a, "are you there?")
    assert notes == [{"title": "Bob", "body": "Bob: are you there?", "page": "(1) Bob · Chat"}]
    # Back in front: read, and the count leaves the title.
    wait(a).until(lambda d: d.title == "Bob · Chat")
    wait(a).until(lambda d: rest(servers, bob, "GET", status)["results"][0]["status"] == "read")
    finish(servers, a, page_url, "notification.png")
    for handle in a.window_handles:
        if handle != first:
            a.switch_to.window(handle)
            a.close()
    a.switch_to.window(first)
