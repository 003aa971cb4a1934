"""The Debian package chat-server, end to end: `make deb`'s build (scripts/build-deb.sh)
passes lintian without errors; dpkg -i creates the system user and the directories,
installs the config, the data files and the units (which systemd-analyze verifies), and
its postinst migrates only when the database is configured and answers, without ever
failing; the installed programs, started from /usr/bin as user chat with the installed
/etc/chat/chat.conf (no systemd here: CHAT_* variables move ports and sockets), serve
the page and the API and push a REST message over a WebSocket; chatctl migrate and gc
work from /usr/bin; dpkg --purge leaves none of the package's files.

This suite installs the package on this machine (as root; the machine is a throwaway
one) and does not use the `servers` fixture: it has its own MariaDB (scripts/db.sh) and
programs under var/deb-test/ on ports CHAT_TEST_PORT_BASE+60..+69. The tests run in
order and share one install.
"""

import asyncio
import json
import os
import pwd
import grp
import shutil
import signal
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import websockets

from helpers import port_open, tail, unique_name, unix_socket_open, wait_until
from test_systemd_units import MAX_EXPOSURE, exposure, verify_units

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var" / "deb-test"
DB_VAR = VAR / "db"
DB_SOCKET = DB_VAR / "run" / "mysqld.sock"
HOST = "127.0.0.1"
PORT_BASE = int(os.environ.get("CHAT_TEST_PORT_BASE", "18000"))
HTTPD_PORT = PORT_BASE + 60
PUSH_PORT = PORT_BASE + 61

PKG = "chat-server"
CONF = Path("/etc/chat/chat.conf")
ENVFILE = Path("/etc/chat/chat.env")
PROGRAMS = ("chat-api", "chat-httpd", "chat-push", "chat-notify", "chatctl")
UNITS = ("chat-api.service", "chat-httpd.service", "chat-push.service", "chat-notify.service",
         "chat-gc.service", "chat-gc.timer")
UNIT_DIR = Path("/lib/systemd/system")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root")


def sh(*argv, check=True, env=None, timeout=300):
    """Runs argv; returns the CompletedProcess (stdout and stderr merged)."""
    r = subprocess.run(list(argv), cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, "%s exited %d:\n%s" % (" ".join(argv), r.returncode, r.stdout)
    return r


def installed():
    r = sh("dpkg-query", "-W", "-f=${Status}", PKG, check=False)
    return "install ok installed" in r.stdout or "config-files" in r.stdout


def purge():
    return sh("dpkg", "--purge", PKG)


def write_envfile(**settings):
    """/etc/chat/chat.env with these CHAT_* settings (mode 0640 root:chat, as postinst)."""
    ENVFILE.write_text("".join("%s=%s\n" % kv for kv in settings.items()))
    os.chown(ENVFILE, 0, grp.getgrnam("chat").gr_gid)
    os.chmod(ENVFILE, 0o640)


def read_envfile():
    env = {}
    for line in ENVFILE.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def as_chat_env(extra=None):
    """The environment a unit gives its program: no CHAT_* of ours, chat.env, extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "ASAN", "UBSAN"))}
    env["HOME"] = "/var/lib/chat"
    env.update(read_envfile())
    env.update(extra or {})
    return env


def run_as_chat(*argv, env=None, timeout=120):
    return subprocess.run(["runuser", "-u", "chat", "--", *argv], cwd="/usr/share/chat",
                          env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def db(sql, *args):
    import pymysql
    conn = pymysql.connect(unix_socket=str(DB_SOCKET), user="chat_owner", password="chat_owner",
                           database="chat", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def tables():
    return {row[0] for row in db("SHOW TABLES")}


def terminate(popen, timeout):
    """SIGTERM, then SIGKILL after timeout seconds; returns the exit status, or a note
    that the process had to be killed."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
            return "killed after %d s" % timeout
    return popen.returncode


class State:
    """What the ordered tests hand on to each other."""
    deb = None
    changes = None
    lintian = ""
    files = []
    install_output = ""


@pytest.fixture(scope="module")
def package():
    """Builds the package, starts the private MariaDB, and at the end purges the package
    (if a test left it installed) and stops the database."""
    if VAR.exists():
        shutil.rmtree(VAR)
    (VAR / "log").mkdir(parents=True)
    if installed():
        purge()
    # A chat user left by an earlier run of this suite goes, so that postinst's
    # creation of it is tested; any other account of that name is left alone.
    try:
        if pwd.getpwnam("chat").pw_gecos.startswith("chat server"):
            sh("deluser", "--system", "--quiet", "chat")
            if "chat" in {g.gr_name for g in grp.getgrall()}:
                sh("delgroup", "--system", "--quiet", "chat")
    except KeyError:
        pass

    t0 = time.monotonic()
    build = sh("scripts/build-deb.sh", timeout=600)
    State.deb = Path(REPO / build.stdout.strip().splitlines()[-1])
    assert State.deb.name.startswith(PKG + "_") and State.deb.is_file(), build.stdout[-3000:]
    State.changes = next(State.deb.parent.glob(PKG + "_*.changes"))
    (VAR / "log" / "build.log").write_text(build.stdout)
    print("deb built in %.1fs" % (time.monotonic() - t0))

    log = open(VAR / "log" / "db.log", "ab")
    mariadb = subprocess.Popen([str(REPO / "scripts/db.sh"), "run", str(DB_VAR), "--fast"],
                               cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        sh(str(REPO / "scripts/db.sh"), "wait", str(DB_VAR), "--pid=%d" % mariadb.pid)
        yield State
    finally:
        if installed():
            purge()
        terminate(mariadb, 60)


def test_lintian_finds_no_errors(package):
    r = sh("lintian", "--no-tag-display-limit", str(package.changes), check=False)
    package.lintian = r.stdout
    (VAR / "log" / "lintian.txt").write_text(r.stdout)
    tags = [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:", "I:")]
    errors = [l for l in tags if l.startswith("E:")]
    assert not errors, "lintian errors:\n" + r.stdout
    # lintian exits 1 for errors only (warnings do not fail it by default).
    assert r.returncode == 0, r.stdout
    print("lintian:\n" + "\n".join(tags))


def test_install_creates_user_directories_and_units(package):
    r = sh("dpkg", "-i", str(package.deb))
    package.install_output = r.stdout
    # Nothing is configured yet: postinst says what to do and does not fail.
    assert "no database password" in r.stdout and "chatctl --config /etc/chat/chat.conf migrate" \
        in r.stdout, r.stdout
    assert "schema up to date" not in r.stdout
    package.files = [Path(p) for p in sh("dpkg-query", "-L", PKG).stdout.split()]

    user = pwd.getpwnam("chat")
    assert user.pw_uid < 1000, "chat is not a system user: %r" % (user,)
    assert user.pw_dir == "/var/lib/chat" and user.pw_shell == "/usr/sbin/nologin"
    assert grp.getgrgid(user.pw_gid).gr_name == "chat"

    def owner_mode(path):
        st = os.stat(path)
        return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, \
            stat.S_IMODE(st.st_mode)

    assert owner_mode("/etc/chat") == ("root", "chat", 0o750)
    assert owner_mode("/var/lib/chat") == ("chat", "chat", 0o750)
    assert owner_mode(ENVFILE) == ("root", "chat", 0o640)
    for prog in PROGRAMS:
        assert os.access("/usr/bin/" + prog, os.X_OK), prog
    for d in ("templates", "static", "sql", "i18n"):
        src = sorted(p.name for p in (REPO / d).iterdir())
        assert sorted(p.name for p in (Path("/usr/share/chat") / d).iterdir()) == src, d

    conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", PKG).stdout
    assert str(CONF) in conffiles, conffiles
    conf = dict(l.split(" = ", 1) for l in CONF.read_text().splitlines()
                if l and not l.startswith("#") and " = " in l)
    example = sh("/usr/bin/chatctl", "config", "example", env={"CHAT_CONFIG": "/dev/null"}).stdout
    assert len(conf) == sum(1 for l in example.splitlines() if " = " in l and l[0] != "#")
    assert conf["static_dir"] == "/usr/share/chat/static"
    assert conf["templates_dir"] == "/usr/share/chat/templates"
    assert conf["i18n_dir"] == "/usr/share/chat/i18n"
    assert conf["sql_dir"] == "/usr/share/chat/sql"
    assert conf["data_dir"] == "/var/lib/chat"
    assert conf["fcgi_socket"] == "/run/chat/chat-api.sock"
    assert conf["push_wake_sockets"] == "/run/chat/chat-push.sock"
    assert conf["db_password"].strip() == "" and conf["db_migrate_user"] == "chat_owner"

    for unit in UNITS:
        text = (UNIT_DIR / unit).read_text()
        assert "/opt/chat" not in text, unit
    api = (UNIT_DIR / "chat-api.service").read_text()
    assert "ExecStart=/usr/bin/chat-api --config /etc/chat/chat.conf\n" in api
    assert "ExecStartPre=/usr/bin/chatctl --config /etc/chat/chat.conf migrate\n" in api
    assert "ExecStart=/usr/bin/chatctl --config /etc/chat/chat.conf gc\n" in \
        (UNIT_DIR / "chat-gc.service").read_text()
    # No unit was enabled (there is no systemd here to start one).
    assert not list(Path("/etc/systemd/system").rglob("chat-*"))


def test_installed_units_pass_systemd_analyze(package):
    verify_units([UNIT_DIR / u for u in UNITS])
    for unit in UNITS:
        if unit.endswith(".service"):
            assert exposure(UNIT_DIR / unit) <= MAX_EXPOSURE, unit


def test_postinst_migrates_only_when_configured_and_reachable(package):
    assert "schema_migrations" not in tables()
    # A password but no database: the install goes on and says so.
    write_envfile(CHAT_DB_SOCKET=VAR / "no-such.sock", CHAT_DB_PASSWORD="chat",
                  CHAT_DB_MIGRATE_PASSWORD="chat_owner")
    r = sh("dpkg", "-i", str(package.deb))
    assert "MariaDB does not answer" in r.stdout, r.stdout
    # The database answers but refuses the password: reported, not fatal.
    write_envfile(CHAT_DB_SOCKET=DB_SOCKET, CHAT_DB_PASSWORD="chat",
                  CHAT_DB_MIGRATE_PASSWORD="wrong")
    r = sh("dpkg", "-i", str(package.deb))
    assert "chatctl migrate failed" in r.stdout, r.stdout
    assert "schema_migrations" not in tables()
    # Configured and reachable: postinst applies every migration, as user chat.
    write_envfile(CHAT_DB_SOCKET=DB_SOCKET, CHAT_DB_PASSWORD="chat",
                  CHAT_DB_MIGRATE_PASSWORD="chat_owner")
    r = sh("dpkg", "-i", str(package.deb))
    assert "schema up to date" in r.stdout, r.stdout
    migrations = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    assert len(db("SELECT version FROM schema_migrations")) == len(migrations)
    # chatctl migrate from the installed path, as the units run it: nothing left to do.
    r = run_as_chat("/usr/bin/chatctl", "--config", str(CONF), "migrate", env=as_chat_env())
    assert r.returncode == 0, r.stdout
    assert len(db("SELECT version FROM schema_migrations")) == len(migrations)


class Program:
    def __init__(self, name, extra_env):
        self.name = name
        self.log = VAR / "log" / (name + ".log")
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                ["/usr/bin/" + name, "--config", str(CONF)], cwd="/usr/share/chat",
                env=as_chat_env(extra_env), user="chat", group="chat", extra_groups=[],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def alive(self):
        assert self.popen.poll() is None, "%s exited %s:\n%s" % (
            self.name, self.popen.returncode, tail(self.log))
        return True

    def stop(self):
        return terminate(self.popen, 30)


def test_installed_programs_serve_and_push(package):
    run = VAR / "run"
    run.mkdir(exist_ok=True)
    chat = pwd.getpwnam("chat")
    os.chown(run, chat.pw_uid, chat.pw_gid)
    # User chat must reach the test database's socket, as it reaches /run/mysqld.
    r = run_as_chat("test", "-w", str(DB_SOCKET))
    assert r.returncode == 0, "user chat cannot reach %s (a parent directory without o+x?)" \
        % DB_SOCKET
    wake = run / "chat-push.sock"
    env = {
        "CHAT_LISTEN_HOST": HOST,
        "CHAT_HTTP_PORT": str(HTTPD_PORT),
        "CHAT_PUSH_PORT": str(PUSH_PORT),
        "CHAT_PUSH_WAKE_SOCKETS": str(wake),
        "CHAT_FCGI_SOCKET": str(run / "chat-api.sock"),
        "CHAT_PUSH_PUBLIC_URL": ":%d/ws/" % PUSH_PORT,
        "CHAT_ALLOWED_ORIGINS": "http://%s:%d" % (HOST, HTTPD_PORT),
        "CHAT_PASSWORD_MEMLIMIT_KIB": "8192",
    }
    procs = [Program("chat-push", env)]
    try:
        wait_until(lambda: procs[0].alive() and port_open(HOST, PUSH_PORT) and wake.exists(),
                   30, what="chat-push on port %d" % PUSH_PORT)
        procs.append(Program("chat-httpd", env))
        wait_until(lambda: procs[1].alive() and port_open(HOST, HTTPD_PORT), 30,
                   what="chat-httpd on port %d" % HTTPD_PORT)
        procs.append(Program("chat-api", env))
        wait_until(lambda: procs[2].alive() and unix_socket_open(run / "chat-api.sock"), 30,
                   what="chat-api's FastCGI socket")
        smoke(procs)
        # Retention from the installed path, as chat-gc.service runs it.
        r = run_as_chat("/usr/bin/chatctl", "--config", str(CONF), "gc", env=as_chat_env())
        assert r.returncode == 0 and r.stdout.startswith("gc: removed"), r.stdout
    finally:
        statuses = {p.name: p.stop() for p in reversed(procs)}
    assert statuses == {p.name: 0 for p in procs}, statuses


def smoke(procs):
    url = "http://%s:%d" % (HOST, HTTPD_PORT)
    users = []
    for prefix in ("deba", "debb"):
        body = {"username": unique_name(prefix), "password": "pw-" + os.urandom(8).hex()}
        r = requests.post(url + "/api/auth/register", json=body, timeout=30)
        assert r.status_code == 201, r.text
        users.append(r.json())
    a, b = users
    auth_a = {"Authorization": "Bearer " + a["token"]}
    auth_b = {"Authorization": "Bearer " + b["token"]}
    r = requests.post(url + "/api/chat/conversations/", headers=auth_a, timeout=30,
                      json={"participant_ids": [b["user"]["id"]]})
    assert r.status_code == 201, r.text
    conv = r.json()["id"]

    # The page comes from /usr/share/chat/templates, its assets from .../static.
    r = requests.get(url + "/chat/", headers=auth_a, timeout=30)
    assert r.status_code == 200 and "<html" in r.text.lower(), r.text[:500]
    # Its catalogs from /usr/share/chat/i18n.
    r = requests.get(url + "/chat/", headers=dict(auth_a, **{"Accept-Language": "es"}), timeout=30)
    assert r.status_code == 200 and '<html lang="es">' in r.text, r.text[:500]
    r = requests.get(url + "/static/chat.css", timeout=30)
    assert r.status_code == 200 and r.content == (REPO / "static" / "chat.css").read_bytes()

    # An upload lands in data_dir, /var/lib/chat, written by user chat.
    payload = b"uploaded through the installed chat-httpd " + os.urandom(8).hex().encode()
    r = requests.post(url + "/api/chat/attachments/?filename=note.txt", data=payload,
                      headers=dict(auth_a, **{"Content-Type": "text/plain"}), timeout=30)
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    blob = Path("/var/lib/chat/attachments") / sha[:2] / sha[2:4] / sha
    assert blob.read_bytes() == payload
    assert pwd.getpwuid(blob.stat().st_uid).pw_name == "chat"

    async def scenario():
        ws = await websockets.connect("ws://%s:%d/ws/" % (HOST, PUSH_PORT), open_timeout=10,
                                      extra_headers=auth_b)
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello" and hello["user"]["id"] == b["user"]["id"], hello
            text = "from the package " + uuid.uuid4().hex
            r = requests.post(url + "/api/chat/conversations/%d/messages/" % conv,
                              headers=auth_a, timeout=30,
                              json={"text": text, "client_msg_id": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 10
            while True:
                left = deadline - time.monotonic()
                assert left > 0, "no message.created on the WebSocket within 10 s"
                frame = json.loads(await asyncio.wait_for(ws.recv(), left))
                if frame["type"] == "message.created":
                    break
            assert frame["conversation_id"] == conv
            assert frame["data"]["id"] == r.json()["id"] and frame["data"]["text"] == text
        finally:
            await ws.close()

    asyncio.run(scenario())
    for p in procs:
        p.alive()


def test_purge_leaves_no_files(package):
    files = [f for f in package.files if f.is_file()]
    assert Path("/usr/bin/chat-push") in files and CONF in files
    purge()
    assert not installed()
    left = [str(f) for f in files if f.exists()]
    assert not left, "left after purge: %s" % left
    for d in ("/etc/chat", "/var/lib/chat", "/usr/share/chat", "/usr/share/doc/chat-server"):
        assert not os.path.exists(d), d
    overrides = sh("dpkg-statoverride", "--list").stdout
    assert "/etc/chat" not in overrides and "/var/lib/chat" not in overrides, overrides
    # The system user stays (Debian practice; docs/DEPLOY.md), owning nothing the
    # package put in place.
    uid = pwd.getpwnam("chat").pw_uid
    owned = sh("find", "/etc", "/var/lib", "/usr/share", "/lib/systemd", "-xdev", "-uid",
               str(uid), "-print", check=False).stdout.split()
    assert not owned, owned
