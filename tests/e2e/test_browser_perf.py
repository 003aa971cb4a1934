"""Page weight and time to first paint of /chat/<pk>/ with 50 messages, measured in
headless Chromium (docs/PERFORMANCE.md records a run). The figures go to
<var dir>/page-perf.txt and the test output (run pytest with -s to see them); the test
asserts that the 50 messages are rendered by the server and that paint entries exist,
never a duration.

    CHAT_TEST_BIN_DIR=build/release /usr/bin/python3 -m pytest -q -s tests/e2e/test_browser_perf.py
"""

import gzip
import re
import statistics
from pathlib import Path

import requests

from browser_helpers import browsers, direct_chat, login_with_cookie, say, wait  # noqa: F401

LOADS = 9


def test_first_paint_and_page_weight(servers, make_user, browsers):
    alice = make_user("alice", display_name="Alice")
    bob = make_user("bob", display_name="Bob")
    conv = direct_chat(servers, alice, bob)
    for i in range(50):
        say(servers, alice if i % 2 else bob, conv,
            "message %d: the quick brown fox jumps over the lazy dog, https://example.com/%d" % (i, i))
    base = servers.httpd_url
    d = browsers()
    login_with_cookie(d, base, alice, "/chat/%d/" % conv)

    paints, fcps, dcls = [], [], []
    for _ in range(LOADS):
        d.get(base + "/chat/%d/" % conv)
        wait(d).until(lambda x: x.execute_script(
            "return performance.getEntriesByType('paint').length >= 2"))
        entries = d.execute_script(
            "const p = Object.fromEntries(performance.getEntriesByType('paint')"
            ".map(e => [e.name, e.startTime]));"
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [p['first-paint'], p['first-contentful-paint'], n.domContentLoadedEventEnd,"
            " document.querySelectorAll('#messages .message').length];")
        paints.append(entries[0])
        fcps.append(entries[1])
        dcls.append(entries[2])
        assert entries[3] == 50

    cookies = {c["name"]: c["value"] for c in d.get_cookies()}
    html = requests.get(base + "/chat/%d/" % conv, cookies=cookies, timeout=10).content
    assert len(re.findall(rb'class="message[ "]', html)) == 50  # server-rendered
    sizes = {"HTML (/chat/<pk>/, 50 messages)": html}
    for name in ("chat.js", "chat-client.js", "chat.css"):
        sizes[name] = (Path(servers.repo) / "static" / name).read_bytes()
    lines = ["%-34s %7d bytes, %6d gzip -6" % (k, len(v), len(gzip.compress(v, 6)))
             for k, v in sizes.items()]
    total = sum(len(v) for v in sizes.values())
    total_gz = sum(len(gzip.compress(v, 6)) for v in sizes.values())
    lines.append("%-34s %7d bytes, %6d gzip -6" % ("total", total, total_gz))
    lines.append("first-paint median of %d loads: %.1f ms (min %.1f, max %.1f)"
                 % (LOADS, statistics.median(paints), min(paints), max(paints)))
    lines.append("first-contentful-paint median: %.1f ms; DOMContentLoaded median: %.1f ms"
                 % (statistics.median(fcps), statistics.median(dcls)))
    report = "\n".join(lines) + "\n"
    print("\n" + report)
    (Path(servers.var_dir) / "page-perf.txt").write_text(report)
    assert all(p > 0 for p in paints)
