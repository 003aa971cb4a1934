"""Creates the benchmark's data through the REST API (scripts/bench.sh runs it once
against chat-httpd, before any measurement).

    python3 bench/seed.py BASE_URL PREFIX HISTORY

Registers five users PREFIX_a .. PREFIX_e, gives PREFIX_a a direct chat with each of
the others and one group with all of them (so the conversation list has five entries,
each with a last message), and writes HISTORY messages, alternating between PREFIX_a and
PREFIX_b, into the direct chat of a and b (the conversation the message benchmarks use).
Every request must succeed; anything else exits non-zero with the response.

Prints KEY=VALUE lines for the caller: TOKEN (PREFIX_a's bearer token), USER_ID and
CONV (the id of the a-b conversation). Standard library only.
"""

import json
import sys
import urllib.error
import urllib.request

PASSWORD = "bench-password-1"


def call(base, method, path, token=None, body=None, expect=(200, 201)):
    """One request; returns the decoded JSON body, or exits on an unexpected status."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    if status not in expect:
        sys.exit("seed.py: %s %s -> %d %s" % (method, path, status, text[:300]))
    return json.loads(text)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base, prefix, history = sys.argv[1], sys.argv[2], int(sys.argv[3])
    users = {}
    for letter in "abcde":
        name = "%s_%s" % (prefix, letter)
        r = call(base, "POST", "/api/auth/register",
                 body={"username": name, "password": PASSWORD,
                       "display_name": "Bench user " + letter.upper()})
        users[letter] = {"id": r["user"]["id"], "token": r["token"]}
    a = users["a"]

    def conversation(participants, name=None):
        body = {"participant_ids": [users[x]["id"] for x in participants]}
        if name:
            body.update(name=name, is_group=True)
        return call(base, "POST", "/api/chat/conversations/", a["token"], body)["id"]

    def post(conv, letter, text):
        call(base, "POST", "/api/chat/conversations/%d/messages/" % conv,
             users[letter]["token"], {"text": text}, expect=(201,))

    for other in "cde":
        conv = conversation(other)
        for i in range(3):
            post(conv, "a" if i % 2 == 0 else other, "Hello %s, message %d" % (other, i))
    group = conversation("bcde", name="Bench group")
    for i in range(10):
        post(group, "abcde"[i % 5], "Group message %d" % i)
    main_conv = conversation("b")
    for i in range(history):
        post(main_conv, "a" if i % 2 == 0 else "b",
             "History message %d: a line of ordinary chat text of ordinary length." % i)

    print("TOKEN=%s" % a["token"])
    print("USER_ID=%d" % a["id"])
    print("CONV=%d" % main_conv)


if __name__ == "__main__":
    main()
