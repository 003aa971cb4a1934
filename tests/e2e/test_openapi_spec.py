"""Static checks of docs/openapi.yaml (no servers needed): the document is consistent
with itself and with shared/errors.h. Route coverage against api/router.c is the unit
test tests/unit/test_openapi_routes.c; response validation is openapi_check.py."""

import re
from pathlib import Path

from jsonschema import Draft202012Validator

import openapi_check

REPO = Path(__file__).resolve().parents[2]

METHODS = openapi_check.METHODS


def spec():
    return openapi_check.spec()


def error_table():
    """{code: status} from the X-macro table in shared/errors.h."""
    text = (REPO / "shared" / "errors.h").read_text()
    rows = re.findall(r'X\(\s*\w+\s*,\s*(\d{3})\s*,\s*"([a-z0-9_]+)"', text)
    assert len(rows) >= 10, "could not read the error table of shared/errors.h"
    return {code: int(status) for status, code in rows}


def operations():
    for template, item in spec().doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield template, method, item, item[method]


def walk_refs(node, path="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield path, v
            else:
                yield from walk_refs(v, "%s/%s" % (path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_refs(v, "%s/%d" % (path, i))


def codes_of(schema):
    """The error codes a response schema allows: its `code` const or enum, looked for in
    the schema and its allOf parts; None when it does not narrow them."""
    s = spec()
    schema = s.deref(schema)
    found = None
    for part in [schema] + list(schema.get("allOf", [])):
        part = s.deref(part)
        code = (part.get("properties") or {}).get("code")
        if not code:
            continue
        code = s.deref(code)
        if "const" in code:
            found = {code["const"]}
        elif "enum" in code:
            found = set(code["enum"])
    return found


def test_every_ref_resolves():
    s = spec()
    bad = []
    for where, ref in walk_refs(s.doc):
        try:
            s.resolver.resolve(ref)
        except Exception as e:  # the resolver raises its own error types
            bad.append("%s: %s (%s)" % (where, ref, e))
    assert not bad, "\n".join(bad)


def test_schemas_are_valid_draft_2020_12():
    for name, schema in spec().doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def test_operation_ids_are_unique():
    ids = [op.get("operationId") for _, _, _, op in operations()]
    assert None not in ids, "every operation needs an operationId"
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, dupes


def test_path_parameters_match_the_templates():
    s = spec()
    problems = []
    for template, method, item, op in operations():
        declared = {s.deref(p)["name"] for p in item.get("parameters", []) + op.get("parameters", [])
                    if s.deref(p)["in"] == "path"}
        in_template = set(re.findall(r"\{([^}]+)\}", template))
        if declared != in_template:
            problems.append("%s %s: template has %s, parameters declare %s"
                            % (method.upper(), template, sorted(in_template), sorted(declared)))
    assert not problems, "\n".join(problems)


def test_error_code_list_matches_errors_h():
    listed = {entry["const"]: entry["description"]
              for entry in spec().doc["components"]["schemas"]["ErrorCode"]["oneOf"]}
    table = error_table()
    assert set(listed) == set(table), (set(listed) ^ set(table))
    for code, status in table.items():
        assert listed[code].startswith("%d " % status), (code, status, listed[code])


def test_error_responses_use_codes_of_their_status():
    """Each documented error response allows only codes whose status (errors.h) is the
    response's status, and every 4xx/5xx response is an Error."""
    table = error_table()
    problems = []
    for template, method, item, op in operations():
        for status, resp in op["responses"].items():
            if int(status) < 400:
                continue
            content = spec().deref(resp).get("content", {})
            if set(content) == {"text/html"}:
                continue  # an HTML error page of the browser routes (/chat/<pk>/)
            schema = (content.get("application/json") or {}).get("schema")
            codes = codes_of(schema) if schema else None
            where = "%s %s %s" % (method.upper(), template, status)
            if codes is None:
                problems.append("%s: the body does not narrow `code`" % where)
                continue
            for code in codes:
                if table.get(code) != int(status):
                    problems.append("%s: code %s has status %s in errors.h"
                                    % (where, code, table.get(code)))
    assert not problems, "\n".join(problems)


def test_authenticated_operations_document_401_and_public_ones_do_not_need_it():
    """An operation with security requirements answers 401 without credentials."""
    problems = []
    default = spec().doc.get("security", [])
    for template, method, item, op in operations():
        security = op.get("security", default)
        anonymous_ok = not security or {} in security
        if op.get("x-site-admin"):
            # Site administration answers everyone but a site admin 404, anonymous
            # callers included, so that it does not reveal that it exists.
            if "401" in op["responses"] or "404" not in op["responses"]:
                problems.append("%s %s is x-site-admin: it lists 404, never 401"
                                % (method.upper(), template))
            if not template.startswith("/api/admin/"):
                problems.append("%s %s is x-site-admin outside /api/admin/ (app.c's gate)"
                                % (method.upper(), template))
            continue
        if template.startswith("/api/admin/"):
            problems.append("%s %s: every operation under /api/admin/ is x-site-admin"
                            % (method.upper(), template))
        if not anonymous_ok and "401" not in op["responses"]:
            problems.append("%s %s needs authentication but lists no 401"
                            % (method.upper(), template))
    assert not problems, "\n".join(problems)


def test_writes_with_a_cookie_document_csrf():
    """Unsafe methods that accept the session cookie list csrfToken beside it and a 403."""
    problems = []
    default = spec().doc.get("security", [])
    for template, method, item, op in operations():
        if method in ("get", "head", "options"):
            continue
        # A plain HTML form cannot send the header: its token is a csrf_token field.
        form = (op.get("requestBody", {}).get("content", {})
                .get("application/x-www-form-urlencoded", {}).get("schema", {}))
        in_form = "csrf_token" in form.get("required", [])
        for requirement in op.get("security", default):
            if "sessionCookie" in requirement and "csrfToken" not in requirement and not in_form:
                problems.append("%s %s: sessionCookie without csrfToken"
                                % (method.upper(), template))
        uses_cookie = any("sessionCookie" in r for r in op.get("security", default))
        if uses_cookie and "403" not in op["responses"]:
            problems.append("%s %s: no 403 for a missing CSRF header" % (method.upper(), template))
    assert not problems, "\n".join(problems)
