"""The systemd units in etc/systemd/: `systemd-analyze verify` prints nothing, the
sandbox is the same in every unit and `systemd-analyze security` keeps its score, the
state directory holds data_dir, and chat-gc.timer runs chat-gc.service hourly.

The units name the /opt/chat layout of docs/DEPLOY.md; verify needs the ExecStart
binaries to exist, so the units are checked as copies that point at this tree's build
(CHAT_TEST_BUILD, as the rest of the suites). The packaged units (paths in /usr/bin)
are verified by test_debian_package.py once the package is installed.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "etc" / "systemd"
BUILD = os.environ.get("CHAT_TEST_BUILD", "asan")
BIN = Path(os.environ.get("CHAT_TEST_BIN_DIR") or REPO / "build" / BUILD)
UNITS = sorted(p.name for p in UNIT_DIR.iterdir() if p.suffix in (".service", ".timer"))
SERVICES = [u for u in UNITS if u.endswith(".service")]

# The exposure systemd-analyze security gives each unit (docs/DEPLOY.md records it).
# Raising it means a hardening line went missing.
MAX_EXPOSURE = 2.0


def systemd_analyze(*args, cwd=None):
    """Runs systemd-analyze and returns (status, stdout + stderr)."""
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is missing (scripts/install-deps.sh installs systemd)"
    r = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def verify_units(paths):
    """Asserts that `systemd-analyze verify` accepts the unit files without a word."""
    status, out = systemd_analyze("verify", *[str(p) for p in paths])
    assert status == 0 and out.strip() == "", "systemd-analyze verify:\n" + out


def exposure(unit_path):
    """The overall exposure level systemd-analyze security gives a unit file."""
    status, out = systemd_analyze("security", "--offline=yes", unit_path.name,
                                  cwd=unit_path.parent)
    m = re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(unit_path.name),
                  out)
    assert status == 0 and m, "systemd-analyze security %s:\n%s" % (unit_path, out)
    return float(m.group(1))


def directives(text, section="Service"):
    """[(key, value)] of one section of a unit file, in order."""
    found, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line:
            key, value = line.split("=", 1)
            found.append((key, value))
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The units with /opt/chat pointing at this tree and its build."""
    for prog in ("chat-api", "chat-httpd", "chat-push", "chat-notify", "chatctl"):
        assert (BIN / prog).is_file(), "%s is not built (make BUILD=%s all)" % (BIN / prog, BUILD)
    out = tmp_path_factory.mktemp("units")
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        text = text.replace("/opt/chat/build/release/", "%s/" % BIN)
        text = text.replace("/opt/chat", str(REPO))
        (out / name).write_text(text)
    return out


def test_every_unit_passes_systemd_analyze_verify(rendered):
    assert {"chat-api.service", "chat-httpd.service", "chat-push.service", "chat-notify.service",
            "chat-gc.service", "chat-gc.timer"} <= set(UNITS)
    verify_units([rendered / u for u in UNITS])


def test_verify_catches_a_broken_unit(rendered, tmp_path):
    """The check above can fail: an unknown key and a missing binary are reported."""
    bad = tmp_path / "chat-broken.service"
    text = (rendered / "chat-push.service").read_text()
    text = text.replace("[Service]\n", "[Service]\nNoSuchKey=1\n", 1)
    text = re.sub(r"^ExecStart=\S+", "ExecStart=%s/no-such-binary" % tmp_path, text,
                  flags=re.M)
    bad.write_text(text)
    status, out = systemd_analyze("verify", str(bad))
    assert "NoSuchKey" in out and "no-such-binary" in out, out


@pytest.mark.parametrize("unit", SERVICES)
def test_hardening_score(rendered, unit):
    assert exposure(rendered / unit) <= MAX_EXPOSURE


def test_every_service_has_the_same_sandbox():
    """chat-push's sandbox lines (from NoNewPrivileges= on) are in every service; the
    ones that need the runtime directory (ReadWritePaths=/run/chat) where it exists."""
    push = directives((UNIT_DIR / "chat-push.service").read_text())
    keys = [k for k, _ in push]
    sandbox = push[keys.index("NoNewPrivileges"):]
    assert len(sandbox) > 20
    for unit in SERVICES:
        mine = directives((UNIT_DIR / unit).read_text())
        has_runtime = ("RuntimeDirectory", "chat") in mine
        for kv in sandbox:
            if kv == ("ReadWritePaths", "/run/chat") and not has_runtime:
                continue
            assert kv in mine, "%s lacks %s=%s" % (unit, *kv)


@pytest.mark.parametrize("unit", ["chat-api.service", "chat-httpd.service",
                                  "chat-gc.service"])
def test_data_dir_is_the_state_directory(unit):
    """ProtectSystem=strict leaves only the runtime and state directories writable; the
    units that write uploads (data_dir = /var/lib/chat) declare the state directory."""
    d = dict(directives((UNIT_DIR / unit).read_text()))
    assert d.get("ProtectSystem") == "strict"
    assert d.get("StateDirectory") == "chat"
    assert d.get("User") == "chat" and d.get("Group") == "chat"


def test_gc_timer_runs_chatctl_gc_hourly():
    timer = dict(directives((UNIT_DIR / "chat-gc.timer").read_text(), "Timer"))
    assert timer.get("OnCalendar") == "hourly"
    assert timer.get("Persistent") == "yes"
    assert timer.get("Unit", "chat-gc.service") == "chat-gc.service"
    assert ("WantedBy", "timers.target") in directives(
        (UNIT_DIR / "chat-gc.timer").read_text(), "Install")
    gc = dict(directives((UNIT_DIR / "chat-gc.service").read_text()))
    assert gc.get("Type") == "oneshot"
    assert re.fullmatch(r"\S+/chatctl --config /etc/chat/chat\.conf gc", gc["ExecStart"])
