"""Rate-limit leases (rate_lease_max, api/rate_lease.c): a process takes up to an eighth of
a read/write/upload bucket ahead of need and spends it on the caller's next requests, so
steady requests write the bucket every few requests; the bucket still never lets more
through than its shape allows, and the cost is stated: a client spreading requests over
P processes may be refused up to (P - 1) x lease tokens early (docs/API.md, "Rate
limits"). This module starts two chat-httpd with one thread each, a read bucket of 80
that does not refill while the tests run, and leases of 10."""

import pytest
import requests

import conftest
from helpers import auth_headers

TIMEOUT = 30
BURST = 80
LEASE = 10  # min(rate_lease_max, BURST / 8)
PORTS = (conftest.PORT_BASE + 59, conftest.PORT_BASE + 60)


@pytest.fixture(scope="module")
def pair(servers):
    settings = {"CHAT_HTTPD_THREADS": "1", "CHAT_RATE_READ_PER_MINUTE": "1",
                "CHAT_RATE_READ_BURST": str(BURST), "CHAT_RATE_LEASE_MAX": str(LEASE)}
    urls = [servers.spawn_httpd("chat-httpd-lease%d" % i, port, settings)
            for i, port in enumerate(PORTS)]
    try:
        yield urls
    finally:
        for i in range(len(PORTS)):
            servers.stop_proc("chat-httpd-lease%d" % i)


def me(url, user):
    return requests.get(url + "/api/auth/me", headers=auth_headers(user), timeout=TIMEOUT)


def bucket(servers, user):
    rows = servers.db("SELECT tokens, updated_at FROM rate_buckets WHERE bucket = %s",
                      ("read:u:%d" % user["id"],))
    return rows[0]


def test_a_lease_spares_the_bucket_writes_and_counts_down_exactly(pair, servers, make_user):
    a = pair[0]
    user = make_user("lz")
    remaining = [int(me(a, user).headers["X-RateLimit-Remaining"]) for _ in range(LEASE + 1)]
    # Every request spends one token, as without leases.
    assert remaining == list(range(BURST - 1, BURST - LEASE - 2, -1))
    # The first took 1 + LEASE from the bucket; the next LEASE came from the lease.
    tokens, _ = bucket(servers, user)
    assert int(tokens) == BURST - LEASE - 1
    # The next request takes a new lease: one bucket write for the next LEASE + 1.
    assert int(me(a, user).headers["X-RateLimit-Remaining"]) == BURST - LEASE - 2
    tokens, written_at = bucket(servers, user)
    assert int(tokens) == BURST - 2 * (LEASE + 1)
    for _ in range(LEASE):
        assert me(a, user).status_code == 200
    assert bucket(servers, user) == (tokens, written_at)  # not written meanwhile


def test_processes_never_let_more_through_than_the_bucket(pair, servers, make_user):
    """Process A holds a lease while B drains the bucket: B gets everything but A's take,
    A then what is left of its lease (or nothing, had it expired), and nobody gets more
    than the bucket held: at most BURST in all, at least BURST - LEASE."""
    a, b = pair
    user = make_user("lp")
    assert me(a, user).status_code == 200  # A takes 1 + LEASE
    admitted_b = 0
    while me(b, user).status_code == 200:
        admitted_b += 1
        assert admitted_b <= BURST
    assert admitted_b == BURST - 1 - LEASE
    r = me(b, user)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    admitted_a = 1
    while me(a, user).status_code == 200:
        admitted_a += 1
        assert admitted_a <= 1 + LEASE
    total = admitted_a + admitted_b
    assert BURST - LEASE <= total <= BURST, (admitted_a, admitted_b)
