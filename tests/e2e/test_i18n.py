"""Languages (docs/API.md, "Languages"): the page, its 404 page and the API's error texts in
English, Brazilian Portuguese and Spanish, chosen from the user's setting (PATCH
/api/users/me/ {"locale"}), else Accept-Language with its q-values, else English. The
`code` of an error is the same in every language. The expected texts are read from the
catalogs in i18n/, so a test checks the server delivers the catalog, not a copy of it."""

import json
import re

import pytest
import requests

from api_helpers import TIMEOUT, request
from helpers import auth_headers, catalog

LOCALES = ["en", "pt-BR", "es"]
ME = "/api/users/me/"


def html_text(s):
    """s as the template engine escapes it."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def embedded_catalog(html):
    m = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html, re.S)
    assert m, html[:500]
    return json.loads(m.group(1))


@pytest.mark.parametrize("locale", LOCALES)
def test_login_page_follows_accept_language(api_url, locale):
    r = requests.get(api_url + "/chat/", headers={"Accept-Language": locale}, timeout=TIMEOUT)
    assert r.status_code == 200
    cat = catalog(locale)
    assert '<html lang="%s">' % locale in r.text
    assert ">%s</h2>" % html_text(cat["page.login_heading"]) in r.text
    assert html_text(cat["page.noscript"]) in r.text
    assert r.headers["Content-Language"] == locale
    assert r.headers["Vary"] == "Accept-Language, Cookie"
    assert r.headers["Cache-Control"] == "no-store"
    # The whole catalog of that locale is in the page for the script, nothing else.
    embedded = embedded_catalog(r.text)
    assert embedded == {"locale": locale, "messages": cat}


@pytest.mark.parametrize("header,expected", [
    ("pt-PT, en;q=0.8", "pt-BR"),
    ("de, es;q=0.5, en;q=0.4", "es"),
    ("en;q=0.2, es;q=0.9, pt-BR;q=0.5", "es"),
    ("es;q=0, fr", "en"),
    ("es-MX", "es"),
    ("fr", "en"),
])
def test_accept_language_q_values(api_url, header, expected):
    r = requests.get(api_url + "/chat/", headers={"Accept-Language": header}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert '<html lang="%s">' % expected in r.text
    assert r.headers["Content-Language"] == expected


def test_no_accept_language_is_english(api_url):
    r = requests.get(api_url + "/chat/", headers={"Accept-Language": None}, timeout=TIMEOUT)
    assert '<html lang="en">' in r.text


@pytest.mark.parametrize("locale", LOCALES)
def test_not_found_page_is_localized(api_url, make_user, locale):
    outsider = make_user("i18n404")
    h = dict(auth_headers(outsider), **{"Accept-Language": locale})
    r = requests.get(api_url + "/chat/999999999/", headers=h, timeout=TIMEOUT)
    assert r.status_code == 404
    cat = catalog(locale)
    assert '<html lang="%s">' % locale in r.text
    assert html_text(cat["page.not_found_text"]) in r.text
    assert r.headers["Content-Language"] == locale


@pytest.mark.parametrize("locale", LOCALES)
def test_error_detail_is_localized_and_code_stable(api_url, make_user, locale):
    cat = catalog(locale)
    lang = {"Accept-Language": locale}
    # Anonymous: the header alone decides.
    r = requests.get(api_url + "/api/auth/me", headers=lang, timeout=TIMEOUT)
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert r.json()["detail"] == cat["error.not_authenticated"]
    # A detail of its own key, for a user with no setting.
    u = make_user("i18nerr")
    r = request("PATCH", api_url + ME, u, {"locale": "fr"}, headers=lang)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert r.json()["detail"] == cat["error.profile.locale_unknown"]
    r = request("PATCH", api_url + ME, u, {}, headers=lang)
    assert r.status_code == 400
    assert r.json()["code"] == "missing_field"
    assert r.json()["detail"] == cat["error.profile.nothing_to_change"]


def test_user_setting_beats_accept_language(api_url, make_user):
    u = make_user("i18nset")
    r = request("GET", api_url + "/api/auth/me", u)
    assert r.status_code == 200 and r.json()["locale"] is None
    r = request("PATCH", api_url + ME, u, {"locale": "PT-br"}, headers={"Accept-Language": "es"})
    assert r.status_code == 200, r.text
    assert r.json()["locale"] == "pt-BR"
    assert r.json()["display_name"] == u["display_name"]
    assert request("GET", api_url + "/api/auth/me", u).json()["locale"] == "pt-BR"

    es_header = dict(auth_headers(u), **{"Accept-Language": "es"})
    page = requests.get(api_url + "/chat/", headers=es_header, timeout=TIMEOUT)
    assert '<html lang="pt-BR">' in page.text
    assert page.headers["Content-Language"] == "pt-BR"
    r = request("PATCH", api_url + ME, u, {"locale": "xx"}, headers={"Accept-Language": "es"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert r.json()["detail"] == catalog("pt-BR")["error.profile.locale_unknown"]

    # Changing the name keeps the setting; null clears it and the header decides again.
    r = request("PATCH", api_url + ME, u, {"display_name": "Renamed"})
    assert r.status_code == 200 and r.json()["locale"] == "pt-BR"
    r = request("PATCH", api_url + ME, u, {"locale": None})
    assert r.status_code == 200 and r.json()["locale"] is None
    page = requests.get(api_url + "/chat/", headers=es_header, timeout=TIMEOUT)
    assert '<html lang="es">' in page.text


def test_locale_setting_is_validated(api_url, make_user):
    u = make_user("i18nval")
    for bad in ("fr", "pt", "en-US", ""):
        r = request("PATCH", api_url + ME, u, {"locale": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "validation_error"
    r = request("PATCH", api_url + ME, u, {"locale": 5})
    assert r.status_code == 400 and r.json()["code"] == "invalid_type"
    r = request("PATCH", api_url + ME, u, {"locale": "x" * 9})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert request("GET", api_url + "/api/auth/me", u).json()["locale"] is None


def test_locale_change_by_an_outsider_needs_csrf(api_url, make_user):
    """A cookie session cannot be made to change its language without the CSRF token."""
    u = make_user("i18ncsrf")
    r = requests.post(api_url + "/api/auth/login", timeout=TIMEOUT,
                      json={"username": u["username"], "password": u["password"]})
    cookies = r.cookies
    r = requests.patch(api_url + ME, json={"locale": "es"}, cookies=cookies, timeout=TIMEOUT)
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    assert request("GET", api_url + "/api/auth/me", u).json()["locale"] is None


@pytest.mark.parametrize("locale", LOCALES)
def test_server_rendered_conversation_in_the_users_language(api_url, make_user, locale):
    """Without the script, the page is already in the user's language: its strings, and
    the day of a message written out with the catalog's month names."""
    a, b = make_user("i18npage"), make_user("i18npeer")
    r = request("PATCH", api_url + ME, a, {"locale": locale})
    assert r.status_code == 200
    conv = request("POST", api_url + "/api/chat/conversations/", a,
                   {"participant_ids": [b["id"]]}).json()["id"]
    msg = request("POST", api_url + "/api/chat/conversations/%d/messages/" % conv, b,
                  {"text": "olá", "client_msg_id": "i18n-" + locale}).json()
    r = requests.get(api_url + "/chat/%d/" % conv, headers=auth_headers(a), timeout=TIMEOUT)
    assert r.status_code == 200
    cat = catalog(locale)
    year, month, day = (int(x) for x in msg["created_at"][:10].split("-"))
    label = cat["page.date_long"].format(day=day, month=cat["page.month_%d" % month], year=year)
    assert '<li class="day-separator" role="separator"><span>%s</span></li>' % html_text(label) in r.text
    assert 'placeholder="%s"' % html_text(cat["page.compose_placeholder"]) in r.text
    assert ">%s</button>" % html_text(cat["page.send"]) in r.text
    assert '<html lang="%s">' % locale in r.text


@pytest.mark.parametrize("setting,header,expected", [
    ("pt-BR", "es", "pt-BR"),   # the user's setting first
    (None, "es;q=0.9, en;q=0.1", "es"),  # else the upgrade request's Accept-Language
    (None, None, "en"),
])
def test_socket_error_frames_in_the_users_language(servers, make_user, setting, header, expected):
    """A message.send the server refuses over the WebSocket: the error frame's detail is
    in the connection's language (the user's setting, else the upgrade's
    Accept-Language), its code the same as ever. Over SSE the same holds for the
    refusal of an unauthenticated stream."""
    from test_push import connect, create_conv, run
    cat = catalog(expected)
    a, b = make_user("i18nws"), make_user("i18nws")
    if setting:
        assert request("PATCH", servers.httpd_url + ME, a, {"locale": setting}).status_code == 200
    conv = create_conv(servers.httpd_url, a, [b])
    extra = {"Accept-Language": header} if header else {}

    async def scenario():
        c = await connect(servers, a, extra_headers=extra)
        await c.send({"type": "message.send", "conversation_id": conv, "text": "   ",
                      "client_msg_id": "blank-1"})
        err = await c.wait_for(lambda f: f["type"] == "error")
        assert err == {"type": "error", "code": "validation_error",
                       "detail": cat["error.message.text_empty"], "client_msg_id": "blank-1"}
        await c.send({"type": "message.send", "conversation_id": conv, "text": "x" * 4001,
                      "client_msg_id": "long-1"})
        err = await c.wait_for(lambda f: f["type"] == "error")
        assert err["detail"] == cat["error.message.text_too_long"].replace("{max}", "4000")
        await c.close()

    run(scenario())
    r = requests.get(servers.push_url + "/events/poll/?timeout=0", headers=extra, timeout=TIMEOUT)
    if not setting:
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
        assert r.json()["detail"] == cat["error.not_authenticated"]


@pytest.mark.parametrize("program", ["chat-httpd", "chat-api", "chat-push"])
def test_programs_refuse_catalogs_that_differ(tmp_path, program):
    """A catalog tree in which one locale misses a key, or has one English lacks: the
    program does not start, and says which key (before it touches the database)."""
    import shutil
    import subprocess
    from conftest import BIN, REPO
    for case in ("missing", "extra"):
        tree = tmp_path / case
        shutil.copytree(REPO / "i18n", tree)
        page = tree / "es" / "page.json"
        cat = json.loads(page.read_text())
        if case == "missing":
            del cat["page.send"]
            want = "es misses key 'page.send' that en has"
        else:
            cat["page.only_in_spanish"] = "Solo en español"
            want = "es has key 'page.only_in_spanish' that en does not"
        page.write_text(json.dumps(cat, ensure_ascii=False))
        env = {"PATH": "/usr/bin:/bin", "CHAT_CONFIG": "/dev/null", "CHAT_I18N_DIR": str(tree),
               "CHAT_FCGI_SOCKET": str(tmp_path / "api.sock"), "CHAT_HTTP_PORT": "1",
               "CHAT_PUSH_PORT": "1"}
        r = subprocess.run([str(BIN / program)], env=env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 1, (program, case, r.returncode, r.stderr)
        assert want in r.stderr, r.stderr
        assert "Sanitizer" not in r.stderr, r.stderr
