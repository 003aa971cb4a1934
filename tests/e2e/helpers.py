"""Small helpers shared by the end-to-end suites (importable as `helpers`)."""

import functools
import itertools
import json
import os
import socket
import time
from pathlib import Path

_counter = itertools.count(1)


def auth_headers(user):
    """Headers that authenticate as `user` (a dict from make_user) by bearer token."""
    return {"Authorization": "Bearer " + user["token"]}


@functools.lru_cache(maxsize=None)
def catalog(locale):
    """Every key of a locale's message catalogs, i18n/<locale>/*.json (what the server
    loaded, as the suites run against this tree)."""
    out = {}
    for f in sorted((Path(__file__).resolve().parents[2] / "i18n" / locale).glob("*.json")):
        out.update(json.loads(f.read_text()))
    return out


def unique_name(prefix="u"):
    """A username no other test (or earlier session) has used: prefix, a counter and
    random hex, at most 32 characters from [A-Za-z0-9_]."""
    suffix = "%d_%s" % (next(_counter), os.urandom(4).hex())
    return (prefix[: 32 - len(suffix) - 1] + "_" + suffix)[:32]


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_socket_open(path, timeout=0.2):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value, which is returned. Raises
    TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def tail(path, lines=40):
    """The last lines of a text file, or a note that it does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(%s: %s)" % (path, e.strerror)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])
