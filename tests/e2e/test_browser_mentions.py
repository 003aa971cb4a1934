"""Mentions and notification levels in the page (Chromium), in each of the three
languages, each through another of the page's front ends: mentions of me highlighted and
others' mentions styled; @-completion while typing (keyboard: arrows, Enter) that sends a
real mention; the notification-level dialog, whose change reaches the user's other
window live; the title and the badges honouring the level and the mute (a mentions-only
group counts only mentions, a muted one nothing); browser notifications only for what
the level lets through (the plain message that must not notify is followed by a mention
that must: the notification list holds the second only)."""

import json
import pathlib

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from browser_helpers import (finish, group_chat, login_with_cookie, open_conversation,  # noqa: F401
                             pool, rest, say, wait, wait_connected, wait_for_message)
from conftest import _front_end
from test_browser_groups import NOTIFY_STUB

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Each language once, each through another front end (conftest.PAGE_FRONT_ENDS).
CASES = [("en", "httpd"), ("pt-BR", "nginx_tls"), ("es", "apache_tls")]


def catalog(locale):
    return json.loads((ROOT / "i18n" / locale / "mentions.json").read_text())


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def mention_spans(driver, msg_id):
    """[(text, is mine)] of the mentions drawn in message msg_id."""
    return js(driver, "const li = document.querySelector('#m' + arguments[0]);"
              "return li ? [...li.querySelectorAll('.mention')].map("
              "s => [s.textContent, s.classList.contains('mention-me')]) : null;", msg_id)


def suggestions(driver):
    """[(handle, label, selected)] of the open suggestion list, [] when closed."""
    return js(driver, "const l = document.getElementById('mention-suggestions');"
              "return !l || l.hidden ? [] : [...l.querySelectorAll('.mention-option')].map(o => ["
              "o.querySelector('.mention-handle').textContent,"
              "o.querySelector('.mention-label').textContent, o.getAttribute('aria-selected') === 'true']);")


def bell_level(driver):
    return js(driver, "const b = document.getElementById('notify-level-button');"
              "return b ? b.dataset.level : null;")


def row_badges(driver, conv_id):
    return js(driver, "const r = document.querySelector('.conversation[data-id=\"' + arguments[0] + '\"]');"
              "const m = r.querySelector('.mention-badge'), u = r.querySelector('.unread-badge');"
              "return [m.hidden ? '' : m.textContent, u.hidden ? '' : u.textContent,"
              "r.classList.contains('muted')];", conv_id)


@pytest.mark.parametrize("locale,front", CASES, ids=[c[0] for c in CASES])
def test_mentions_levels_and_counts(servers, make_user, pool, locale, front):
    base = _front_end(servers, front)
    text = catalog(locale)
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    carol = make_user("carol", display_name="Carol Jones")
    rest(servers, alice, "PATCH", "/api/users/me/", json={"locale": locale})
    team = group_chat(servers, alice, [bob, carol], "Team")
    side = group_chat(servers, bob, [alice], "Side")
    a = login_with_cookie(pool.get(0), base, alice, "/chat/%d/" % team)
    wait_connected(a)
    assert a.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale

    # A mention of me is highlighted, one of someone else only styled.
    msg = say(servers, bob, team, "@%s look, @%s too" % (alice["username"], carol["username"]))
    wait(a).until(lambda d: mention_spans(d, msg["id"]) == [
        ["@" + alice["username"], True], ["@" + carol["username"], False]])
    assert "mentions-me" in a.find_element(By.ID, "m%d" % msg["id"]).get_attribute("class")

    # Completion: "@jo" finds Carol Jones by a word of her name; "@" offers everyone, and
    # the arrows move; Enter takes the choice (and does not send); Enter then sends.
    box = a.find_element(By.ID, "compose-text")
    box.send_keys("hi @jo")
    wait(a).until(lambda d: suggestions(d) == [["@" + carol["username"], "Carol Jones", True]])
    box.send_keys(Keys.ENTER)
    assert box.get_attribute("value") == "hi @%s " % carol["username"]
    assert suggestions(a) == []
    box.send_keys("and @")
    wait(a).until(lambda d: [s[0] for s in suggestions(d)] == sorted(
        ["@" + bob["username"], "@" + carol["username"]]) + ["@all", "@here"])
    assert suggestions(a)[2][1] == text["mentions.everyone"]
    box.send_keys(Keys.ARROW_UP, Keys.ARROW_UP)
    assert [s[2] for s in suggestions(a)] == [False, False, True, False]
    box.send_keys(Keys.ESCAPE)
    assert suggestions(a) == []
    box.send_keys(Keys.BACKSPACE, "@b", Keys.TAB, "!")
    box.send_keys(Keys.ENTER)
    sent_text = "hi @%s and @%s !" % (carol["username"], bob["username"])
    wait_for_message(a, sent_text)
    stored = rest(servers, alice, "GET", "/api/chat/conversations/%d/messages/" % team)["results"][-1]
    assert stored["text"] == sent_text
    assert [m["user_id"] for m in stored["mentions"]] == [carol["id"], bob["id"]]

    # The level dialog, in the page's language; a second window of mine follows live.
    other = login_with_cookie(pool.get(1), base, alice, "/chat/%d/" % team)
    wait_connected(other)
    wait(other).until(lambda d: bell_level(d) == "all")
    a.find_element(By.ID, "notify-level-button").click()
    dialog = wait(a).until(EC.visibility_of_element_located((By.ID, "notify-dialog")))
    assert dialog.find_element(By.ID, "notify-heading").text == text["mentions.notify_heading"]
    labels = [e.text for e in dialog.find_elements(By.CSS_SELECTOR, "fieldset label")]
    assert labels == [text["mentions.level_default"].replace("{level}", text["mentions.level_all"]),
                      text["mentions.level_all"], text["mentions.level_mentions"],
                      text["mentions.level_none"]]
    dialog.find_element(By.CSS_SELECTOR, 'input[value="mentions"]').click()
    dialog.find_element(By.ID, "notify-save").click()
    wait(a).until(EC.invisibility_of_element_located((By.ID, "notify-dialog")))
    assert bell_level(a) == "mentions"
    assert text["mentions.level_mentions"] in a.find_element(
        By.ID, "notify-level-button").get_attribute("aria-label")
    wait(other).until(lambda d: bell_level(d) == "mentions")
    got = rest(servers, alice, "GET", "/api/chat/conversations/%d/" % team)
    assert (got["notify_level"], got["notify_level_setting"]) == ("mentions", "mentions")

    # Counts: with "side" open, plain messages in the mentions-only team show a badge but
    # stay out of the title; a mention counts. "side" itself is at "all". (The other window
    # leaves "team" too, or it would read everything for both.)
    open_conversation(other, side)
    open_conversation(a, side)
    a.execute_script(NOTIFY_STUB)
    say(servers, bob, team, "plain one")
    say(servers, bob, team, "plain two")
    wait(a).until(lambda d: row_badges(d, team) == ["", "2", False])
    assert not a.title.startswith("(")
    say(servers, bob, team, "@%s a question" % alice["username"])
    wait(a).until(lambda d: row_badges(d, team) == ["@1", "3", False])
    assert a.title.startswith("(1) ")
    assert js(a, "return document.querySelector('.conversation[data-id=\"%d\"] .mention-badge')"
              ".getAttribute('aria-label')" % team) == text["mentions.badge_label.one"].replace("{count}", "1")

    # Notifications (the tab hidden behind another): the plain message in the
    # mentions-only group must not notify; the mention after it must. Then mute: nothing.
    first = a.current_window_handle
    a.switch_to.new_window("tab")
    a.get(base + "/static/favicon.svg")
    say(servers, bob, team, "plain three")
    urgent = say(servers, bob, team, "@%s urgent" % alice["username"])
    # The hidden page got both: it reports delivery of the last (not reading) to the server.
    status = "/api/chat/conversations/%d/messages/%d/status/" % (team, urgent["id"])
    wait(a).until(lambda d: {r["user_id"]: r["status"] for r in rest(
        servers, bob, "GET", status)["results"]}[alice["id"]] == "delivered")
    a.close()
    a.switch_to.window(first)
    notes = a.execute_script("return window.__notes")
    assert [n["body"] for n in notes] == ["Bob: @%s urgent" % alice["username"]]
    wait(a).until(lambda d: row_badges(d, team) == ["@2", "5", False])
    assert a.title.startswith("(2) ")
    # Muted from the dialog: the mute reaches the other window; a mention still shows its
    # badge on the row, which is marked muted, and the title leaves it out.
    open_conversation(a, team)
    a.find_element(By.ID, "notify-level-button").click()
    dialog = wait(a).until(EC.visibility_of_element_located((By.ID, "notify-dialog")))
    mute = dialog.find_element(By.ID, "notify-mute")
    mute.find_element(By.CSS_SELECTOR, 'option[value="8h"]').click()
    dialog.find_element(By.ID, "notify-save").click()
    wait(a).until(EC.invisibility_of_element_located((By.ID, "notify-dialog")))
    wait(other).until(lambda d: row_badges(d, team)[2])
    open_conversation(a, side)
    say(servers, bob, team, "@%s while muted" % alice["username"])
    wait(a).until(lambda d: row_badges(d, team)[0] == "@1" and row_badges(d, team)[2])
    assert not a.title.startswith("(")
    # The picture: the group open (mentions of me marked), the suggestions open.
    open_conversation(a, team)
    a.find_element(By.ID, "compose-text").send_keys("@")
    wait(a).until(lambda d: len(suggestions(d)) == 4)
    finish(servers, a, base, "mentions-%s.png" % locale)


def test_edits_and_deletes_correct_the_counts(servers, make_user, pool):
    """An edit that takes the mention of me away takes it off the badge and the title; a
    delete of the last unread message takes the unread count away too."""
    base = servers.httpd_url
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    team = group_chat(servers, alice, [bob], "Team")
    side = group_chat(servers, bob, [alice], "Side")
    a = login_with_cookie(pool.get(0), base, alice, "/chat/%d/" % side)
    wait_connected(a)
    msg = say(servers, bob, team, "@%s look" % alice["username"])
    wait(a).until(lambda d: row_badges(d, team) == ["@1", "1", False])
    rest(servers, bob, "PATCH", "/api/chat/conversations/%d/messages/%d/" % (team, msg["id"]),
         json={"text": "never mind"})
    wait(a).until(lambda d: row_badges(d, team) == ["", "1", False])
    assert a.title.startswith("(1) ")
    rest(servers, bob, "DELETE", "/api/chat/conversations/%d/messages/%d/" % (team, msg["id"]))
    wait(a).until(lambda d: row_badges(d, team) == ["", "", False])
    assert not a.title.startswith("(")
    finish(servers, a, base, "mentions-edit-counts.png")
