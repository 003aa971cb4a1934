"""Abuse limits (issue 12, item 6): hourly allowances per user for starting
conversations (rate_conversations_per_hour) and for inviting people
(rate_invitations_per_hour), through the same token buckets as every rate limit
(docs/API.md, "Rate limits"). The session's servers run with huge allowances; this module
starts its own chat-httpd with small ones on the session's database."""

import pytest
import requests

import conftest
from helpers import auth_headers

TIMEOUT = 30
CONVERSATIONS = 3
INVITATIONS = 4
HTTPD_PORT = conftest.PORT_BASE + 57  # a port the session's servers leave free


@pytest.fixture(scope="module")
def limited(servers):
    """The URL of a chat-httpd with small hourly allowances."""
    url = servers.spawn_httpd("chat-httpd-abuse", HTTPD_PORT,
                              {"CHAT_RATE_CONVERSATIONS_PER_HOUR": str(CONVERSATIONS),
                               "CHAT_RATE_INVITATIONS_PER_HOUR": str(INVITATIONS)})
    try:
        yield url
    finally:
        servers.stop_proc("chat-httpd-abuse")


def post(url, user, body):
    return requests.post(url, json=body, headers=auth_headers(user), timeout=TIMEOUT)


def start(url, user, others, is_group=False):
    return post(url + "/api/chat/conversations/",
                user, {"participant_ids": [o["id"] for o in others], "is_group": is_group})


def add(url, user, conv_id, other):
    return post("%s/api/chat/conversations/%d/participants/" % (url, conv_id), user,
                {"user_id": other["id"]})


def assert_hourly_limit(r, allowance):
    """A 429 of an empty hourly bucket: one token comes back every 3600/allowance s."""
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["code"] == "rate_limited" and body["request_id"], body
    assert r.headers["X-RateLimit-Limit"] == str(allowance), r.headers
    assert r.headers["X-RateLimit-Remaining"] == "0", r.headers
    retry = int(r.headers["Retry-After"])
    assert 3600 / allowance - 60 <= retry <= 3600 / allowance, r.headers


def test_new_conversations_per_hour(limited, make_user):
    a = make_user("ab")
    others = [make_user("ao") for _ in range(CONVERSATIONS + 1)]
    for i, other in enumerate(others[:CONVERSATIONS - 1]):
        r = start(limited, a, [other])
        assert r.status_code == 201, r.text
        assert r.headers["X-RateLimit-Limit"] == str(CONVERSATIONS), r.headers
        assert r.headers["X-RateLimit-Remaining"] == str(CONVERSATIONS - 1 - i), r.headers
    # A group counts as a new conversation too (and its member as an invitation).
    r = start(limited, a, [others[0]], is_group=True)
    assert r.status_code == 201, r.text
    assert_hourly_limit(start(limited, a, [others[CONVERSATIONS]]), CONVERSATIONS)
    assert_hourly_limit(start(limited, a, [others[1]], is_group=True), CONVERSATIONS)
    # Opening a direct chat that exists costs nothing, even with the allowance gone.
    r = start(limited, a, [others[0]])
    assert r.status_code == 200, r.text
    # The refused requests created nothing.
    listed = requests.get(limited + "/api/chat/conversations/", headers=auth_headers(a),
                          timeout=TIMEOUT).json()["results"]
    assert len(listed) == CONVERSATIONS
    # The other user has an allowance of their own: they may start it.
    assert start(limited, others[CONVERSATIONS], [a]).status_code == 201


def test_invitations_per_hour(limited, make_user):
    a = make_user("ib")
    people = [make_user("ip") for _ in range(INVITATIONS + 2)]
    r = start(limited, a, people[:2], is_group=True)  # two invitations
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    for p in people[2:4]:
        r = add(limited, a, conv, p)
        assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Limit"] == str(INVITATIONS), r.headers
    assert r.headers["X-RateLimit-Remaining"] == "0", r.headers
    # Adding a member again invites nobody: still answered, still free.
    assert add(limited, a, conv, people[0]).status_code == 200
    refused = add(limited, a, conv, people[4])
    assert_hourly_limit(refused, INVITATIONS)
    ids = {p["id"] for p in requests.get(
        "%s/api/chat/conversations/%d/participants/" % (limited, conv),
        headers=auth_headers(a), timeout=TIMEOUT).json()["results"]}
    assert people[4]["id"] not in ids
    # Any other member still has their own allowance.
    assert add(limited, people[0], conv, people[4]).status_code == 201
    # A group created with the allowance gone is refused as a whole.
    assert_hourly_limit(start(limited, a, [people[5]], is_group=True), INVITATIONS)


def test_a_group_larger_than_the_allowance_takes_all_of_it(limited, make_user):
    a = make_user("gb")
    people = [make_user("gp") for _ in range(INVITATIONS + 2)]
    r = start(limited, a, people[:INVITATIONS + 1], is_group=True)
    assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Remaining"] == "0", r.headers
    assert_hourly_limit(add(limited, a, r.json()["id"], people[INVITATIONS + 1]), INVITATIONS)


def test_a_bulk_add_costs_one_invitation_per_newcomer(limited, make_user):
    """POST .../participants/ {"user_ids": [...]}: those who take part already cost
    nothing; the newcomers cost one invitation each, and a list longer than what is
    left is refused whole."""
    a = make_user("bb")
    people = [make_user("bp") for _ in range(INVITATIONS + 2)]
    conv = start(limited, a, people[:1], is_group=True).json()["id"]  # one invitation
    url = "%s/api/chat/conversations/%d/participants/" % (limited, conv)
    r = post(url, a, {"user_ids": [people[0]["id"], people[1]["id"], people[2]["id"]]})
    assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Remaining"] == str(INVITATIONS - 3), r.headers
    assert [p["id"] for p in r.json()["added"]] == [people[1]["id"], people[2]["id"]]
    # One token is left: two newcomers are refused together, nobody is added.
    refused = post(url, a, {"user_ids": [people[3]["id"], people[4]["id"]]})
    assert refused.status_code == 429, refused.text
    ids = {p["id"] for p in requests.get(url, headers=auth_headers(a), timeout=TIMEOUT).json()["results"]}
    assert not ids & {people[3]["id"], people[4]["id"]}
    # Members only: free.
    r = post(url, a, {"user_ids": [people[1]["id"]]})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def one_thread(servers):
    """The URL of a chat-httpd with one worker thread (so one MariaDB connection, where
    every request reuses the statements the one before it prepared) and an allowance
    larger than a TINYINT."""
    url = servers.spawn_httpd("chat-httpd-bulk", BULK_PORT,
                              {"CHAT_HTTPD_THREADS": "1",
                               "CHAT_RATE_INVITATIONS_PER_HOUR": str(BULK_ALLOWANCE)})
    try:
        yield url
    finally:
        servers.stop_proc("chat-httpd-bulk")


BULK_PORT = conftest.PORT_BASE + 62
BULK_ALLOWANCE = 1000


def test_an_invitation_cost_above_127_is_counted_and_the_next_request_is_answered(
        one_thread, servers, make_user):
    """A group created with 300 people takes 300 invitations in one statement (its
    RETURNING row once overflowed the bucket's count, failed open, and left the
    connection's statement out of step: the next rate check waited out db_timeout_s).
    The counts are exact, and the next requests on the same connection are answered."""
    from test_api_large_groups import bulk_users
    a = make_user("tb")
    ids = bulk_users(servers, 301)
    r = requests.post(one_thread + "/api/chat/conversations/", headers=auth_headers(a),
                      json={"participant_ids": ids[:300], "is_group": True, "name": "bulk"},
                      timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Remaining"] == str(BULK_ALLOWANCE - 300), r.headers
    # The same statement again, on the same connection; a short timeout, so a wait for
    # db_timeout_s (30 s) fails here rather than being waited out.
    r = requests.post("%s/api/chat/conversations/%d/participants/" % (one_thread, r.json()["id"]),
                      headers=auth_headers(a), json={"user_id": ids[300]}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Remaining"] == str(BULK_ALLOWANCE - 301), r.headers
    # More than is left is refused whole.
    more = bulk_users(servers, BULK_ALLOWANCE - 300)
    refused = requests.post("%s/api/chat/conversations/" % one_thread, headers=auth_headers(a),
                            json={"participant_ids": more, "is_group": True}, timeout=10)
    assert refused.status_code == 429, refused.text
