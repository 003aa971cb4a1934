"""End-to-end harness: starts the real programs once per session and hands them to the
suites as the `servers` fixture.

Layout under var/test/ (CHAT_TEST_VAR_DIR; recreated each session):
  mysql/, run/, log/     the private MariaDB (scripts/db.sh run var/test --fast)
  run/                   chat-api's FastCGI socket, chat-push's wake socket, nginx's pid
  log/<name>.log         each program's stderr; asan.* / ubsan.* sanitizer reports
  nginx/                 nginx.conf rendered from etc/nginx/nginx-test.conf.in, which
                         includes etc/nginx/chat-locations.conf.in (the deploy config)
  chat.conf              the config file every program reads (CHAT_CONFIG)

Programs come from build/asan (CHAT_TEST_BUILD=release picks build/release,
CHAT_TEST_BIN_DIR=/some/dir any directory). The session
fails at teardown when a program did not exit cleanly on SIGTERM, or left a sanitizer
report, or logged "runtime error:" / AddressSanitizer / LeakSanitizer.
"""

import atexit
import base64
import ctypes
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql
import pytest
import requests

import openapi_check
from helpers import auth_headers as _auth_headers
from helpers import port_open, tail, unique_name, unix_socket_open

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("CHAT_TEST_BUILD", "asan")
BIN = Path(os.environ.get("CHAT_TEST_BIN_DIR") or REPO / "build" / BUILD)
VAR = Path(os.environ.get("CHAT_TEST_VAR_DIR") or REPO / "var" / "test")

# CHAT_TEST_PORT_BASE moves every port, so two sessions (two work trees) can run at once.
HOST = "127.0.0.1"
PORT_BASE = int(os.environ.get("CHAT_TEST_PORT_BASE", "18000"))
HTTPD_PORT = PORT_BASE          # chat-httpd
PUSH_PORT = PORT_BASE + 1       # chat-push
EXTRA_PORT = PORT_BASE + 2      # free for a suite's own extra server (servers.extra_port)
NGINX_PORT = PORT_BASE + 80     # nginx in front of chat-api and chat-push
APACHE_PORT = PORT_BASE + 81    # Apache (mod_proxy_fcgi) in front of the same
LIGHTTPD_PORT = PORT_BASE + 82  # lighttpd (mod_fastcgi) in front of the same
APACHE_FCGID_PORT = PORT_BASE + 83  # Apache starting chat-api itself (mod_fcgid)
APACHE_CGI_PORT = PORT_BASE + 84    # Apache running chat-api as CGI (mod_cgid)
# The production server blocks (etc/nginx/chat.conf, etc/apache/chat.conf): HTTPS with
# HTTP/2 in front of a chat-api configured as in production (cookie_secure = true,
# push_public_url = /ws/, so the page's WebSocket and fallbacks go through the proxy),
# and the plain-HTTP server that redirects to it.
NGINX_TLS_PORT = PORT_BASE + 85
NGINX_REDIRECT_PORT = PORT_BASE + 86
APACHE_TLS_PORT = PORT_BASE + 87
APACHE_REDIRECT_PORT = PORT_BASE + 88

# Every response the suites receive through requests is checked against
# docs/openapi.yaml (tests/e2e/openapi_check.py; CHAT_TEST_OPENAPI=0 switches it off).
openapi_check.install()

STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 30
SANITIZER_MARKERS = ("runtime error:", "AddressSanitizer", "LeakSanitizer")


def _set_child_subreaper():
    """Orphans of our children (e.g. chat-api workers whose master died) re-parent to
    pytest instead of init, so teardown can find and report them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _children_of(pid):
    """(pid, comm, state) of the live processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(entry), comm, fields[0]))
    return found


def _checked_config(argv, check, run):
    """Runs argv with the server's config-check flags (check) and returns argv + run, the
    command that serves; a config the server refuses raises with its own words."""
    r = subprocess.run(argv[:1] + check + argv[1:], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s%s" % (argv[0], " ".join(check), r.stdout, r.stderr))
    return argv + run


class Proc:
    """One program the harness started."""

    def __init__(self, name, argv, env, log_path, ready, timeout=STARTUP_TIMEOUT,
                 extra_logs=(), clean_exits=(0,)):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.ready = ready  # callable -> bool
        self.timeout = timeout
        self.extra_logs = extra_logs  # more logs worth showing when startup fails
        self.clean_exits = clean_exits  # exit statuses after SIGTERM that are not a problem
        self.popen = None

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: the terminal's Ctrl-C reaches pytest only, and teardown
                # stops the programs in order.
                start_new_session=True,
            )
        finally:
            log.close()

    def _logs(self):
        return "".join("\n---- %s:\n%s" % (p, tail(p, 10))
                       for p in (self.log_path, *self.extra_logs))

    def wait_ready(self):
        deadline = time.monotonic() + self.timeout
        while not self.ready():
            if self.popen.poll() is not None:
                raise RuntimeError("%s exited with status %s during startup%s"
                                   % (self.name, self.popen.returncode, self._logs()))
            if time.monotonic() >= deadline:
                raise RuntimeError("%s not ready after %ss%s"
                                   % (self.name, self.timeout, self._logs()))
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and waits. Returns a problem description, or None for a clean exit
        with status 0."""
        if self.popen is None:
            return None
        if self.popen.poll() is not None:
            rc = self.popen.returncode
            self.popen = None
            return None if rc == 0 else "%s had already exited with status %s" % (self.name, rc)
        self.popen.send_signal(sig)
        try:
            rc = self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            self.popen = None
            return "%s did not exit within %ss of %s (killed)" % (
                self.name, STOP_TIMEOUT, signal.Signals(sig).name)
        self.popen = None
        if rc not in self.clean_exits:
            return "%s exited with status %s after %s" % (self.name, rc, signal.Signals(sig).name)
        return None


class Servers:
    """What the `servers` fixture yields. See the module docstring."""

    def __init__(self):
        self.var_dir = VAR
        self.bin_dir = BIN
        self.repo = REPO
        self.run_dir = VAR / "run"
        self.log_dir = VAR / "log"
        self.db_socket = str(self.run_dir / "mysqld.sock")
        self.fcgi_socket = str(self.run_dir / "chat-api.sock")
        self.wake_socket = str(self.run_dir / "chat-push.sock")
        self.httpd_url = "http://%s:%d" % (HOST, HTTPD_PORT)
        self.nginx_url = "http://%s:%d" % (HOST, NGINX_PORT)
        self.apache_url = "http://%s:%d" % (HOST, APACHE_PORT)
        self.lighttpd_url = "http://%s:%d" % (HOST, LIGHTTPD_PORT)
        self.apache_fcgid_url = "http://%s:%d" % (HOST, APACHE_FCGID_PORT)
        self.apache_cgi_url = "http://%s:%d" % (HOST, APACHE_CGI_PORT)
        self.nginx_tls_url = "https://%s:%d" % (HOST, NGINX_TLS_PORT)
        self.apache_tls_url = "https://%s:%d" % (HOST, APACHE_TLS_PORT)
        self.nginx_redirect_url = "http://%s:%d" % (HOST, NGINX_REDIRECT_PORT)
        self.apache_redirect_url = "http://%s:%d" % (HOST, APACHE_REDIRECT_PORT)
        # The chat-api behind the production server blocks, and its self-signed
        # certificate (tls_cert, also requests' CA bundle; tls_spki for Chromium).
        self.site_fcgi_socket = str(self.run_dir / "chat-api-site.sock")
        self.tls_dir = VAR / "tls"
        self.tls_cert = str(self.tls_dir / "cert.pem")
        self.tls_key = str(self.tls_dir / "key.pem")
        self.tls_spki = None
        # chat-api under mod_fcgid and as CGI runs as Apache's user, which must be able
        # to write its data directory (uploads); root's processes use data/.
        self.www_data_dir = VAR / "data-www"
        self.push_url = "http://%s:%d" % (HOST, PUSH_PORT)
        self.ws_url = "ws://%s:%d/ws/" % (HOST, PUSH_PORT)
        self.nginx_ws_url = "ws://%s:%d/ws/" % (HOST, NGINX_PORT)
        self.ws_origin = self.httpd_url
        self.extra_port = EXTRA_PORT
        self.allowed_origins = [
            self.httpd_url, self.nginx_url, self.apache_url, self.lighttpd_url,
            self.apache_fcgid_url, self.apache_cgi_url, self.nginx_tls_url,
            self.apache_tls_url,
            "http://localhost:%d" % HTTPD_PORT, "http://localhost:%d" % NGINX_PORT,
        ]
        self.problems = []  # why the session must fail, gathered during teardown
        self.nginx_error = None  # why the nginx front end is unusable, if it is
        self.front_end_errors = {}  # the same for the other front ends, by name
        self.procs = {}
        self.db_proc = None
        self.env = self._make_env()

    # ---- configuration -------------------------------------------------------------

    def _settings(self):
        return {
            "listen_host": HOST,
            "http_port": str(HTTPD_PORT),
            "push_port": str(PUSH_PORT),
            "push_public_url": ":%d/ws/" % PUSH_PORT,
            "allowed_origins": " ".join(self.allowed_origins),
            "push_wake_sockets": self.wake_socket,
            # chat-api under Apache's mod_fcgid and CGI runs as www-data: its wake-ups
            # are accepted only from the uids listed (docs/protocol.md, Several daemons).
            "push_wake_allowed_users": "www-data" if os.geteuid() == 0 else "",
            "fcgi_socket": self.fcgi_socket,
            # The socket is 0660; Apache's and lighttpd's workers (www-data) connect to it.
            "fcgi_socket_group": "www-data",
            "fcgi_workers": "2",
            "db_host": "",
            "db_socket": self.db_socket,
            "db_user": "chat",
            "db_password": "chat",
            "db_migrate_user": "chat_owner",
            "db_migrate_password": "chat_owner",
            "db_name": "chat",
            "static_dir": str(REPO / "static"),
            "templates_dir": str(REPO / "templates"),
            "i18n_dir": str(REPO / "i18n"),
            "sql_dir": str(REPO / "sql"),
            "password_memlimit_kib": "8192",
            "password_opslimit": "1",
            "log_level": "info",
            "data_dir": str(VAR / "data"),
            # Small enough that the oversized-upload tests send little; nginx's
            # client_max_body_size for the upload location (26m) stays above it.
            "attachment_max_bytes": str(8 * 1024 * 1024),
            # The suites register hundreds of users from 127.0.0.1 and send bursts; the
            # limiter runs on every request but never refuses here.
            # tests/e2e/test_api_ratelimit.py starts its own instances with low limits.
            "rate_auth_per_minute": "100000000",
            "rate_auth_burst": "100000000",
            "rate_login_per_user_per_minute": "100000000",
            "rate_login_per_user_burst": "100000000",
            "rate_read_per_minute": "100000000",
            "rate_read_burst": "100000000",
            "rate_write_per_minute": "100000000",
            "rate_write_burst": "100000000",
            "rate_upload_per_minute": "100000000",
            "rate_upload_burst": "100000000",
            # test_api_abuse_limits.py starts its own instances with low hourly limits.
            "rate_conversations_per_hour": "100000000",
            "rate_invitations_per_hour": "100000000",
            # The suites revoke sessions (logout, expiry and last use set with SQL) and
            # check the next request at once, through whichever worker answers: these
            # servers read the session on every request. test_api_session_cache.py runs
            # one with the shipped default (1 s) and checks that bound.
            "session_cache_ms": "0",
            # chat-notify (tests/e2e/test_webhooks.py): a short offline delay, quick
            # polls and retries, so a receiver that comes back is reached in seconds.
            "notify_offline_delay_s": "2",
            "notify_poll_interval_ms": "100",
            "notify_retry_base_ms": "300",
            "notify_retry_max_s": "2",
            "notify_http_timeout_s": "5",
        }

    def _make_env(self):
        # Start from the caller's environment without any CHAT_* that could point the
        # programs somewhere else.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        env["CHAT_CONFIG"] = str(VAR / "chat.conf")
        for name, value in self._settings().items():
            env["CHAT_" + name.upper()] = value
        env["ASAN_OPTIONS"] = (
            "detect_leaks=1:abort_on_error=0:log_path=%s" % (self.log_dir / "asan"))
        env["UBSAN_OPTIONS"] = (
            "print_stacktrace=1:halt_on_error=1:log_path=%s" % (self.log_dir / "ubsan"))
        return env

    def log_path(self, name):
        """The stderr log of program `name` (e.g. "chat-push")."""
        return self.log_dir / ("%s.log" % name)

    # ---- database ------------------------------------------------------------------

    def db_connect(self, autocommit=False):
        """A new pymysql connection to the test database (autocommit off by default);
        the caller closes it."""
        return pymysql.connect(
            unix_socket=self.db_socket, user="chat", password="chat", database="chat",
            charset="utf8mb4", autocommit=autocommit)

    def db(self, sql, params=None):
        """Runs one statement with autocommit; returns the rows as a tuple of tuples
        (empty for statements without a result)."""
        conn = self.db_connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return tuple(cur.fetchall())
        finally:
            conn.close()

    # ---- lifecycle -----------------------------------------------------------------

    def _check_binaries(self):
        missing = [b for b in ("chat-httpd", "chat-api", "chat-push", "chat-notify", "chatctl")
                   if not os.access(BIN / b, os.X_OK)]
        if missing:
            raise RuntimeError("missing %s in %s; run `make BUILD=%s all` first"
                               % (", ".join(missing), BIN, BUILD))
        for port in (HTTPD_PORT, PUSH_PORT, NGINX_PORT, APACHE_PORT, LIGHTTPD_PORT,
                     APACHE_FCGID_PORT, APACHE_CGI_PORT, NGINX_TLS_PORT, NGINX_REDIRECT_PORT,
                     APACHE_TLS_PORT, APACHE_REDIRECT_PORT):
            if port_open(HOST, port):
                raise RuntimeError("port %d is already in use (a previous test session "
                                   "still running?)" % port)

    def _prepare_dirs(self):
        if VAR.exists():
            shutil.rmtree(VAR)
        for d in (self.run_dir, self.log_dir, VAR / "nginx" / "tmp"):
            d.mkdir(parents=True)
        with open(VAR / "chat.conf", "w") as f:
            f.write("# Written by tests/e2e/conftest.py for the end-to-end tests.\n")
            for name, value in self._settings().items():
                f.write("%s = %s\n" % (name, value))

    def _start_db(self):
        log = open(self.log_dir / "db.sh.log", "ab")
        try:
            self.db_proc = subprocess.Popen(
                [str(REPO / "scripts/db.sh"), "run", str(VAR), "--fast"],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()
        r = subprocess.run(
            [str(REPO / "scripts/db.sh"), "wait", str(VAR), "--pid=%d" % self.db_proc.pid],
            cwd=REPO, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("MariaDB did not start:\n%s\n%s"
                               % (r.stderr, tail(self.log_dir / "db.sh.log")))

    def chatctl(self, *args, check=True, env=None):
        """Runs build/<BUILD>/chatctl with the test environment; returns the
        CompletedProcess (text output)."""
        r = subprocess.run([str(BIN / "chatctl"), *args], cwd=REPO, env=env or self.env,
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("chatctl %s failed with status %d:\n%s%s"
                               % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def _http_ready(self, url):
        def ready():
            try:
                r = requests.get(url + "/api/auth/me", timeout=2)
            except requests.RequestException:
                return False
            # 502/504 from nginx: the backend is not there yet.
            return r.status_code not in (502, 503, 504)
        return ready

    def _render(self, template, out, values):
        text = (REPO / template).read_text()
        for key, value in values.items():
            text = text.replace("@%s@" % key, value)
        left = re.findall(r"@[A-Z_]+@", text)
        assert not left, "unrendered placeholders %s in %s" % (left, out)
        out.write_text(text)

    def _make_certificate(self):
        """A self-signed certificate for 127.0.0.1 and localhost; requests trusts it
        (REQUESTS_CA_BUNDLE) and Chromium accepts its key (tls_spki)."""
        self.tls_dir.mkdir(exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", self.tls_key, "-out", self.tls_cert],
                       check=True, capture_output=True)
        os.chmod(self.tls_key, 0o644)  # Apache's and nginx's workers read it as root here
        pub = subprocess.run(["openssl", "x509", "-in", self.tls_cert, "-pubkey", "-noout"],
                             check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                             check=True, capture_output=True).stdout
        self.tls_spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
        os.environ["REQUESTS_CA_BUNDLE"] = self.tls_cert
        os.environ["CHAT_TEST_TLS_SPKI"] = self.tls_spki  # for browser_helpers.py

    @staticmethod
    def _production_config(path, replacements):
        """The text of a production config from etc/ with each (old, new) replaced; an
        old text that is not there fails, so the test follows the file as it is."""
        text = (REPO / path).read_text()
        for old, new in replacements:
            assert old in text, "%s no longer contains %r" % (path, old)
            text = text.replace(old, new)
        return text

    def _nginx_production_sites(self, nginx_dir):
        """etc/nginx/chat.conf, as an operator installs it, on the test's addresses and
        certificate, with the location blocks rendered for the production chat-api."""
        self._render("etc/nginx/chat-locations.conf.in", nginx_dir / "snippets" / "chat-locations.conf", {
            "STATIC_DIR": str(REPO / "static"),
            "FCGI_SOCKET": self.site_fcgi_socket,
            "PUSH_ADDR": "%s:%d" % (HOST, PUSH_PORT),
        })
        text = self._production_config("etc/nginx/chat.conf", [
            ("    listen 80;\n", "    listen %s:%d;\n" % (HOST, NGINX_REDIRECT_PORT)),
            ("    listen [::]:80;\n", ""),
            ("    listen 443 ssl http2;\n", "    listen %s:%d ssl http2;\n" % (HOST, NGINX_TLS_PORT)),
            ("    listen [::]:443 ssl http2;\n", ""),
            ("/etc/letsencrypt/live/chat.example.org/fullchain.pem", self.tls_cert),
            ("/etc/letsencrypt/live/chat.example.org/privkey.pem", self.tls_key),
            ("/var/log/nginx/chat.access.log", str(self.log_dir / "nginx-tls-access.log")),
            ("/var/log/nginx/chat.error.log", str(self.log_dir / "nginx-tls-error.log")),
        ])
        (nginx_dir / "sites").mkdir(exist_ok=True)
        (nginx_dir / "sites" / "chat.conf").write_text(text)

    def nginx_config(self, var_dir, fcgi_socket, port):
        """Renders the test nginx.conf around the production location blocks into
        var_dir/nginx (var_dir holds run/, log/ and nginx/tmp/), checks it with nginx -t
        and returns the argv that runs it."""
        nginx_dir = var_dir / "nginx"
        (nginx_dir / "snippets").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "etc/nginx/chat-security-headers.conf", nginx_dir / "snippets")
        self._render("etc/nginx/chat-locations.conf.in", nginx_dir / "chat-locations.conf", {
            "STATIC_DIR": str(REPO / "static"),
            "FCGI_SOCKET": fcgi_socket,
            "PUSH_ADDR": "%s:%d" % (HOST, PUSH_PORT),
        })
        user = ""
        if os.geteuid() == 0:
            user = "user root root;"
        self._render("etc/nginx/nginx-test.conf.in", nginx_dir / "nginx.conf", {
            "VAR_DIR": str(var_dir),
            "USER": user,
            "LISTEN": "%s:%d" % (HOST, port),
        })
        (nginx_dir / "sites").mkdir(exist_ok=True)
        if var_dir == VAR:
            self._nginx_production_sites(nginx_dir)
        conf = str(nginx_dir / "nginx.conf")
        argv = ["nginx", "-p", str(nginx_dir), "-c", conf,
                "-e", str(var_dir / "log" / "nginx-error.log")]
        return _checked_config(argv, ["-t", "-q"], [])

    def _apache_config(self):
        apache_dir = VAR / "apache"
        (apache_dir / "fcgid").mkdir(parents=True, exist_ok=True)
        self.www_data_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            for d in (apache_dir / "fcgid", self.www_data_dir):
                shutil.chown(d, "www-data", "www-data")
            # Sanitizer reports of chat-api running as www-data land here too.
            os.chmod(self.log_dir, 0o1777)
        site = apache_dir / "chat-site.conf"
        self._render("etc/apache/chat-site.conf.in", site, {
            "STATIC_DIR": str(REPO / "static"),
            "PUSH_ADDR": "%s:%d" % (HOST, PUSH_PORT),
        })
        apps = {}
        for name in ("proxy-fcgi", "fcgid", "cgi"):
            apps[name] = apache_dir / ("chat-app-%s.conf" % name)
            self._render("etc/apache/chat-app-%s.conf.in" % name, apps[name], {
                "FCGI_SOCKET": self.fcgi_socket,
                "CHAT_API": str(BIN / "chat-api"),
                "CHAT_CONFIG": str(VAR / "chat.conf"),
            })
        site_app = apache_dir / "chat-app-site.conf"
        self._render("etc/apache/chat-app-proxy-fcgi.conf.in", site_app,
                     {"FCGI_SOCKET": self.site_fcgi_socket})
        vhosts = apache_dir / "chat-production.conf"
        vhosts.write_text(self._production_config("etc/apache/chat.conf", [
            ("<VirtualHost *:80>", "<VirtualHost %s:%d>" % (HOST, APACHE_REDIRECT_PORT)),
            ("<VirtualHost *:443>", "<VirtualHost %s:%d>" % (HOST, APACHE_TLS_PORT)),
            ("/etc/letsencrypt/live/chat.example.org/fullchain.pem", self.tls_cert),
            ("/etc/letsencrypt/live/chat.example.org/privkey.pem", self.tls_key),
            ("Include /etc/apache2/chat-site.conf", "Include %s" % site),
            ("Include /etc/apache2/chat-app.conf", "Include %s" % site_app),
        ]))
        extra = {"CHAT_DATA_DIR": str(self.www_data_dir),
                 "ASAN_OPTIONS": self.env["ASAN_OPTIONS"],
                 "UBSAN_OPTIONS": self.env["UBSAN_OPTIONS"]}
        conf = apache_dir / "apache.conf"
        self._render("etc/apache/apache-test.conf.in", conf, {
            "VAR_DIR": str(VAR),
            "LISTEN": "%s:%d" % (HOST, APACHE_PORT),
            "LISTEN_FCGID": "%s:%d" % (HOST, APACHE_FCGID_PORT),
            "LISTEN_CGI": "%s:%d" % (HOST, APACHE_CGI_PORT),
            "SITE_CONF": str(site),
            "APP_PROXY_FCGI": str(apps["proxy-fcgi"]),
            "APP_FCGID": str(apps["fcgid"]),
            "APP_CGI": str(apps["cgi"]),
            "FCGID_ENV": "\n".join('    FcgidInitialEnv %s "%s"' % kv for kv in extra.items()),
            "CGI_ENV": "\n".join('    SetEnv %s "%s"' % kv for kv in extra.items()),
            "LISTEN_TLS": "%s:%d" % (HOST, APACHE_TLS_PORT),
            "LISTEN_REDIRECT": "%s:%d" % (HOST, APACHE_REDIRECT_PORT),
            "LOG_DIR": str(self.log_dir),
            "PRODUCTION_VHOSTS": str(vhosts),
        })
        return _checked_config(["apache2", "-f", str(conf)], ["-t"], ["-DFOREGROUND"])

    def _lighttpd_config(self):
        d = VAR / "lighttpd"
        for sub in ("empty", "tmp", "run"):
            (d / sub).mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0 and sub != "empty":
                shutil.chown(d / sub, "www-data", "www-data")
        site = d / "chat.conf"
        self._render("etc/lighttpd/chat.conf.in", site, {
            "STATIC_DIR": str(REPO / "static"),
            "FCGI_SOCKET": self.fcgi_socket,
            "PUSH_HOST": HOST,
            "PUSH_PORT": str(PUSH_PORT),
        })
        conf = d / "lighttpd.conf"
        self._render("etc/lighttpd/lighttpd-test.conf.in", conf, {
            "VAR_DIR": str(VAR),
            "HOST": HOST,
            "PORT": str(LIGHTTPD_PORT),
            "USER": 'server.username = "www-data"' if os.geteuid() == 0 else "",
            "SITE_CONF": str(site),
        })
        return _checked_config(["lighttpd", "-f", str(conf)], ["-tt"], ["-D"])

    def _add(self, name, argv, ready, env=None, **kw):
        p = Proc(name, argv, env or self.env, self.log_path(name), ready, **kw)
        self.procs[name] = p
        p.start()
        p.wait_ready()
        return p

    def _apache_ready(self):
        return all(self._http_ready(url)() for url in
                   (self.apache_url, self.apache_fcgid_url, self.apache_cgi_url,
                    self.apache_tls_url))

    def _push_ready(self):
        return port_open(HOST, PUSH_PORT) and os.path.exists(self.wake_socket)

    def _emergency_stop(self):
        """atexit: if pytest dies without tearing the session down, do not leave the
        programs running."""
        popens = [p.popen for p in self.procs.values()] + [self.db_proc]
        for popen in popens:
            if popen is not None and popen.poll() is None:
                popen.kill()
                popen.wait()

    def start(self):
        atexit.register(self._emergency_stop)
        _set_child_subreaper()
        self._check_binaries()
        self._prepare_dirs()
        self._start_db()
        self.chatctl("migrate")
        self._add("chat-push", [str(BIN / "chat-push")], self._push_ready)
        self.start_notify()
        self._add("chat-api", [str(BIN / "chat-api"), "--workers", "2"],
                  lambda: unix_socket_open(self.fcgi_socket))
        self._add("chat-httpd", [str(BIN / "chat-httpd")], self._http_ready(self.httpd_url))
        self._make_certificate()
        site_env = dict(self.env, CHAT_FCGI_SOCKET=self.site_fcgi_socket,
                        CHAT_PUSH_PUBLIC_URL="/ws/", CHAT_COOKIE_SECURE="true")
        self._add("chat-api-site", [str(BIN / "chat-api"), "--workers", "2"],
                  lambda: unix_socket_open(self.site_fcgi_socket), env=site_env)
        # chat-api is up by now, so nginx answers at once unless the FastCGI side is
        # broken. Then the nginx front end is marked failed (its tests fail with the
        # reason) and the chat-httpd half of the suites still runs.
        try:
            self._add("nginx", self.nginx_config(VAR, self.fcgi_socket, NGINX_PORT),
                      lambda: (self._http_ready(self.nginx_url)()
                               and self._http_ready(self.nginx_tls_url)()),
                      timeout=15, extra_logs=(self.log_dir / "nginx-error.log",
                                              self.log_path("chat-api")))
        except RuntimeError as e:
            self.nginx_error = str(e)
            self.problems.append("nginx front end did not work: " + str(e))
        try:
            self._add("apache2", self._apache_config(), self._apache_ready,
                      timeout=30, extra_logs=(self.log_dir / "apache-error.log",))
        except RuntimeError as e:
            for name in ("apache", "apache_fcgid", "apache_cgi", "apache_tls"):
                self.front_end_errors[name] = str(e)
            self.problems.append("Apache front end did not work: " + str(e))
        try:
            self._add("lighttpd", self._lighttpd_config(), self._http_ready(self.lighttpd_url),
                      timeout=15, extra_logs=(VAR / "lighttpd" / "run" / "error.log",),
                      # lighttpd exits with 1 when a connection was still open as it
                      # stopped (server.c: rc stays 1 unless srv->conns is empty): a
                      # proxied SSE stream whose client left is only noticed at its
                      # next keep-alive.
                      clean_exits=(0, 1))
        except RuntimeError as e:
            self.front_end_errors["lighttpd"] = str(e)
            self.problems.append("lighttpd front end did not work: " + str(e))

    def spawn(self, name, argv, extra_env=None, ready=None):
        """Starts another program under the harness (stopped and checked at teardown
        like the others) with the test environment plus extra_env. argv[0] may be a
        bare program name from build/<BUILD>/. Returns the Proc once ready() is true."""
        env = dict(self.env)
        env.update(extra_env or {})
        if "/" not in argv[0] and (BIN / argv[0]).exists():
            argv = [str(BIN / argv[0])] + list(argv[1:])
        return self._add(name, argv, ready or (lambda: True), env=env)

    def spawn_httpd(self, name, port, settings):
        """A chat-httpd of its own on port, with the test environment plus settings
        (CHAT_* variables), stopped and checked like the others; its base URL."""
        self.spawn(name, ["chat-httpd"], dict(settings, CHAT_HTTP_PORT=str(port)),
                   ready=lambda: port_open(HOST, port))
        return "http://%s:%d" % (HOST, port)

    def stop_proc(self, name):
        """Stops one program started by the harness with SIGTERM; a dirty exit is
        recorded and fails the session at teardown."""
        p = self.procs.pop(name, None)
        if p is not None:
            problem = p.stop()
            if problem:
                self.problems.append(problem)

    def notify_active_count(self, name="chat-notify"):
        """How many times chat-notify `name` (its log) said it took the lease and works."""
        path = self.log_path(name)
        return path.read_text(errors="replace").count("notify: active") if path.exists() else 0

    def start_notify(self, name="chat-notify", wait_active=True):
        """Starts a chat-notify under `name`; returns once it is active (wait_active) or
        running. Another one stands by until the active one stops."""
        before = self.notify_active_count(name)
        ready = (lambda: self.notify_active_count(name) > before) if wait_active else (lambda: True)
        return self._add(name, [str(BIN / "chat-notify")], ready)

    def restart_db(self, down_seconds=0):
        """Stops the test MariaDB (SIGTERM, like a service restart), waits down_seconds,
        and starts it again on the same data directory; returns once it answers."""
        if self.db_proc is not None:
            self.db_proc.send_signal(signal.SIGTERM)
            self.db_proc.wait(60)
            self.db_proc = None
        time.sleep(down_seconds)
        self._start_db()

    def restart_push(self):
        """Stops chat-push with SIGTERM and starts it again with the same settings;
        returns once it accepts connections."""
        self.stop_proc("chat-push")
        self._add("chat-push", [str(BIN / "chat-push")], self._push_ready)

    def stop(self):
        # The web servers first (they front the others), then the app servers, then push.
        fronts = ("nginx", "apache2", "lighttpd")
        order = list(fronts) + [n for n in self.procs if n not in fronts + ("chat-push",)]
        order.append("chat-push")
        for name in order:
            if name in self.procs:
                self.stop_proc(name)
        self._reap_orphans()
        if self.db_proc is not None:
            self.db_proc.send_signal(signal.SIGTERM)
            try:
                self.db_proc.wait(60)
            except subprocess.TimeoutExpired:
                self.db_proc.kill()
                self.db_proc.wait()
                self.problems.append("MariaDB did not stop within 60s")
            self.db_proc = None

    def _reap_orphans(self):
        """Programs' descendants that outlived them (re-parented to us because we are a
        subreaper) are a bug: report, kill and reap them."""
        ours = {"mariadbd"} | {"chat-api", "chat-httpd", "chat-push", "chat-notify", "chatctl", "nginx",
                               "apache2", "lighttpd"}
        db_pid = self.db_proc.pid if self.db_proc else None
        for pid, comm, state in _children_of(os.getpid()):
            if pid == db_pid or comm not in ours:
                continue
            if state != "Z":
                self.problems.append("%s (pid %d) was still running after its parent "
                                     "exited" % (comm, pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def sanitizer_problems(self):
        """Sanitizer reports and crash markers in var/test/log, as text (empty: none)."""
        out = []
        for path in sorted(self.log_dir.iterdir()):
            if path.name.startswith(("asan.", "ubsan.")):
                out.append("==== %s\n%s" % (path, tail(path, 80)))
            elif path.suffix == ".log" and path.name != "mariadb.log":
                text = path.read_text(errors="replace")
                hits = [m for m in SANITIZER_MARKERS if m in text]
                if hits:
                    lines = [ln for ln in text.splitlines()
                             if any(m in ln for m in SANITIZER_MARKERS)]
                    out.append("==== %s contains %s:\n%s"
                               % (path, ", ".join(hits), "\n".join(lines[:40])))
        return "\n".join(out)


@pytest.fixture(scope="session")
def servers():
    s = Servers()
    try:
        s.start()
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()
    report = s.sanitizer_problems()
    if s.problems or report:
        msg = "\n".join(s.problems) + ("\n" + report if report else "")
        sys.stderr.write("\n==== end-to-end teardown problems ====\n%s\n" % msg)
        pytest.fail("programs did not shut down cleanly or sanitizers reported errors:\n"
                    + msg, pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def openapi_coverage():
    """Writes which documented responses the session exercised to
    <var dir>/openapi-coverage.txt."""
    yield
    if openapi_check.seen:
        VAR.mkdir(parents=True, exist_ok=True)
        (VAR / "openapi-coverage.txt").write_text(openapi_check.coverage_report())


@pytest.fixture(params=["httpd", "nginx"])
def api_url(request, servers):
    """Base URL of one front end; every test using it runs through chat-httpd and
    through nginx + chat-api (FastCGI)."""
    if request.param == "nginx" and servers.nginx_error:
        pytest.fail("nginx front end unusable: " + servers.nginx_error, pytrace=False)
    return servers.httpd_url if request.param == "httpd" else servers.nginx_url


# Every front end a deployment can put before the application (docs/DEPLOY.md). The API
# conformance suite (test_openapi_conformance.py) runs through each of them; the other
# API suites use api_url (chat-httpd and nginx), so their time does not grow with this.
FRONT_ENDS = {
    "httpd": lambda s: s.httpd_url,
    "nginx": lambda s: s.nginx_url,
    "apache": lambda s: s.apache_url,
    "apache_fcgid": lambda s: s.apache_fcgid_url,
    "apache_cgi": lambda s: s.apache_cgi_url,
    "lighttpd": lambda s: s.lighttpd_url,
    "nginx_tls": lambda s: s.nginx_tls_url,
    "apache_tls": lambda s: s.apache_tls_url,
}


def _front_end(servers, name):
    """Base URL of front end `name`; one that did not start fails the test with why."""
    if name in ("nginx", "nginx_tls") and servers.nginx_error:
        pytest.fail("nginx front end unusable: " + servers.nginx_error, pytrace=False)
    if name in servers.front_end_errors:
        pytest.fail("%s front end unusable: %s" % (name, servers.front_end_errors[name]),
                    pytrace=False)
    return FRONT_ENDS[name](servers)


@pytest.fixture(params=list(FRONT_ENDS))
def front_end_url(request, servers):
    """Base URL of one of FRONT_ENDS."""
    return _front_end(servers, request.param)


# The browser suites open the page through chat-httpd (as `make run` does) and through
# the production server blocks of nginx and Apache (HTTPS, HTTP/2, cookie_secure, the
# WebSocket and its fallbacks through the proxy).
PAGE_FRONT_ENDS = ["httpd", "nginx_tls", "apache_tls"]


@pytest.fixture(params=PAGE_FRONT_ENDS)
def page_url(request, servers):
    """Base URL the browser opens the page at: one of PAGE_FRONT_ENDS."""
    return _front_end(servers, request.param)


@pytest.fixture
def make_user(servers):
    """make_user(prefix="u", password=None, display_name=None) registers a fresh user
    through POST /api/auth/register on chat-httpd and returns
    {id, username, password, token, display_name}."""

    def make(prefix="u", password=None, display_name=None):
        username = unique_name(prefix)
        password = password or "pw-" + os.urandom(8).hex()
        body = {"username": username, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        r = requests.post(servers.httpd_url + "/api/auth/register", json=body, timeout=30)
        assert r.status_code == 201, "register %s: %s %s" % (username, r.status_code, r.text)
        data = r.json()
        user = data["user"]
        return {
            "id": user["id"],
            "username": user["username"],
            "password": password,
            "token": data["token"],
            "display_name": user["display_name"],
        }

    return make


@pytest.fixture
def auth_headers():
    """The helpers.auth_headers function: auth_headers(user) -> bearer headers."""
    return _auth_headers
