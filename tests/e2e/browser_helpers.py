"""Browser plumbing shared by the test_browser*.py suites: headless Chromium through
Selenium, logging in, waiting for what the user sees, screenshots, and the checks every
browser test ends with (no request to a foreign origin, no script error or CSP
violation).

Chromium is slow to start (about a second each), so a module reuses its browsers: the
`pool` fixture hands out Chromium instances that live for the module, and `fresh(driver)`
resets one (cookies, storage, a blank page) before a test logs a new user into it. Tests
stay independent: each one registers its own users.
"""

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import (ElementNotInteractableException, NoSuchElementException,
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from helpers import catalog

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 20

# Without the background-networking flags Chromium tries to reach Google services,
# which cannot work here and only adds noise and delay.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,800",
]


def tls_flags():
    """Chromium accepts the harness's self-signed certificate (conftest.py sets its key's
    hash once the servers are up) and nothing else that fails verification."""
    spki = os.environ.get("CHAT_TEST_TLS_SPKI")
    return ["--ignore-certificate-errors-spki-list=" + spki] if spki else []


def page_front(servers, base_url):
    """The name of the front end (conftest.FRONT_ENDS) that base_url belongs to."""
    from conftest import FRONT_ENDS
    return next(name for name, url in FRONT_ENDS.items() if url(servers) == base_url)


def start_chromium(profiles, width=None, javascript=True, flags=()):
    """One headless Chromium with a fresh profile (its directory appended to profiles).
    width: emulate a phone of that many CSS pixels. javascript=False: scripts off.
    flags: extra command-line switches."""
    profile = tempfile.mkdtemp(prefix="chat-chromium-")
    profiles.append(profile)
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + tls_flags() + list(flags):
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=" + profile)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if width:
        opts.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": 740, "pixelRatio": 2.0, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 13; Pixel) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/120 Mobile Safari/537.36"})
    if not javascript:
        opts.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    return driver


class Pool:
    """Chromium instances for one module; get(i) starts the i-th on first use."""

    def __init__(self):
        self.drivers = []
        self.profiles = []

    def get(self, i):
        while len(self.drivers) <= i:
            self.drivers.append(start_chromium(self.profiles))
        return self.drivers[i]

    def close(self):
        for driver in self.drivers:
            try:
                driver.quit()
            except Exception:  # a crashed browser must not hide the test's own failure
                pass
        for profile in self.profiles:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pool():
    p = Pool()
    yield p
    p.close()


@pytest.fixture
def browsers():
    """browsers(width=None, javascript=True, flags=()) starts one more Chromium for this
    test only; all are quit and their profiles removed at teardown."""
    started = []
    profiles = []

    def start(width=None, javascript=True, flags=()):
        driver = start_chromium(profiles, width=width, javascript=javascript, flags=flags)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        try:
            driver.quit()
        except Exception:
            pass
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, timeout=WAIT_S):
    # The page re-renders lists and messages live, so an element a predicate found can
    # be stale by the time it reads it: that is "not yet", and the predicate runs again.
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))


def fresh(driver, base_url):
    """Forgets whoever used this browser before: storage, cookies, blocked URLs."""
    driver.get(base_url + "/static/favicon.svg")
    driver.execute_script("try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}")
    driver.delete_all_cookies()
    try:
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    except Exception:
        pass
    driver.get_log("browser")  # drop the previous test's console lines
    return driver


def login_with_cookie(driver, base_url, user, path="/chat/"):
    """Logs user in through the API and hands the browser the session cookies (faster
    than typing into the form, which test_browser.py covers), then opens path."""
    r = requests.post(base_url + "/api/auth/login", timeout=30,
                      json={"username": user["username"], "password": user["password"]})
    assert r.status_code == 200, r.text
    fresh(driver, base_url)
    for name in ("chat_session", "chat_csrf"):
        driver.add_cookie({"name": name, "value": r.cookies[name], "path": "/",
                           "secure": base_url.startswith("https:")})
    driver.get(base_url + path)
    wait(driver).until(EC.presence_of_element_located((By.ID, "app")))
    return driver


def login_through_form(driver, base_url, user):
    driver.get(base_url + "/chat/")
    wait(driver).until(EC.element_to_be_clickable((By.ID, "login-submit")))
    driver.find_element(By.ID, "login-username").send_keys(user["username"])
    driver.find_element(By.ID, "login-password").send_keys(user["password"])
    driver.find_element(By.ID, "login-submit").click()
    # The script reloads /chat/, which the server now renders for the user.
    wait(driver).until(EC.presence_of_element_located((By.ID, "app")))
    assert driver.find_element(By.ID, "me-name").text == user["display_name"]


def status_state(driver):
    return driver.find_element(By.ID, "connection-status").get_attribute("data-state")


def wait_connected(driver, timeout=WAIT_S):
    wait(driver, timeout).until(lambda d: status_state(d) == "connected")
    lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
    assert driver.find_element(By.ID, "connection-status").text.startswith(
        catalog(lang)["page.status_connected"])


def message_texts(driver):
    """(id, text) of every confirmed message shown, in page order."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages .message[data-id]')]"
        ".map(li => [Number(li.dataset.id), li.querySelector('.message-text').textContent]);")


def texts(driver, css):
    """The textContent of every element at css, read by one script (a live re-render
    cannot make any of them stale halfway)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);", css)


def wait_for_message(driver, text):
    """Waits until a confirmed message (one with a server id) shows `text`."""
    def shown(d):
        return any(t == text for _, t in message_texts(d))
    wait(driver).until(shown, "message %r never appeared" % text)


def message_li(driver, text):
    for li in driver.find_elements(By.CSS_SELECTOR, "#messages .message[data-id]"):
        if li.find_element(By.CSS_SELECTOR, ".message-text").text == text:
            return li
    raise AssertionError("no message %r" % text)


def type_and_enter(driver, text):
    """Types into the message box and presses Enter (which sends). The page may re-render
    the box between finding and typing (a connection state change does): then the typing
    went to the old box, which is gone, and it is done again into the new one."""
    for _ in range(3):
        try:
            driver.find_element(By.ID, "compose-text").send_keys(text + "\n")
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError("the message box kept being replaced while typing %r" % text)


def send(driver, text):
    box = driver.find_element(By.ID, "compose-text")
    box.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def conversation_row(driver, conv_id):
    return driver.find_element(By.CSS_SELECTOR, '.conversation[data-id="%s"]' % conv_id)


def click_option(driver, css):
    """Clicks the element at css once it is there. A search list may be re-rendered while
    the test clicks (a debounced search that fired mid-typing): a stale element is
    looked up again."""
    def attempt(d):
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException,
                ElementNotInteractableException):
            return False
    wait(driver).until(attempt, "could not click %s" % css)


def open_conversation(driver, conv_id):
    # The list re-renders on live events (order, badges), so the row is looked up again
    # if it went stale between finding and clicking it.
    click_option(driver, '.conversation[data-id="%s"] a' % conv_id)
    wait(driver).until(lambda d: d.execute_script(
        "return document.getElementById('conversation-pane').dataset.id") == str(conv_id))
    wait(driver).until(EC.visibility_of_element_located((By.ID, "compose")))


def foreign_resources(driver, base_url, push_url=None):
    """URLs the page loaded from any origin other than base_url's. push_url: the push
    daemon's origin (the configured push_public_url, the same host on another port),
    where the SSE and long-poll fallbacks live, is allowed too."""
    allowed = [base_url.rstrip("/") + "/"] + ([push_url.rstrip("/") + "/"] if push_url else [])
    urls = driver.execute_script(
        "return [location.href].concat("
        "performance.getEntriesByType('resource').map(e => e.name));")
    return [u for u in urls if not any(u.startswith(a) for a in allowed)
            and not u.startswith("blob:")]


# Console lines that are not the page's fault: an API refusal the UI shows to the user
# (Chromium logs every 4xx fetch), requests a test blocked on purpose, and a connection
# attempt to a push daemon the test stopped, the icon a bare file tab asks for.
# Chromium's own lines about requests that failed as a test meant them to: 4xx answers,
# URLs a test blocked, the fallbacks, WebSockets refused on purpose, and requests made
# while a test has the network emulated offline (a page fetch racing the "offline"
# event gets ERR_INTERNET_DISCONNECTED; the page must then show offline, which the test
# checks).
EXPECTED_CONSOLE = re.compile(
    r"/api/\S+ - Failed to load resource: the server responded with a status of 4\d\d"
    r"|ERR_BLOCKED_BY_CLIENT|/events/|WebSocket connection to|/favicon\.ico "
    r"|/api/\S+ - Failed to load resource: net::ERR_INTERNET_DISCONNECTED")


def console_problems(driver):
    """Console lines that mean the page is broken: script errors and CSP violations."""
    return [e["message"] for e in driver.get_log("browser")
            if (e["level"] == "SEVERE" and not EXPECTED_CONSOLE.search(e["message"]))
            or "Content Security Policy" in e["message"]]


def screenshot(servers, driver, name):
    """Saves the page as <test var dir>/screenshots/<name> (var/test/ by default)."""
    directory = Path(servers.var_dir) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    assert driver.save_screenshot(str(path)), "could not save %s" % path
    return path


def finish(servers, driver, base_url, name):
    """The end of every browser test: the page made no request to another origin and
    logged no script error or CSP violation; its final state is saved as a screenshot."""
    screenshot(servers, driver, name)
    assert foreign_resources(driver, base_url, servers.push_url) == []
    problems = console_problems(driver)
    assert problems == [], problems


# ---- REST shortcuts for setting up a scene ----

def rest(servers, user, method, path, **kw):
    r = requests.request(method, servers.httpd_url + path, timeout=30,
                         headers={"Authorization": "Bearer " + user["token"]}, **kw)
    assert r.status_code < 300, "%s %s: %s %s" % (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def three_people(servers, make_user, prefix, locale):
    """Alice, Bob and Carol (display names), Alice with the language setting locale."""
    alice, bob, carol = (make_user(prefix + name.lower(), display_name=name)
                         for name in ("Alice", "Bob", "Carol"))
    assert rest(servers, alice, "PATCH", "/api/users/me/", json={"locale": locale})["locale"] == locale
    return alice, bob, carol


def direct_chat(servers, user, other):
    return rest(servers, user, "POST", "/api/chat/conversations/",
                json={"participant_ids": [other["id"]], "is_group": False})["id"]


def group_chat(servers, user, others, name):
    return rest(servers, user, "POST", "/api/chat/conversations/",
                json={"participant_ids": [o["id"] for o in others], "is_group": True,
                      "name": name})["id"]


def say(servers, user, conv, text, **extra):
    body = {"text": text, "client_msg_id": uuid.uuid4().hex}
    body.update(extra)
    return rest(servers, user, "POST", "/api/chat/conversations/%d/messages/" % conv, json=body)
