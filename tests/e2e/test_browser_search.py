"""Message search in the page (docs/client.md, "Search"), in each of the three languages:
the sidebar's search box over GET /api/chat/search/, the conversation and sender
filters, the query's words highlighted as <mark> elements (built as DOM nodes: a
message with markup shows as text), a query the server refuses shows its localized
detail, and a result opens its conversation at that message (/chat/<id>/?around=) even
when it is far back in the history, with the newer messages up to the latest loaded
after it. Without JavaScript, /chat/<id>/?around=<message> renders that part of the
history. One screenshot per language."""

import os
import re
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_helpers import (direct_chat, finish, group_chat, login_with_cookie,  # noqa: F401
                             pool, say, three_people, wait, wait_connected)
from helpers import auth_headers, catalog

LOCALES = ["en", "pt-BR", "es"]


def rendered_texts(html):
    """The texts of the messages the server rendered (not the bootstrap JSON)."""
    return re.findall(r'<div class="message-text">([^<]*)</div>', html)


def word():
    """A word no other message has: letters only, so FULLTEXT indexes it."""
    return "Zq" + "".join(chr(ord("a") + b % 26) for b in os.urandom(8))


def results(d):
    """(message id, text content, [marked texts]) of every result shown."""
    return d.execute_script(
        "return [...document.querySelectorAll('#search-results .search-result')].map(li => ["
        "Number(li.dataset.id), li.querySelector('.search-result-text').textContent,"
        "[...li.querySelectorAll('mark')].map(m => m.textContent)]);")


def search_for(d, text):
    box = d.find_element(By.ID, "message-search")
    box.clear()
    box.send_keys(text + "\n")  # Enter submits the search form


def wait_status(d, text):
    wait(d).until(lambda x: x.find_element(By.ID, "search-status").text == text,
                  "search status never became %r" % text)


@pytest.mark.parametrize("locale", LOCALES)
def test_search_filters_highlights_and_opens_at_the_hit(servers, make_user, pool, locale):
    base = servers.httpd_url
    cat = catalog(locale)
    alice, bob, carol = three_people(servers, make_user, "srch", locale)
    w = word()
    direct = direct_chat(servers, alice, bob)
    group = group_chat(servers, alice, [bob, carol], "Planning")
    # The hit is far back: 60 messages come after it, more than the page's first 50.
    hit = say(servers, bob, direct, "the <b>%s</b> plan & more" % w)
    for i in range(60):
        say(servers, bob if i % 2 else alice, direct, "filler %d" % i)
    latest = say(servers, bob, direct, "the latest one")
    other = say(servers, carol, group, "%s in the group, %s again" % (w.lower(), w.upper()))

    d = login_with_cookie(pool.get(0), base, alice)
    wait_connected(d)
    assert d.find_element(By.ID, "message-search").get_attribute("placeholder") == cat["search.placeholder"]
    search_for(d, w)
    wait_status(d, cat["search.results.other"].replace("{count}", "2"))
    shown = results(d)
    assert [r[0] for r in shown] == [other["id"], hit["id"]]
    # Marks are the matched words as written; the markup in the message is text.
    assert shown[0][2] == [w.lower(), w.upper()]
    assert shown[1] == [hit["id"], "the <b>%s</b> plan & more" % w, [w]]
    assert d.execute_script("return document.querySelectorAll('#search-results b').length") == 0

    # Filters: one conversation, then one sender across all.
    Select(d.find_element(By.ID, "search-conversation")).select_by_value(str(direct))
    wait(d).until(lambda x: [r[0] for r in results(x)] == [hit["id"]])
    wait_status(d, cat["search.results.one"].replace("{count}", "1"))
    Select(d.find_element(By.ID, "search-conversation")).select_by_value("")
    wait(d).until(lambda x: len(results(x)) == 2)
    senders = Select(d.find_element(By.ID, "search-sender"))
    assert {o.text for o in senders.options} >= {cat["search.anyone"], cat["search.me"], "Bob", "Carol"}
    senders.select_by_visible_text("Carol")
    wait(d).until(lambda x: [r[0] for r in results(x)] == [other["id"]])
    senders.select_by_visible_text(cat["search.anyone"])
    wait(d).until(lambda x: len(results(x)) == 2)

    # A query the server refuses: its detail in this language.
    search_for(d, "!!!")
    wait_status(d, cat["error.search.q_no_word"])
    search_for(d, w)
    wait(d).until(lambda x: len(results(x)) == 2)

    # Opening the old hit: its conversation at that message, the newer ones loaded too.
    d.find_element(By.CSS_SELECTOR, '.search-result[data-id="%d"] a' % hit["id"]).click()
    wait(d).until(lambda x: x.execute_script(
        "return document.getElementById('conversation-pane').dataset.id") == str(direct))
    wait(d).until(lambda x: x.find_elements(By.CSS_SELECTOR, '#messages .message[data-id="%d"]' % hit["id"]))
    assert "?around=%d" % hit["id"] in d.current_url
    assert d.find_elements(By.CSS_SELECTOR, '#messages .message[data-id="%d"]' % latest["id"])
    ids = d.execute_script(
        "return [...document.querySelectorAll('#messages .message[data-id]')].map(li => Number(li.dataset.id));")
    assert ids == sorted(ids) and ids[-1] == latest["id"] and len(ids) >= 62
    in_view = d.execute_script("""
        const s = document.getElementById('message-scroller').getBoundingClientRect();
        const m = document.getElementById('m' + arguments[0]).getBoundingClientRect();
        return m.top >= s.top && m.bottom <= s.bottom;""", hit["id"])
    assert in_view
    finish(servers, d, base, "search-%s.png" % locale)


def test_around_without_javascript(servers, api_url, make_user):
    """The no-JavaScript page centred on a message: that message marked as the target,
    older and latest links, and a message id of another conversation falls back to the
    latest page rather than leaking or failing."""
    alice, bob = make_user("srchnojs"), make_user("srchnojs")
    conv = direct_chat(servers, alice, bob)
    first = say(servers, bob, conv, "first " + uuid.uuid4().hex)
    for i in range(80):
        say(servers, alice, conv, "more %d" % i)
    middle = say(servers, bob, conv, "the middle one")
    for i in range(80):
        say(servers, alice, conv, "after %d" % i)
    r = requests.get(api_url + "/chat/%d/?around=%d" % (conv, middle["id"]),
                     headers=auth_headers(alice), timeout=30)
    assert r.status_code == 200
    assert 'class="message target" id="m%d"' % middle["id"] in r.text
    assert 'id="older-link"' in r.text and 'id="newer-link" href="/chat/%d/"' % conv in r.text
    shown = rendered_texts(r.text)
    assert len(shown) == 50 and "the middle one" in shown
    assert shown[0] == "more 56" and shown[-1] == "after 24", shown
    # Another conversation's message: the latest page, no target.
    elsewhere = direct_chat(servers, alice, make_user("srchnojs"))
    r = requests.get(api_url + "/chat/%d/?around=%d" % (elsewhere, middle["id"]),
                     headers=auth_headers(alice), timeout=30)
    assert r.status_code == 200 and " target" not in r.text and rendered_texts(r.text) == []
    # An outsider gets the 404 page, as for the conversation itself.
    r = requests.get(api_url + "/chat/%d/?around=%d" % (conv, middle["id"]),
                     headers=auth_headers(make_user("srchout")), timeout=30)
    assert r.status_code == 404 and "the middle one" not in r.text
    r = requests.get(api_url + "/chat/%d/?around=%d&before=%d" % (conv, middle["id"], first["id"]),
                     headers=auth_headers(alice), timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "bad_request"


def test_more_results_pages_on(servers, make_user, pool):
    """20 results at a time; "More results" asks for the ones before the last shown,
    with the same filters, until there are none."""
    cat = catalog("en")
    alice, bob, _ = three_people(servers, make_user, "srchmore", "en")
    conv = direct_chat(servers, alice, bob)
    w = word()
    sent = [say(servers, bob, conv, "%s number %d" % (w, i))["id"] for i in range(25)]
    d = login_with_cookie(pool.get(0), servers.httpd_url, alice)
    wait_connected(d)
    search_for(d, w)
    wait_status(d, cat["search.results_more.other"].replace("{count}", "20"))
    assert [r[0] for r in results(d)] == sent[::-1][:20]
    more = d.find_element(By.ID, "search-more")
    assert more.text == cat["search.more"]
    more.click()
    wait_status(d, cat["search.results.other"].replace("{count}", "25"))
    assert [r[0] for r in results(d)] == sent[::-1]
    assert not more.is_displayed()
    # Closing the search empties it and shows the conversations again.
    d.find_element(By.ID, "search-close").click()
    assert not d.find_element(By.ID, "search-panel").is_displayed()
    assert d.find_element(By.ID, "message-search").get_attribute("value") == ""
    finish(servers, d, servers.httpd_url, "search-more.png")
