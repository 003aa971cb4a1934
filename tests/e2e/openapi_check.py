"""Checks every HTTP response the end-to-end tests receive against docs/openapi.yaml.

conftest.py calls install(), which wraps requests.Session.send (every requests.get,
requests.post, Session, redirect hop and thread goes through it). Each response to a
request for an API path (/api/..., or any path the spec lists) is checked:

- the path is not in the spec: the answer must be 404;
- the path is in the spec but not with this method: 405 with an Allow header (HEAD is
  checked as GET);
- otherwise the status must be one the operation lists, the Content-Type one it lists
  for that status, and a JSON body must validate against the listed schema (JSON Schema
  draft 2020-12, python3-jsonschema) with every $ref resolved inside the spec;
- an unlisted 404/405 body must still be a valid Error.

Responses without X-Request-Id were made by a front end itself (nginx's static files and
its own error pages, libmicrohttpd refusing oversized headers, nginx's 502 while chat-api
starts); only their status is checked, and FRONT_END_STATUSES are always allowed for
them. Non-JSON responses (204, pages, static files, downloads) are checked for status and
media type only.

A mismatch raises OpenAPIMismatch (an AssertionError) from the request call, naming the
method, path, status, the JSON pointer of the mismatch and the body, so the test fails
where it made the request. CHAT_TEST_OPENAPI=0 switches the check off.
"""

import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml
from jsonschema import Draft202012Validator, RefResolver

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

# Statuses a front end may answer by itself, before the application sees the request.
FRONT_END_STATUSES = {400, 413, 414, 431, 502, 504}

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
BODY_SHOWN = 2000  # characters of a body quoted in a failure message


class OpenAPIMismatch(AssertionError):
    pass


class Spec:
    """docs/openapi.yaml, with its paths compiled to regular expressions."""

    def __init__(self, path=SPEC_PATH):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.resolver = RefResolver.from_schema(self.doc)
        self.paths = []  # (template, compiled regex, path item)
        for template, item in self.doc["paths"].items():
            regex = "^" + "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)) + "$"
            self.paths.append((template, re.compile(regex), item))
        self._validators = {}
        self._lock = threading.Lock()

    def find_path(self, path):
        """(template, path item) of the spec path matching a concrete path, or None.
        A literal path wins over a templated one."""
        found = [(t, item) for t, rx, item in self.paths if rx.match(path)]
        found.sort(key=lambda x: x[0].count("{"))
        return found[0] if found else None

    def deref(self, obj):
        """Follows $ref (within the spec) until obj is not a reference."""
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validator(self, schema):
        key = id(schema)
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                v = Draft202012Validator(schema, resolver=self.resolver)
                self._validators[key] = v
        return v


_spec = None
_original_send = None
# (method, template, status) seen, for the coverage report at the end of the session.
seen = set()


def spec():
    global _spec
    if _spec is None:
        _spec = Spec()
    return _spec


def _media_type(content_type):
    return (content_type or "").split(";", 1)[0].strip().lower()


def _pointer(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _body_text(response):
    """The body for a failure message: text as text, anything else by its size."""
    media = _media_type(response.headers.get("Content-Type"))
    if media == "application/json" or media.startswith("text/") or not response.content:
        return response.content.decode("utf-8", "replace")
    return "(%d bytes of %s)" % (len(response.content), media or "unknown type")


def _media_matches(media, documented):
    """Whether a media type is one of the documented keys (which may be type/* or */*)."""
    major = media.split("/", 1)[0]
    return any(d in (media, major + "/*", "*/*") for d in documented)


def _fail(method, path, status, body, problem):
    text = body if isinstance(body, str) else repr(body)
    if len(text) > BODY_SHOWN:
        text = text[:BODY_SHOWN] + "... (%d characters)" % len(text)
    raise OpenAPIMismatch("OpenAPI (docs/openapi.yaml): %s %s -> %d: %s\nbody: %s"
                          % (method, path, status, problem, text))


def _validate_json(s, schema, method, path, status, response, where):
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        _fail(method, path, status, _body_text(response), "%s: body is not JSON (%s)" % (where, e))
    errors = sorted(s.validator(schema).iter_errors(body),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        # The deepest error inside oneOf/anyOf is usually the helpful one.
        e = errors[0]
        best = e
        while best.context:
            best = sorted(best.context, key=lambda c: -len(c.absolute_path))[0]
        _fail(method, path, status, body,
              "%s: at %s: %s%s" % (where, _pointer(e.absolute_path), e.message[:300],
                                   "" if best is e else " (innermost: at %s: %s)"
                                   % (_pointer(best.absolute_path), best.message[:200])))


def _site_admin_path(item):
    """True when every operation of the path is x-site-admin."""
    ops = [item[m] for m in item if m in METHODS]
    return bool(ops) and all(op.get("x-site-admin") for op in ops)


def check(method, url, response):
    """Checks one response; raises OpenAPIMismatch. Returns quietly for requests outside
    the API (the push daemon's /ws/, other hosts' paths)."""
    s = spec()
    path = urlsplit(url).path
    status = response.status_code
    from_app = "X-Request-Id" in response.headers
    found = s.find_path(path)
    if not path.startswith("/api/") and found is None:
        return
    media = _media_type(response.headers.get("Content-Type"))
    is_json = media == "application/json"
    method = method.upper()
    if found is None:
        seen.add((method, "(unknown path)", status))
        if not from_app:
            if status not in FRONT_END_STATUSES | {404}:
                _fail(method, path, status, _body_text(response), "front-end answer to an unknown path")
            return
        if status != 404:
            _fail(method, path, status, _body_text(response),
                  "a path the spec does not list must answer 404")
        _validate_json(s, s.doc["components"]["schemas"]["Error"], method, path, status,
                       response, "404 for an unknown path")
        return
    template, item = found
    op = item.get("head" if method == "HEAD" and "head" in item else
                  "get" if method == "HEAD" else method.lower())
    if op is None:
        seen.add((method, template, status))
        if not from_app:
            if status not in FRONT_END_STATUSES | {405}:
                _fail(method, template, status, _body_text(response),
                      "front-end answer to an undocumented method")
            return
        if status == 404 and _site_admin_path(item):
            # Site administration answers everyone but a site admin 404 for every method
            # (app.c's gate), so that it does not reveal that the path exists.
            _validate_json(s, s.doc["components"]["schemas"]["Error"], method, template, status,
                           response, "404 under /api/admin/")
            return
        if status != 405:
            _fail(method, template, status, _body_text(response),
                  "%s is not documented for %s, so it must answer 405 (documented: %s)"
                  % (method, template, ", ".join(m.upper() for m in item if m in METHODS)))
        if not response.headers.get("Allow"):
            _fail(method, template, status, _body_text(response), "405 without an Allow header")
        allowed = {m.strip().lower() for m in response.headers["Allow"].split(",")}
        documented = {m for m in item if m in METHODS}
        if allowed != documented:
            _fail(method, template, status, _body_text(response),
                  "Allow: %s, but the spec documents %s"
                  % (response.headers["Allow"], ", ".join(sorted(documented))))
        _validate_json(s, s.doc["components"]["schemas"]["Error"], method, template, status,
                       response, "405")
        return
    seen.add((method, template, status))
    responses = op.get("responses", {})
    resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100))
    if resp is None:
        if not from_app and status in FRONT_END_STATUSES:
            return
        _fail(method, template, status, _body_text(response),
              "status %d is not documented (documented: %s)"
              % (status, ", ".join(sorted(responses))))
    resp = s.deref(resp)
    content = resp.get("content") or {}
    if not from_app:
        return  # nginx's static files and error pages: the status is all we can hold
    for name, header in (resp.get("headers") or {}).items():
        if s.deref(header).get("required") and name not in response.headers:
            _fail(method, template, status, _body_text(response),
                  "the required header %s is missing" % name)
    if method == "HEAD":
        return
    if not content:
        if response.content:
            _fail(method, template, status, _body_text(response),
                  "the spec documents no body for %d, but one came (%s)" % (status, media))
        return
    documented = {_media_type(k) for k in content}
    if not _media_matches(media, documented):
        _fail(method, template, status, _body_text(response),
              "Content-Type %r is not documented (documented: %s)"
              % (response.headers.get("Content-Type"), ", ".join(sorted(documented))))
    schema = (content.get("application/json") or {}).get("schema")
    if is_json and schema and set(schema) - {"description"}:
        _validate_json(s, schema, method, template, status, response,
                       "response schema of %s %s %d" % (method, template, status))


def install():
    """Wraps requests.Session.send once; idempotent. No-op with CHAT_TEST_OPENAPI=0."""
    global _original_send
    if _original_send is not None or os.environ.get("CHAT_TEST_OPENAPI", "1") == "0":
        return
    spec()  # a broken spec fails the session at once, not in the first test
    _original_send = requests.Session.send

    def send(self, request, **kwargs):
        response = _original_send(self, request, **kwargs)
        check(request.method, request.url, response)
        return response

    requests.Session.send = send


def coverage_report():
    """Lines '<METHOD> <path> <status> [seen]' for every documented response, marking
    the ones the session exercised, then the undocumented ones that were seen."""
    s = spec()
    lines = []
    for template, _rx, item in s.paths:
        for m in METHODS:
            if m not in item:
                continue
            for status in item[m].get("responses", {}):
                mark = "seen" if (m.upper(), template, int(status)) in seen else "-"
                lines.append("%-6s %-60s %s %s" % (m.upper(), template, status, mark))
    return "\n".join(lines) + "\n"
