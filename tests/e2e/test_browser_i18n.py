"""The page in each of its three languages in Chromium (docs/API.md, "Languages"): the
login form follows the browser's Accept-Language (Chromium's --accept-lang) and shows a
refused login's detail in that language while the API's code stays the same; a user's
own setting renders the conversation page in it, with the script's strings (t(), plural
forms), numbers and dates (Intl) in that locale; choosing a language in Settings
re-renders the page in it. Expected texts come from the catalogs in i18n/, and dates
are compared with what Intl gives for each of the three locales, so the test proves
which one the page used. One screenshot per language (var/test/screenshots/)."""


import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from browser_helpers import (browsers, finish, group_chat, login_with_cookie,  # noqa: F401
                             pool, say, three_people, wait, wait_connected, wait_for_message)
from helpers import catalog

LOCALES = ["en", "pt-BR", "es"]


@pytest.mark.parametrize("locale", LOCALES)
def test_login_form_follows_the_browser_language(servers, make_user, browsers, locale):
    base = servers.httpd_url
    cat = catalog(locale)
    d = browsers(flags=["--accept-lang=" + locale, "--lang=" + locale])
    d.get(base + "/chat/")
    wait(d).until(EC.element_to_be_clickable((By.ID, "login-submit")))
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    assert d.find_element(By.ID, "login-title").text == cat["page.login_heading"]
    assert d.find_element(By.ID, "login-submit").text == cat["page.login_submit"]
    # The script's own strings: the register toggle.
    d.find_element(By.ID, "register-toggle").click()
    assert d.find_element(By.ID, "login-title").text == cat["page.register_heading"]
    assert d.find_element(By.ID, "register-toggle").text == cat["page.login_toggle"]
    d.find_element(By.ID, "register-toggle").click()
    # A refused login: the detail in this language, from the server.
    user = make_user("i18nlogin")
    d.find_element(By.ID, "login-username").send_keys(user["username"])
    d.find_element(By.ID, "login-password").send_keys("not-the-password")
    d.find_element(By.ID, "login-submit").click()
    err = d.find_element(By.ID, "login-error")
    wait(d).until(lambda x: err.is_displayed())
    assert err.text == cat["error.authentication_failed"]
    # The same answer as the page got it: the code is the stable one.
    body = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("/api/auth/login", {method: "POST", headers: {"Content-Type": "application/json"},
              body: JSON.stringify({username: arguments[0], password: "nope-nope"})})
          .then(r => r.json()).then(done, e => done(String(e)));""", user["username"])
    assert body["code"] == "authentication_failed"
    assert body["detail"] == cat["error.authentication_failed"]
    finish(servers, d, base, "i18n-login-%s.png" % locale)


# What the page shows for a message's time and its full date, per locale, as Intl
# formats them in the browser (the page's formatDate uses the same options).
FORMATS = """
    const iso = arguments[0];
    const out = {};
    for (const loc of ["en", "pt-BR", "es"]) {
      out[loc] = {
        time: new Intl.DateTimeFormat(loc, {hour: "2-digit", minute: "2-digit"}).format(new Date(iso)),
        full: new Intl.DateTimeFormat(loc, {dateStyle: "full", timeStyle: "short"}).format(new Date(iso)),
        size: new Intl.NumberFormat(loc, {maximumFractionDigits: 1}).format(1.5),
      };
    }
    return out;"""


@pytest.mark.parametrize("locale", LOCALES)
def test_conversation_page_in_the_users_language(servers, make_user, pool, locale):
    base = servers.httpd_url
    cat = catalog(locale)
    alice, bob, carol = three_people(servers, make_user, "i18n", locale)
    conv = group_chat(servers, alice, [bob, carol], "Trip")
    # An attachment of 1.5 MiB: its size is a decimal number in the locale's format.
    r = requests.post(servers.httpd_url + "/api/chat/attachments/?filename=plan.bin",
                      data=b"x" * (1024 * 1024 * 3 // 2), timeout=30,
                      headers={"Authorization": "Bearer " + bob["token"],
                               "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    msg = say(servers, bob, conv, "hello " + locale, attachment_ids=[r.json()["id"]])

    d = login_with_cookie(pool.get(0), base, alice, "/chat/%d/" % conv)
    wait_connected(d)
    wait_for_message(d, "hello " + locale)
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    # Server-rendered and script-rendered strings alike.
    assert d.find_element(By.ID, "logout-button").text == cat["page.log_out"]
    assert d.find_element(By.ID, "send-button").text == cat["page.send"]
    assert d.find_element(By.ID, "compose-text").get_attribute("placeholder") == cat["page.compose_placeholder"]
    assert d.find_element(By.ID, "connection-status").text == cat["page.status_connected"]
    assert d.find_element(By.CSS_SELECTOR, "#messages .day-separator").text == cat["page.today"]
    # A plural form with a number: 3 members.
    subtitle = d.find_element(By.ID, "conversation-subtitle").text
    assert subtitle.startswith(cat["page.member_count.other"].replace("{count}", "3")), subtitle
    # Dates and numbers through Intl in this locale, not another.
    formats = d.execute_script(FORMATS, msg["created_at"])
    li = d.find_element(By.CSS_SELECTOR, '#messages .message[data-id="%d"]' % msg["id"])
    time_el = li.find_element(By.CSS_SELECTOR, ".message-time")
    assert time_el.text == formats[locale]["time"]
    assert time_el.get_attribute("title") == formats[locale]["full"]
    assert len({f["full"] for f in formats.values()}) == 3, formats
    size = li.find_element(By.CSS_SELECTOR, ".file-size").text.strip()
    assert size == cat["page.size_mib"].replace("{size}", formats[locale]["size"]), size
    assert formats["en"]["size"] == "1.5" and formats["pt-BR"]["size"] == "1,5"
    # The message actions, built by the script.
    li.find_element(By.CSS_SELECTOR, ".more-button").click()
    assert li.find_element(By.CSS_SELECTOR, ".reply-button").text == cat["page.reply"]
    finish(servers, d, base, "i18n-conversation-%s.png" % locale)


def test_choosing_a_language_in_settings(servers, make_user, pool):
    base = servers.httpd_url
    alice = make_user("i18nset", display_name="Alice")
    d = login_with_cookie(pool.get(0), base, alice)
    wait_connected(d)
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    d.find_element(By.ID, "settings-open").click()
    select = Select(d.find_element(By.ID, "language-select"))
    assert select.first_selected_option.get_attribute("value") == ""
    select.select_by_value("es")
    # The page reloads in Spanish.
    wait(d).until(lambda x: x.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
    wait_connected_text = catalog("es")["page.status_connected"]
    wait(d).until(lambda x: x.find_element(By.ID, "connection-status").text == wait_connected_text)
    assert d.find_element(By.ID, "settings-open").text == catalog("es")["page.settings"]
    r = requests.get(base + "/api/auth/me", headers={"Authorization": "Bearer " + alice["token"]},
                     timeout=30)
    assert r.json()["locale"] == "es"
    # Back to automatic: the browser's language (en here) decides again.
    d.find_element(By.ID, "settings-open").click()
    select = Select(d.find_element(By.ID, "language-select"))
    assert select.first_selected_option.get_attribute("value") == "es"
    select.select_by_value("")
    wait(d).until(lambda x: x.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    finish(servers, d, base, "i18n-settings.png")
