"""Adversarial tests of chat-push found in review: inputs at their limits and states the
happy path never reaches. Helpers come from test_push.py."""

import requests

from helpers import auth_headers
from test_push import connect, create_conv, is_msg, run, send

INT64_MAX = 2 ** 63 - 1


def test_resume_from_int64_max_does_not_crash(servers, make_user):
    """A resume position of 2^63-1 (by frame, query string or Last-Event-ID) is answered,
    and the daemon keeps serving (it used to overflow n + 1 on the DB worker)."""
    a, b = make_user("ra"), make_user("rb")
    conv = create_conv(servers.httpd_url, a, [b])

    async def scenario():
        c = await connect(servers, b)
        await c.send({"type": "resume", "last_event_id": INT64_MAX})
        await c.barrier()
        c2 = await connect(servers, b, query="?last_event_id=%d" % INT64_MAX)
        await c2.barrier()
        m = send(servers.httpd_url, a, conv, "still alive")
        for cl in (c, c2):
            f = await cl.wait_for(is_msg(conv), what="message.created")
            assert f["data"]["id"] == m["id"]
            await cl.close()

    run(scenario())
    headers = dict(auth_headers(b), **{"Last-Event-ID": str(INT64_MAX)})
    with requests.get(servers.push_url + "/events/stream/", headers=headers, stream=True,
                      timeout=15) as r:
        assert r.status_code == 200
    r = requests.get(servers.push_url + "/healthz", timeout=15)
    assert r.status_code == 200, r.text


def test_cookie_auth_with_a_long_cookie_header(servers, make_user):
    """The session cookie is found when the Cookie header carries other long cookies
    (browsers send every cookie of the site)."""
    a, b = make_user("ca"), make_user("cb")
    conv = create_conv(servers.httpd_url, a, [b])
    cookie = "prefs=%s; chat_session=%s; tracking=%s" % ("p" * 300, b["token"], "t" * 300)

    async def scenario():
        c = await connect(servers, extra_headers={"Cookie": cookie})
        assert c.hello["user"]["id"] == b["id"]
        m = send(servers.httpd_url, a, conv, "long cookie")
        f = await c.wait_for(is_msg(conv), what="message.created")
        assert f["data"]["id"] == m["id"]
        await c.close()

    run(scenario())
