"""Group roles in the page (Chromium, three users in three browsers): the admin badge in
the members list; an admin makes a member admin and that member's window follows live
(badge, rename, role and remove actions, Delete on others' messages); the new admin
deletes another member's message from its actions and everyone sees the tombstone; the
first admin takes the role back and the actions go away again; removing from the list;
a plain member is offered none of it."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (click_option, finish, group_chat, login_with_cookie,  # noqa: F401
                             message_texts, pool, rest, say, wait, wait_connected,
                             wait_for_message)


def member(driver, user, css=""):
    return '#member-list .member[data-id="%d"] %s' % (user["id"], css)


def badges(driver):
    """The ids of the members shown with the admin badge in the details dialog."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#member-list .member'))"
        ".filter(li => li.querySelector('.role-badge')).map(li => Number(li.dataset.id));")


def moderate_buttons(driver, msg):
    """How many moderation Delete buttons the actions of message msg offer (read in one
    script: live events re-render the message under the test)."""
    return driver.execute_script(
        "const li = document.querySelector('#messages .message[data-id=\"' + arguments[0] + '\"]');"
        "return li ? li.querySelectorAll('.moderate-delete').length : -1;", msg["id"])


def text_of(driver, css):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


def test_admin_promotes_moderates_and_demotes(servers, page_url, make_user, pool):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol")
    conv = group_chat(servers, alice, [bob, carol], "Roles")
    rude = say(servers, carol, conv, "carol says something rude")
    kept = say(servers, alice, conv, "alice keeps order")
    path = "/chat/%d/" % conv
    a, b, c = [login_with_cookie(pool.get(i), page_url, u, path)
               for i, u in enumerate((alice, bob, carol))]
    for d in (a, b, c):
        wait_connected(d)
        wait_for_message(d, "alice keeps order")

    # Bob, a member: Alice's badge, no actions, no Delete on others' messages.
    b.find_element(By.ID, "details-button").click()
    wait(b).until(lambda x: badges(x) == [alice["id"]])
    assert b.find_elements(By.CSS_SELECTOR, "#member-list .role-button, #member-list .remove-member") == []
    assert not b.find_element(By.ID, "rename-row").is_displayed()
    b.find_element(By.ID, "details-close").click()
    assert moderate_buttons(b, rude) == 0

    # Alice, the admin, makes Bob an admin; Bob's open dialog follows live.
    b.find_element(By.ID, "details-button").click()
    a.find_element(By.ID, "details-button").click()
    assert a.find_element(By.ID, "rename-row").is_displayed()
    click_option(a, member(a, bob, ".role-button"))
    wait(b).until(lambda x: sorted(badges(x)) == sorted([alice["id"], bob["id"]]))
    wait(a).until(lambda x: text_of(x, member(x, bob, ".role-button")) == "Remove admin")
    wait(b).until(EC.visibility_of_element_located((By.ID, "rename-row")))
    assert b.find_elements(By.CSS_SELECTOR, member(b, carol, ".remove-member"))
    b.find_element(By.ID, "details-close").click()

    # Bob now deletes Carol's message from its actions (a second click confirms).
    wait(b).until(lambda x: moderate_buttons(x, rude) == 1)
    assert moderate_buttons(b, kept) == 1
    here = '#messages .message[data-id="%d"] ' % rude["id"]
    click_option(b, here + ".more-button")
    click_option(b, here + ".moderate-delete")
    wait(b).until(lambda x: text_of(x, here + ".moderate-delete") == "Confirm delete")
    click_option(b, here + ".moderate-delete")
    for d in (a, b, c):
        wait(d).until(lambda x: [t for _, t in message_texts(x)] == ["Message deleted",
                                                                     "alice keeps order"])
    r = rest(servers, alice, "GET", "/api/chat/conversations/%d/messages/" % conv)
    assert [m["deleted"] for m in r["results"]] == [True, False]

    # Alice takes the role back: Bob's Delete on others' messages goes away live.
    click_option(a, member(a, bob, ".role-button"))
    wait(a).until(lambda x: badges(x) == [alice["id"]])
    wait(b).until(lambda x: moderate_buttons(x, kept) == 0)
    # And removes Carol from the list: Carol's window loses the conversation.
    click_option(a, member(a, carol, ".remove-member"))
    wait(c).until(lambda x: x.find_elements(By.ID, "no-conversation"))
    wait(a).until(lambda x: not x.find_elements(By.CSS_SELECTOR, member(x, carol)))
    parts = rest(servers, alice, "GET", "/api/chat/conversations/%d/participants/" % conv)
    assert [(p["id"], p["role"]) for p in parts["results"]] == [(alice["id"], "admin"),
                                                                (bob["id"], "member")]
    finish(servers, a, page_url, "roles-alice.png")
    finish(servers, b, page_url, "roles-bob.png")
