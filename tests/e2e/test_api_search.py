"""GET /api/chat/search/: FULLTEXT search over the caller's conversations only, newest
first, paged with before=, through both front ends."""

import os

import requests

from helpers import auth_headers

TIMEOUT = 30


def search(api_url, user, **params):
    return requests.get(api_url + "/api/chat/search/", params=params,
                        headers=auth_headers(user) if user else None, timeout=TIMEOUT)


def ok(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"results", "has_more"}, body
    return body


def assert_error(r, status, code=None):
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code, r.text)
    body = r.json()
    assert body.get("detail") and body.get("request_id"), body
    if code:
        assert body["code"] == code, body


def conv(api_url, a, *others, group=False):
    body = {"participant_ids": [o["id"] for o in others]}
    if group:
        body.update(is_group=True, name="g")
    r = requests.post(api_url + "/api/chat/conversations/", json=body, headers=auth_headers(a),
                      timeout=TIMEOUT)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def send(api_url, user, conv_id, text):
    r = requests.post("%s/api/chat/conversations/%d/messages/" % (api_url, conv_id),
                      json={"text": text}, headers=auth_headers(user), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def word():
    """A word no other test (or session) uses: letters only, FULLTEXT-indexable."""
    return "w" + "".join(chr(ord("a") + b % 26) for b in os.urandom(10))


def ids(body):
    return [m["id"] for m in body["results"]]


def test_finds_only_the_callers_conversations(api_url, make_user):
    alice, bob, carol, dave = (make_user("s") for _ in range(4))
    w = word()
    ab = conv(api_url, alice, bob)
    cd = conv(api_url, carol, dave)
    m1 = send(api_url, alice, ab, "first %s here" % w)
    m2 = send(api_url, bob, ab, "and %s again, louder" % w.upper())
    theirs = send(api_url, carol, cd, "private %s stuff" % w)
    send(api_url, alice, ab, "unrelated text")

    body = ok(search(api_url, alice, q=w))
    assert ids(body) == [m2["id"], m1["id"]]  # newest first, case-insensitive
    assert body["has_more"] is False
    hit = body["results"][0]
    assert hit["text"] == m2["text"] and hit["conversation_id"] == ab
    assert hit["sender"]["id"] == bob["id"] and hit["attachments"] == []
    # The other pair sees only theirs; an outsider sees nothing at all.
    assert ids(ok(search(api_url, carol, q=w))) == [theirs["id"]]
    eve = make_user("s")
    assert ok(search(api_url, eve, q=w))["results"] == []
    # Asking for someone else's conversation is a 404, like every conversation resource.
    assert_error(search(api_url, eve, q=w, conversation=cd), 404, "not_found")
    assert_error(search(api_url, alice, q=w, conversation=cd), 404, "not_found")
    assert_error(search(api_url, alice, q=w, conversation=10 ** 15), 404, "not_found")


def test_conversation_filter_prefixes_and_all_words(api_url, make_user):
    alice, bob, carol = (make_user("s") for _ in range(3))
    w = word()
    direct = conv(api_url, alice, bob)
    group = conv(api_url, alice, bob, carol, group=True)
    a = send(api_url, alice, direct, "%s apples" % w)
    b = send(api_url, carol, group, "%s bananas" % w)
    c = send(api_url, bob, group, "%sfoo apples" % w)
    assert ids(ok(search(api_url, alice, q=w))) == [c["id"], b["id"], a["id"]]  # prefix match
    assert ids(ok(search(api_url, alice, q=w, conversation=group))) == [c["id"], b["id"]]
    assert ids(ok(search(api_url, alice, q="%s apples" % w))) == [c["id"], a["id"]]  # all words
    # InnoDB stopwords ("the", "about") and short words next to long ones do not block.
    assert ids(ok(search(api_url, alice, q="the %s about a bananas" % w))) == [b["id"]]
    # Operators in q are plain text, never boolean syntax.
    assert ids(ok(search(api_url, alice, q='-%s +"apples' % w))) == [c["id"], a["id"]]
    assert ids(ok(search(api_url, alice, q="%s* (bananas) ~<>@" % w))) == [b["id"]]


def test_paging_with_before_and_limit(api_url, make_user):
    alice, bob = make_user("s"), make_user("s")
    w = word()
    c = conv(api_url, alice, bob)
    sent = [send(api_url, alice, c, "%s number %d" % (w, i))["id"] for i in range(5)]
    newest_first = sent[::-1]
    page1 = ok(search(api_url, bob, q=w, limit=2))
    assert ids(page1) == newest_first[:2] and page1["has_more"] is True
    page2 = ok(search(api_url, bob, q=w, limit=2, before=ids(page1)[-1]))
    assert ids(page2) == newest_first[2:4] and page2["has_more"] is True
    page3 = ok(search(api_url, bob, q=w, limit=2, before=ids(page2)[-1]))
    assert ids(page3) == newest_first[4:] and page3["has_more"] is False


def test_short_words_use_substring_match(api_url, make_user):
    alice, bob = make_user("s"), make_user("s")
    c = conv(api_url, alice, bob)
    m = send(api_url, alice, c, "ok 42 go")
    send(api_url, alice, c, "nothing")
    assert ids(ok(search(api_url, bob, q="42", conversation=c))) == [m["id"]]
    assert ids(ok(search(api_url, bob, q="k 4", conversation=c))) == [m["id"]]
    # LIKE wildcards in q are literal.
    assert ok(search(api_url, bob, q="%_", conversation=c))["results"] == []
    p = send(api_url, alice, c, "50%_off")
    assert ids(ok(search(api_url, bob, q="%_", conversation=c))) == [p["id"]]


def test_deleted_and_edited_messages(api_url, make_user):
    alice, bob = make_user("s"), make_user("s")
    w, w2 = word(), word()
    c = conv(api_url, alice, bob)
    gone = send(api_url, alice, c, "%s to delete" % w)
    edited = send(api_url, alice, c, "%s to edit" % w)
    base = "%s/api/chat/conversations/%d/messages/" % (api_url, c)
    r = requests.delete("%s%d/" % (base, gone["id"]), headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code in (200, 204), r.text
    r = requests.patch("%s%d/" % (base, edited["id"]), json={"text": "now %s" % w2},
                       headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert ok(search(api_url, bob, q=w))["results"] == []  # tombstone gone, old text gone
    assert ids(ok(search(api_url, bob, q=w2))) == [edited["id"]]


def test_bad_queries(api_url, make_user):
    alice = make_user("s")
    url = api_url + "/api/chat/search/"
    h = auth_headers(alice)
    for query in ["", "?q=", "?q=%20%20", "?q=!!!", "?q=" + "a" * 201, "?q=x&limit=0",
                  "?q=x&limit=201", "?q=x&conversation=abc", "?q=x&before=-1",
                  "?q=x&conversation=0", "?q=x&sender=0", "?q=x&sender=me"]:
        r = requests.get(url + query, headers=h, timeout=TIMEOUT)
        assert_error(r, 400, "bad_request")
    assert_error(requests.get(url + "?q=%FF%FE", headers=h, timeout=TIMEOUT), 400, "invalid_utf8")
    assert ok(search(api_url, alice, q="é" * 200))["results"] == []  # 200 characters is fine
    assert_error(search(api_url, None, q="x"), 401, "not_authenticated")
    r = requests.post(url, json={}, headers=h, timeout=TIMEOUT)
    assert_error(r, 405, "method_not_allowed")


def test_sender_filter(api_url, make_user):
    """sender= keeps one person's messages, together with conversation= or across all;
    an outsider as sender matches nothing, and the filter reveals nothing of them."""
    alice, bob, carol, outsider = (make_user("s") for _ in range(4))
    w = word()
    c1 = conv(api_url, alice, bob, carol, group=True)
    c2 = conv(api_url, alice, bob)
    a1 = send(api_url, alice, c1, "alice says " + w)
    b1 = send(api_url, bob, c1, "bob says " + w)
    c1c = send(api_url, carol, c1, "carol says " + w)
    b2 = send(api_url, bob, c2, "bob again " + w)
    out = conv(api_url, outsider, make_user("s"))
    send(api_url, outsider, out, "outsider " + w)
    assert ids(ok(search(api_url, alice, q=w))) == [b2["id"], c1c["id"], b1["id"], a1["id"]]
    assert ids(ok(search(api_url, alice, q=w, sender=bob["id"]))) == [b2["id"], b1["id"]]
    assert ids(ok(search(api_url, alice, q=w, sender=bob["id"], conversation=c1))) == [b1["id"]]
    assert ids(ok(search(api_url, alice, q=w, sender=alice["id"]))) == [a1["id"]]
    assert ids(ok(search(api_url, alice, q=w, sender=outsider["id"]))) == []
    assert ids(ok(search(api_url, alice, q=w, sender=999999999))) == []
    # Paging keeps the filter.
    page = ok(search(api_url, alice, q=w, sender=bob["id"], limit=1))
    assert ids(page) == [b2["id"]] and page["has_more"] is True
    page = ok(search(api_url, alice, q=w, sender=bob["id"], limit=1, before=b2["id"]))
    assert ids(page) == [b1["id"]] and page["has_more"] is False
