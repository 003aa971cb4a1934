"""Attachments: upload (multipart/form-data and raw bodies), content-addressed storage,
attaching to messages, access control on download, the serving headers, and
`chatctl gc`, through both front ends. Every failure path checks that no file (stored or
temporary) and no row was left behind."""

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from helpers import auth_headers, wait_until

TIMEOUT = 60
MAX_UPLOAD = 8 * 1024 * 1024  # attachment_max_bytes in the test config (conftest.py)


# ---- helpers ---------------------------------------------------------------------------

def upload_url(api_url):
    return api_url + "/api/chat/attachments/"


def upload_multipart(api_url, user, data, filename="file.bin",
                     content_type="application/octet-stream", extra_fields=None):
    files = {"file": (filename, data, content_type) if content_type else (filename, data)}
    return requests.post(upload_url(api_url), files=files, data=extra_fields or {},
                         headers=auth_headers(user), timeout=TIMEOUT)


def upload_handmade_multipart(api_url, user, data, filename, content_type="text/plain"):
    """A multipart body built byte for byte (requests would escape odd filenames)."""
    boundary = "----chat" + os.urandom(8).hex()
    name = filename.encode() if isinstance(filename, str) else filename
    body = (b"--" + boundary.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data +
            b"\r\n--" + boundary.encode() + b"--\r\n")
    headers = dict(auth_headers(user))
    headers["Content-Type"] = "multipart/form-data; boundary=" + boundary
    return requests.post(upload_url(api_url), data=body, headers=headers, timeout=TIMEOUT)


def upload_raw(api_url, user, data, content_type, filename=None):
    headers = dict(auth_headers(user))
    if content_type is not None:
        headers["Content-Type"] = content_type
    params = {"filename": filename} if filename is not None else None
    return requests.post(upload_url(api_url), data=data, params=params, headers=headers,
                         timeout=TIMEOUT)


def download(api_url, user, att_id):
    return requests.get("%s%d/" % (upload_url(api_url), att_id),
                        headers=auth_headers(user) if user else None, timeout=TIMEOUT)


def assert_error(r, status, code=None):
    assert r.status_code == status, "expected %d, got %d: %s" % (status, r.status_code, r.text)
    body = r.json()
    assert body.get("detail") and body.get("request_id"), body
    if code:
        assert body["code"] == code, body
    return body


def direct_conv(api_url, a, b):
    r = requests.post(api_url + "/api/chat/conversations/", json={"participant_ids": [b["id"]]},
                      headers=auth_headers(a), timeout=TIMEOUT)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def send(api_url, user, conv_id, text="", attachment_ids=None, **extra):
    body = {"text": text}
    if attachment_ids is not None:
        body["attachment_ids"] = attachment_ids
    body.update(extra)
    return requests.post("%s/api/chat/conversations/%d/messages/" % (api_url, conv_id),
                         json=body, headers=auth_headers(user), timeout=TIMEOUT)


def data_dir(servers):
    return Path(servers.var_dir) / "data"


def stored_files(servers):
    root = data_dir(servers) / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temp_files(servers):
    root = data_dir(servers) / "tmp"
    return sorted(root.iterdir()) if root.exists() else []


def rows_of(servers, user):
    return servers.db("SELECT COUNT(*) FROM attachments WHERE uploader_id = %s",
                      (user["id"],))[0][0]


def snapshot(servers, user):
    """What a failed upload must not change."""
    return (stored_files(servers), rows_of(servers, user))


def wait_no_temp_files(servers):
    """Temp files belong to requests in flight; wait for them to finish."""
    wait_until(lambda: not temp_files(servers), 30, what="upload temp files to go away")


def blob_path(servers, sha):
    return data_dir(servers) / "attachments" / sha[:2] / sha[2:4] / sha


def assert_attachment_shape(a, data=None):
    assert set(a) == {"id", "filename", "size", "content_type", "sha256", "url"}, a
    assert isinstance(a["id"], int) and a["id"] > 0
    assert a["url"] == "/api/chat/attachments/%d/" % a["id"]
    if data is not None:
        assert a["size"] == len(data)
        assert a["sha256"] == hashlib.sha256(data).hexdigest()


# ---- uploads ---------------------------------------------------------------------------

def test_multipart_upload_of_5_mib_roundtrips(api_url, servers, make_user):
    alice = make_user("att")
    data = os.urandom(5 * 1024 * 1024)
    r = upload_multipart(api_url, alice, data, filename="holiday video.bin",
                         extra_fields={"note": "ignored"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert_attachment_shape(a, data)
    assert a["filename"] == "holiday video.bin"
    assert a["content_type"] == "application/octet-stream"
    # Stored whole under its hash, never under the user's name.
    path = blob_path(servers, a["sha256"])
    assert path.is_file() and path.stat().st_size == len(data)
    assert not any("holiday" in str(p) for p in stored_files(servers))

    got = download(api_url, alice, a["id"])
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == a["sha256"]
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Cache-Control"].startswith("private")
    cd = got.headers["Content-Disposition"]
    assert cd.startswith("attachment;"), cd
    assert "filename*=UTF-8''holiday%20video.bin" in cd, cd
    wait_no_temp_files(servers)


def test_raw_upload_with_filename_parameter(api_url, servers, make_user):
    alice = make_user("att")
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    r = upload_raw(api_url, alice, data, "image/PNG; charset=binary", filename="Straße 1.png")
    assert r.status_code == 201, r.text
    a = r.json()
    assert_attachment_shape(a, data)
    assert a["content_type"] == "image/png"
    assert a["filename"] == "Straße 1.png"
    got = download(api_url, alice, a["id"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "image/png"
    cd = got.headers["Content-Disposition"]
    assert cd.startswith("inline;"), cd
    assert "filename*=UTF-8''Stra%C3%9Fe%201.png" in cd, cd
    # The ASCII fallback never carries raw non-ASCII bytes or quotes.
    assert 'filename="Stra_e 1.png"' in cd, cd


def test_raw_upload_without_filename_is_named_file(api_url, make_user):
    alice = make_user("att")
    r = upload_raw(api_url, alice, b"hello", "text/plain")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "file"


def test_identical_content_is_stored_once(api_url, servers, make_user):
    alice, bob = make_user("att"), make_user("att")
    data = os.urandom(4096)
    a1 = upload_raw(api_url, alice, data, "application/pdf", "a.pdf").json()
    a2 = upload_multipart(api_url, bob, data, "b.pdf", "application/pdf").json()
    assert a1["id"] != a2["id"] and a1["sha256"] == a2["sha256"]
    same = [p for p in stored_files(servers) if p.name == a1["sha256"]]
    assert same == [blob_path(servers, a1["sha256"])]


def test_path_traversal_filenames_only_change_the_display_name(api_url, servers, make_user):
    alice = make_user("att")
    before = set(stored_files(servers))
    cases = [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil\x01\x7f.txt", "evil.txt"),
        ("/abs/../..", "file"),
        ("  ..hidden  ", "hidden"),
        ("a\u202egnp.exe", "agnp.exe"),
    ]
    for raw, shown in cases:
        data = os.urandom(64)
        r = upload_handmade_multipart(api_url, alice, data, raw)
        assert r.status_code == 201, (raw, r.text)
        a = r.json()
        assert a["filename"] == shown, (raw, a)
        assert blob_path(servers, a["sha256"]).is_file()
    # Exactly the new hashes appeared, all under data/attachments/, nothing elsewhere.
    added = set(stored_files(servers)) - before
    assert len(added) == len(cases)
    assert all(p.name == hashlib.sha256(p.read_bytes()).hexdigest() for p in added)
    assert not (Path(servers.var_dir) / "etc").exists()
    # Also through ?filename= on a raw body.
    r = upload_raw(api_url, alice, b"x" * 10, "text/plain", filename="../../../../tmp/owned")
    assert r.status_code == 201 and r.json()["filename"] == "owned"
    assert not Path("/tmp/owned").exists()


def test_long_filename_is_cut_at_a_character_boundary(api_url, make_user):
    alice = make_user("att")
    r = upload_multipart(api_url, alice, b"abc", filename="é" * 300 + ".txt",
                         content_type="text/plain")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "é" * 200


def test_oversized_upload_is_refused_and_leaves_nothing(api_url, servers, make_user):
    alice = make_user("att")
    before = snapshot(servers, alice)
    body = assert_error(upload_raw(api_url, alice, b"\0" * (MAX_UPLOAD + 1),
                                   "application/octet-stream"), 413, "payload_too_large")
    assert str(MAX_UPLOAD) in body["detail"]
    # Without Content-Length (chunked): the limit holds while streaming.
    def chunks():
        block = b"\1" * 65536
        for _ in range(MAX_UPLOAD // len(block) + 2):
            yield block
    headers = dict(auth_headers(alice), **{"Content-Type": "application/octet-stream"})
    r = requests.post(upload_url(api_url), data=chunks(), headers=headers, timeout=TIMEOUT)
    assert_error(r, 413, "payload_too_large")
    wait_no_temp_files(servers)
    assert snapshot(servers, alice) == before
    # Exactly at the limit is fine.
    r = upload_raw(api_url, alice, os.urandom(MAX_UPLOAD), "application/octet-stream")
    assert r.status_code == 201, r.text
    assert r.json()["size"] == MAX_UPLOAD


def test_wrong_or_missing_content_type_is_415_and_leaves_nothing(api_url, servers, make_user):
    alice = make_user("att")
    before = snapshot(servers, alice)
    assert_error(upload_raw(api_url, alice, b"<script>alert(1)</script>", "text/html"), 415,
                 "unsupported_media_type")
    assert_error(upload_raw(api_url, alice, b"data", None), 415, "unsupported_media_type")
    assert_error(upload_raw(api_url, alice, b"data", "not a type"), 415, "unsupported_media_type")
    assert_error(upload_multipart(api_url, alice, b"<html>", "x.html", "text/html"), 415,
                 "unsupported_media_type")
    wait_no_temp_files(servers)
    assert snapshot(servers, alice) == before


def test_bad_multipart_bodies_are_400(api_url, servers, make_user):
    alice = make_user("att")
    before = snapshot(servers, alice)
    h = dict(auth_headers(alice))
    bad = [
        ("multipart/form-data", b"--x\r\n\r\nabc\r\n--x--"),  # no boundary parameter
        ("multipart/form-data; boundary=x", b"no delimiter at all"),
        ("multipart/form-data; boundary=x",  # truncated: no closing delimiter
         b'--x\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nabc'),
        ("multipart/form-data; boundary=x",  # no file part
         b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc\r\n--x--\r\n'),
        ("multipart/form-data; boundary=x",  # two file parts
         b'--x\r\nContent-Disposition: form-data; name="a"; filename="a"\r\n\r\n1\r\n'
         b'--x\r\nContent-Disposition: form-data; name="b"; filename="b"\r\n\r\n2\r\n--x--'),
        ("multipart/form-data; boundary=" + "b" * 71, b"--" + b"b" * 71),
    ]
    for ctype, body in bad:
        r = requests.post(upload_url(api_url), data=body,
                          headers=dict(h, **{"Content-Type": ctype}), timeout=TIMEOUT)
        assert_error(r, 400, "bad_request")
    r = upload_multipart(api_url, alice, b"", "empty.txt", "text/plain")
    assert_error(r, 422, "validation_error")
    r = upload_handmade_multipart(api_url, alice, b"abc", b"\xff\xfe.txt")
    assert_error(r, 400, "invalid_utf8")
    wait_no_temp_files(servers)
    assert snapshot(servers, alice) == before


def test_upload_needs_authentication(api_url, servers):
    r = requests.post(upload_url(api_url), data=b"abc", headers={"Content-Type": "text/plain"},
                      timeout=TIMEOUT)
    assert_error(r, 401, "not_authenticated")
    wait_no_temp_files(servers)


def _raw_http(api_url, head, body_part):
    """Sends the request head and part of the announced body, then closes the socket."""
    u = urlparse(api_url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    try:
        s.sendall(head.encode() + body_part)
        time.sleep(0.3)  # let the server take what was sent before the connection drops
    finally:
        s.close()


def test_interrupted_upload_leaves_nothing(api_url, servers, make_user):
    alice = make_user("att")
    before = snapshot(servers, alice)
    announced = 3 * 1024 * 1024
    head = ("POST /api/chat/attachments/?filename=cut.bin HTTP/1.1\r\n"
            "Host: localhost\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
            % (alice["token"], announced))
    _raw_http(api_url, head, os.urandom(512 * 1024))
    wait_no_temp_files(servers)
    assert snapshot(servers, alice) == before
    # The server is fine afterwards.
    assert upload_raw(api_url, alice, b"after", "text/plain").status_code == 201


# ---- attaching to messages and access --------------------------------------------------

def test_attach_to_message_then_only_participants_download(api_url, make_user):
    alice, bob, carol = make_user("att"), make_user("att"), make_user("att")
    conv = direct_conv(api_url, alice, bob)
    data = os.urandom(1000)
    a = upload_raw(api_url, alice, data, "application/zip", "x.zip").json()
    # Before it is attached only the uploader sees it.
    assert download(api_url, alice, a["id"]).status_code == 200
    assert_error(download(api_url, bob, a["id"]), 404, "not_found")
    # An empty text is fine with attachments.
    r = send(api_url, alice, conv, "", [a["id"]], client_msg_id="att-1")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["text"] == "" and msg["attachments"] == [a]
    # A retry with the same client_msg_id returns the original, not a conflict.
    r = send(api_url, alice, conv, "", [a["id"]], client_msg_id="att-1")
    assert r.status_code == 200 and r.json()["id"] == msg["id"], r.text
    got = download(api_url, bob, a["id"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "application/zip"
    assert_error(download(api_url, carol, a["id"]), 404, "not_found")
    assert_error(download(api_url, None, a["id"]), 401)
    assert_error(download(api_url, alice, 10 ** 15), 404, "not_found")
    # History carries the attachment too.
    page = requests.get("%s/api/chat/conversations/%d/messages/" % (api_url, conv),
                        headers=auth_headers(bob), timeout=TIMEOUT).json()
    assert [m["attachments"] for m in page["results"] if m["id"] == msg["id"]] == [[a]]


def test_attachment_rules(api_url, servers, make_user):
    alice, bob = make_user("att"), make_user("att")
    conv = direct_conv(api_url, alice, bob)
    a = upload_raw(api_url, alice, b"one", "text/plain").json()
    # Someone else's upload.
    assert_error(send(api_url, bob, conv, "hi", [a["id"]]), 422, "validation_error")
    assert_error(send(api_url, alice, conv, "hi", [10 ** 15]), 422, "validation_error")
    # Repeats, too many, wrong types.
    assert_error(send(api_url, alice, conv, "hi", [a["id"], a["id"]]), 422, "validation_error")
    assert_error(send(api_url, alice, conv, "hi", list(range(1, 12))), 422, "validation_error")
    assert_error(send(api_url, alice, conv, "hi", ["1"]), 400, "invalid_type")
    assert_error(send(api_url, alice, conv, "hi", a["id"]), 400, "invalid_type")
    # Blank text still needs an attachment.
    assert_error(send(api_url, alice, conv, " ", []), 422, "validation_error")
    # None of that attached it.
    assert servers.db("SELECT message_id FROM attachments WHERE id = %s", (a["id"],)) == ((None,),)
    assert send(api_url, alice, conv, "first", [a["id"]]).status_code == 201
    # Only once.
    assert_error(send(api_url, alice, conv, "again", [a["id"]]), 409, "conflict")
    # A failed send (conflict on the second id) attaches nothing: same transaction.
    b = upload_raw(api_url, alice, b"two", "text/plain").json()
    assert_error(send(api_url, alice, conv, "mixed", [b["id"], a["id"]]), 409, "conflict")
    assert servers.db("SELECT message_id FROM attachments WHERE id = %s", (b["id"],)) == ((None,),)
    assert servers.db("SELECT COUNT(*) FROM messages WHERE conversation_id = %s AND text = 'mixed'",
                      (conv,)) == ((0,),)
    # An outsider learns nothing about the conversation.
    carol = make_user("att")
    c = upload_raw(api_url, carol, b"three", "text/plain").json()
    assert_error(send(api_url, carol, conv, "x", [c["id"]]), 404, "not_found")


def test_dangerous_types_are_served_as_downloads(api_url, make_user):
    alice = make_user("att")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    a = upload_raw(api_url, alice, svg, "image/svg+xml", "pic.svg").json()
    assert a["content_type"] == "image/svg+xml"
    got = download(api_url, alice, a["id"])
    assert got.status_code == 200 and got.content == svg
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]


def test_deleted_message_hides_its_attachments(api_url, make_user):
    alice, bob = make_user("att"), make_user("att")
    conv = direct_conv(api_url, alice, bob)
    a = upload_raw(api_url, alice, b"secret", "text/plain").json()
    msg = send(api_url, alice, conv, "see file", [a["id"]]).json()
    r = requests.delete("%s/api/chat/conversations/%d/messages/%d/" % (api_url, conv, msg["id"]),
                        headers=auth_headers(alice), timeout=TIMEOUT)
    assert r.status_code in (200, 204), r.text
    assert_error(download(api_url, bob, a["id"]), 404, "not_found")
    assert_error(download(api_url, alice, a["id"]), 404, "not_found")
    got = requests.get("%s/api/chat/conversations/%d/messages/%d/" % (api_url, conv, msg["id"]),
                       headers=auth_headers(bob), timeout=TIMEOUT).json()
    assert got["deleted"] is True and got["attachments"] == []


# ---- gc --------------------------------------------------------------------------------

def _age_file(path, hours):
    old = time.time() - hours * 3600
    os.utime(path, (old, old))


@pytest.mark.parametrize("api_url", ["httpd"], indirect=True)
def test_gc_removes_stale_uploads_files_and_old_events(api_url, servers, make_user):
    alice, bob = make_user("gc"), make_user("gc")
    conv = direct_conv(api_url, alice, bob)
    stale_only = upload_raw(api_url, alice, os.urandom(100), "text/plain").json()
    shared = os.urandom(100)
    stale_shared = upload_raw(api_url, alice, shared, "text/plain").json()
    kept_shared = upload_raw(api_url, bob, shared, "text/plain").json()
    attached = upload_raw(api_url, alice, os.urandom(100), "text/plain").json()
    fresh = upload_raw(api_url, alice, os.urandom(100), "text/plain").json()
    msg = send(api_url, alice, conv, "x", [attached["id"]]).json()
    ids = [stale_only["id"], stale_shared["id"], kept_shared["id"], attached["id"]]
    servers.db("UPDATE attachments SET created_at = NOW(6) - INTERVAL 25 HOUR WHERE id IN "
               "(%s, %s, %s, %s)", ids)
    servers.db("UPDATE attachments SET created_at = NOW(6) - INTERVAL 23 HOUR WHERE id = %s",
               (kept_shared["id"],))
    for a in (stale_only, stale_shared, attached, fresh):
        _age_file(blob_path(servers, a["sha256"]), 2)
    # An old event of this conversation, and a temp file abandoned by a crash.
    ev = servers.db("SELECT MAX(id) FROM events WHERE conversation_id = %s", (conv,))[0][0]
    servers.db("UPDATE events SET created_at = NOW(6) - INTERVAL 1000 HOUR WHERE id = %s", (ev,))
    tmp = data_dir(servers) / "tmp" / "up-crashed"
    tmp.write_bytes(b"partial")
    _age_file(tmp, 2)

    out = servers.chatctl("gc").stdout
    assert "removed" in out, out

    left = {r[0] for r in servers.db("SELECT id FROM attachments WHERE id IN (%s, %s, %s, %s, %s)",
                                     ids + [fresh["id"]])}
    assert left == {kept_shared["id"], attached["id"], fresh["id"]}
    assert not blob_path(servers, stale_only["sha256"]).exists()
    assert blob_path(servers, stale_shared["sha256"]).exists()  # bob's row still names it
    assert blob_path(servers, attached["sha256"]).exists()
    assert blob_path(servers, fresh["sha256"]).exists()
    assert not tmp.exists()
    assert servers.db("SELECT COUNT(*) FROM events WHERE id = %s", (ev,)) == ((0,),)
    assert download(api_url, bob, attached["id"]).status_code == 200
    assert msg["attachments"][0]["id"] == attached["id"]

    # Deleting bob's row too lets the next gc take the shared file.
    servers.db("UPDATE attachments SET created_at = NOW(6) - INTERVAL 25 HOUR WHERE id = %s",
               (kept_shared["id"],))
    servers.chatctl("gc")
    assert not blob_path(servers, stale_shared["sha256"]).exists()
