"""Blocking in Chromium (docs/API.md, "Blocking"): block from a conversation's Details,
the blocked-users dialog with unblock and the "hide their messages in groups" toggle,
another window of the blocker following live (block.changed), the notice in a direct
chat one blocked, and the clear errors the blocked user gets when they write anyway or
start the chat again."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (click_option, direct_chat, finish, group_chat, login_with_cookie,
                             open_conversation, pool, say, texts, type_and_enter,  # noqa: F401
                             wait, wait_connected, wait_for_message)


def hidden_flags(driver):
    """{text: hidden} of every confirmed message of the open conversation."""
    shown = texts(driver, "#messages .message[data-id]:not([hidden]) .message-text")
    return {t: t not in shown for t in texts(driver, "#messages .message[data-id] .message-text")}


def blocked_names(driver):
    return texts(driver, "#blocked-list .blocked-user .member-name")


def test_block_hide_and_unblock(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    team = group_chat(servers, carol, [alice, bob], "Team")
    dm = direct_chat(servers, bob, alice)
    say(servers, bob, team, "bob in the group")
    say(servers, carol, team, "carol in the group")
    a = login_with_cookie(pool.get(0), page_url, alice, "/chat/%d/" % team)
    a2 = login_with_cookie(pool.get(1), page_url, alice)
    b = login_with_cookie(pool.get(2), page_url, bob, "/chat/%d/" % dm)
    for d in (a, a2, b):
        wait_connected(d)
    wait_for_message(a, "bob in the group")

    # Alice blocks Bob from the group's Details.
    a.find_element(By.ID, "details-button").click()
    click_option(a, '#member-list .member[data-id="%d"] .block-user' % bob["id"])
    wait(a).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, '#member-list .member[data-id="%d"] .unblock-user' % bob["id"])))
    a.find_element(By.ID, "details-close").click()
    # Her other window learns it live: Bob is in its blocked list.
    a2.find_element(By.ID, "blocked-open").click()
    wait(a2).until(lambda d: blocked_names(d) == ["Bob"])
    a2.find_element(By.ID, "blocked-close").click()

    # Shared groups keep working; the toggle hides Bob's messages there, live ones too.
    assert hidden_flags(a) == {"bob in the group": False, "carol in the group": False}
    a.find_element(By.ID, "blocked-open").click()
    assert blocked_names(a) == ["Bob"]
    a.find_element(By.ID, "hide-blocked-toggle").click()
    a.find_element(By.ID, "blocked-close").click()
    wait(a).until(lambda d: hidden_flags(d) == {"bob in the group": True,
                                                "carol in the group": False})
    say(servers, bob, team, "bob again")
    say(servers, carol, team, "carol again")
    wait_for_message(a, "carol again")
    assert hidden_flags(a)["bob again"] is True
    assert not a.find_element(By.XPATH, "//li[@data-id][.//div[text()='bob again']]").is_displayed()

    # Bob writes to Alice anyway: the page says clearly why it was not sent.
    type_and_enter(b, "are you there?")
    wait(b).until(EC.text_to_be_present_in_element((By.ID, "compose-error"), "blocked you"))
    wait(b).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#messages .message.failed")))
    # Starting the chat again from "New chat" is refused with the same reason.
    b.find_element(By.ID, "new-chat-open").click()
    b.find_element(By.ID, "user-search").send_keys(alice["username"])
    click_option(b, '#user-results .user-option[data-id="%d"]' % alice["id"])
    b.find_element(By.ID, "new-chat-start").click()
    wait(b).until(EC.text_to_be_present_in_element((By.ID, "new-chat-error"), "blocked you"))
    b.find_element(By.ID, "new-chat-cancel").click()

    # Alice's direct chat with Bob says why she cannot write there, with an unblock button.
    open_conversation(a, dm)
    wait(a).until(EC.text_to_be_present_in_element((By.ID, "compose-notice"), "You blocked Bob"))
    finish(servers, a, page_url, "blocking-notice.png")

    # Unblock from the blocked-users dialog: Bob's group messages come back, the notice goes.
    a.find_element(By.ID, "blocked-open").click()
    click_option(a, '#blocked-list .blocked-user[data-id="%d"] .unblock-user' % bob["id"])
    wait(a).until(EC.visibility_of_element_located((By.ID, "no-blocked")))
    a.find_element(By.ID, "blocked-close").click()
    wait(a).until(lambda d: not d.find_element(By.ID, "compose-notice").is_displayed())
    type_and_enter(b, "and now?")
    wait_for_message(a, "and now?")
    open_conversation(a, team)
    wait(a).until(lambda d: hidden_flags(d).get("bob again") is False)
    finish(servers, a, page_url, "blocking-unblocked.png")
    finish(servers, b, page_url, "blocking-blocked-user.png")
