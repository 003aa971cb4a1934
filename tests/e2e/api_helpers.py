"""Helpers for the API suites beyond test_api.py (conversations, participants, message
edits and deletes, reactions, receipts): REST shortcuts and a look at the event log."""

import json

import requests

from helpers import auth_headers
from test_api import (TIMEOUT, assert_error, conv_url, create_conv, login_session,  # noqa: F401
                      msgs_url, send)


def request(method, url, user=None, body=None, headers=None, **kw):
    """One request as `user` (a make_user dict, or None for anonymous) with a JSON body
    (or raw `data=`) and extra headers."""
    h = auth_headers(user) if user else {}
    h.update(headers or {})
    kw.setdefault("timeout", TIMEOUT)
    return requests.request(method, url, json=body, headers=h, **kw)


def msg_url(api_url, conv_id, message_id):
    return "%s%s/" % (msgs_url(api_url, conv_id), message_id)


def parts_url(api_url, conv_id, user_id=None):
    base = "%sparticipants/" % conv_url(api_url, conv_id)
    return base if user_id is None else "%s%s/" % (base, user_id)


def last_event_id(servers):
    """The highest event id so far (0 when the log is empty)."""
    return servers.db("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]


def events_since(servers, since, conv_id=None, types=None):
    """[(type, payload dict)] of the events after id `since`, in id order, optionally only
    those of one conversation and of the given types."""
    rows = servers.db("SELECT type, conversation_id, payload FROM events WHERE id > %s "
                      "ORDER BY id", (since,))
    out = []
    for type_, cid, payload in rows:
        if conv_id is not None and cid != conv_id:
            continue
        if types is not None and type_ not in types:
            continue
        out.append((type_, json.loads(payload)))
    return out


def group(api_url, owner, others, name="team"):
    return create_conv(api_url, owner, others, name=name, is_group=True)


def direct(api_url, owner, other):
    return create_conv(api_url, owner, [other])


def unread(api_url, user, conv_id):
    """user's unread_count of conv_id, from the conversation list."""
    r = request("GET", conv_url(api_url), user)
    assert r.status_code == 200, r.text
    for c in r.json()["results"]:
        if c["id"] == conv_id:
            return c["unread_count"]
    raise AssertionError("conversation %s not in %s's list" % (conv_id, user["username"]))
