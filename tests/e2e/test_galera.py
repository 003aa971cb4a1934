"""The chat on a 3-node MariaDB Galera cluster (scripts/galera.sh; docs/SCALING.md): two
FastCGI API hosts behind nginx, each on a different node, three push daemons, each
tailing a different node, writers on all three nodes at once (the two API hosts, and
`message.send` over the socket of the daemon on node 3, which stores on its own node),
and clients on every daemon. Galera hands out ids with a step of 3 and an offset per
node, so the event log has permanent gaps and rows become visible out of id order: the
daemons' readers must still lose nothing and route nothing wrongly.

The cluster and its programs are started once for this module, beside the session's own
servers (which these tests do not use), on ports from CHAT_TEST_PORT_BASE + 100."""

import asyncio
import json
import subprocess
import threading
import time
import uuid

import pytest
import requests
import websockets

import conftest
from helpers import port_open, unix_socket_open
from test_push import Client

HOST = "127.0.0.1"
BASE = conftest.PORT_BASE + 100
NODES = (1, 2, 3)
TIMEOUT = 30
DELIVERY_TIMEOUT = 60


class Galera:
    """The cluster and the chat programs on it: api[0], api[1] (nginx + chat-api on nodes
    1 and 2) and push[0..2] (chat-push on nodes 1, 2 and 3)."""

    def __init__(self, servers):
        self.servers = servers
        self.var = servers.var_dir / "galera"
        self.script = str(servers.repo / "scripts" / "galera.sh")
        self.wake = [str(self.var / ("push-%d.sock" % n)) for n in NODES]
        self.push_ports = [BASE + 40 + n for n in NODES]
        self.api_ports = [BASE + 50 + n for n in (1, 2)]
        self.api = ["http://%s:%d" % (HOST, p) for p in self.api_ports]
        self.push = ["ws://%s:%d/ws/" % (HOST, p) for p in self.push_ports]
        self.names = []

    def socket(self, node):
        return str(self.var / ("node%d" % node) / "mysqld.sock")

    def galera(self, *args):
        subprocess.run([self.script, args[0], str(self.var), *map(str, args[1:])], check=True,
                       timeout=300)

    def env(self, node):
        # Every program reads with wsrep_sync_wait = 1, as docs/SCALING.md tells operators
        # to. Rate limiting is off here: its token-bucket write on every request would make
        # a GET wait for a node's read lock too, and the read-your-writes test could no
        # longer tell whether the read itself waited.
        return {"CHAT_DB_SOCKET": self.socket(node), "CHAT_DB_HOST": "",
                "CHAT_PUSH_WAKE_SOCKETS": " ".join(self.wake),
                "CHAT_DATA_DIR": str(self.var / "data"), "CHAT_DB_WSREP_SYNC_WAIT": "1",
                "CHAT_RATE_LIMIT_ENABLED": "false"}

    def start_push(self, i):
        node = NODES[i]
        env = dict(self.env(node), CHAT_PUSH_PORT=str(self.push_ports[i]),
                   CHAT_PUSH_WAKE_BIND=self.wake[i])
        name = "chat-push-galera-%d" % node
        self.servers.spawn(name, ["chat-push"], env,
                           ready=lambda: port_open(HOST, self.push_ports[i]))
        if name not in self.names:
            self.names.append(name)

    def start(self):
        self.var.mkdir(parents=True, exist_ok=True)
        self.galera("start", BASE)
        env = dict(self.servers.env, **self.env(1))
        self.servers.chatctl("migrate", env=env)
        for i in range(3):
            self.start_push(i)
        for i, node in enumerate((1, 2)):
            d = self.var / ("api-%d" % node)
            for sub in ("run", "log", "nginx/tmp"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            sock = str(d / "run" / "chat-api.sock")
            name = "chat-api-galera-%d" % node
            self.servers.spawn(name, ["chat-api", "--workers", "2"],
                               dict(self.env(node), CHAT_FCGI_SOCKET=sock),
                               ready=lambda: unix_socket_open(sock))
            self.names.append(name)
            self.servers.spawn("nginx-galera-%d" % node,
                               self.servers.nginx_config(d, sock, self.api_ports[i]),
                               ready=lambda: port_open(HOST, self.api_ports[i]))
            self.names.append("nginx-galera-%d" % node)

    def stop(self):
        for name in reversed(self.names):
            self.servers.stop_proc(name)
        self.galera("stop")

    def sql(self, node, statement):
        out = subprocess.run(["mariadb", "--no-defaults", "-S", self.socket(node), "-uroot",
                              "-Nse", statement, "chat"], check=True, capture_output=True,
                             text=True, timeout=60)
        return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def galera(servers):
    g = Galera(servers)
    try:
        g.start()
    except BaseException:
        g.stop()
        raise
    yield g
    g.stop()


def metrics(port):
    """The plain counters and gauges of a daemon's /metrics, by name."""
    r = requests.get("http://%s:%d/metrics" % (HOST, port), timeout=TIMEOUT)
    assert r.status_code == 200
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#") and "{" not in line.split(" ")[0]:
            name, value = line.split(" ")[:2]
            out[name] = float(value)
    return out


def register(api, prefix):
    name = "%s%s" % (prefix, uuid.uuid4().hex[:10])
    r = requests.post(api + "/api/auth/register", timeout=TIMEOUT,
                      json={"username": name, "password": "password-" + name})
    assert r.status_code == 201, r.text
    return {"id": r.json()["user"]["id"], "token": r.json()["token"], "username": name}


def auth(user):
    return {"Authorization": "Bearer " + user["token"]}


CONFLICTS = []  # 503 database_conflict answers the clients got (after the server's retries)


def post(api, user, conv, text, client_msg_id):
    """POSTs a message. Galera refuses one of two transactions that changed the same
    conversation row on two nodes at once (a certification conflict); chat-api runs the
    request again itself, and only when that keeps conflicting does the client get 503
    database_conflict and send again with the same client_msg_id, as a real client does."""
    for _ in range(20):
        r = requests.post("%s/api/chat/conversations/%d/messages/" % (api, conv), timeout=TIMEOUT,
                          json={"text": text, "client_msg_id": client_msg_id}, headers=auth(user))
        if r.status_code == 201:
            return r.json()["id"]
        assert r.status_code == 503 and r.json()["code"] == "database_conflict", r.text
        CONFLICTS.append(r.json())
    raise AssertionError("POST kept failing with 503")


async def connect(url, user):
    ws = await websockets.connect(url, extra_headers=auth(user), open_timeout=10,
                                  max_size=2 ** 24)
    c = Client(ws)
    c.hello = await c.recv()
    assert c.hello["type"] == "hello", c.hello
    return c


def scene(galera):
    """Nine users (registered through both API hosts), three groups of four that
    overlap and three direct chats; returns (users, {conv: set(member ids)})."""
    users = [register(galera.api[i % 2], "g%d" % i) for i in range(9)]
    convs = {}
    for owner, others in ((0, (1, 2, 3)), (3, (4, 5, 6)), (6, (7, 8, 0))):
        r = requests.post(galera.api[owner % 2] + "/api/chat/conversations/", timeout=TIMEOUT,
                          headers=auth(users[owner]),
                          json={"participant_ids": [users[o]["id"] for o in others],
                                "is_group": True, "name": "g%d" % owner})
        assert r.status_code == 201, r.text
        convs[r.json()["id"]] = {users[owner]["id"]} | {users[o]["id"] for o in others}
    for a, b in ((1, 5), (2, 7), (4, 8)):
        r = requests.post(galera.api[b % 2] + "/api/chat/conversations/", timeout=TIMEOUT,
                          headers=auth(users[a]), json={"participant_ids": [users[b]["id"]]})
        assert r.status_code == 201, r.text
        convs[r.json()["id"]] = {users[a]["id"], users[b]["id"]}
    return users, convs


def expected_messages(galera, convs):
    """{conv: [message ids in event-id order]} as node 1 sees them once every node has
    applied everything (wsrep_sync_wait)."""
    rows = galera.sql(1, "SET SESSION wsrep_sync_wait = 1; SELECT conversation_id, "
                         "JSON_VALUE(payload, '$.id') FROM events WHERE type = 'message.created' "
                         "AND conversation_id IN (%s) ORDER BY id" % ",".join(map(str, convs)))
    out = {conv: [] for conv in convs}
    for conv, mid in rows:
        out[int(conv)].append(int(mid))
    return out


async def collect(client, want, deadline):
    """Receives message.created frames until every id in want (a set) has arrived or the
    deadline passes; returns [(conversation_id, message_id, event_id)] in arrival order."""
    got, seen = [], set()
    loop = asyncio.get_running_loop()
    while not want <= seen:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            frame = await client.recv(left)
        except asyncio.TimeoutError:
            break
        if frame["type"] == "message.created":
            got.append((frame["conversation_id"], frame["data"]["id"], frame["event_id"]))
            seen.add(frame["data"]["id"])
    return got


def wanted(user, convs, expected):
    """The ids of the messages user must receive."""
    return {m for c, ids in expected.items() if user["id"] in convs[c] for m in ids}


async def connect_all(galera, users):
    """One client per user, spread over the three daemons."""
    return [await connect(galera.push[i % 3], u) for i, u in enumerate(users)]


async def receive_all(galera, users, convs, clients):
    """What every client received of what it must: (expected, received)."""
    expected = expected_messages(galera, convs)
    deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT
    received = [await collect(client, wanted(user, convs, expected), deadline)
                for user, client in zip(users, clients)]
    return expected, received


def check_deliveries(users, convs, expected, received):
    """Zero lost, zero misrouted, each conversation in order (the first arrival of each
    message, by event id), duplicates bounded. Returns the number of duplicates."""
    duplicates = 0
    for user, frames in zip(users, received):
        mine = {c for c, members in convs.items() if user["id"] in members}
        assert {c for c, _, _ in frames} <= mine, "misrouted to user %d" % user["id"]
        for conv in mine:
            ids = [m for c, m, _ in frames if c == conv]
            first = list(dict.fromkeys(ids))
            assert set(first) == set(expected[conv]), (
                "user %d, conversation %d: lost %s" % (user["id"], conv,
                                                       sorted(set(expected[conv]) - set(first))))
            events = {m: e for c, m, e in frames if c == conv}
            order = [events[m] for m in first]
            assert order == sorted(order), "user %d, conversation %d out of order" % (
                user["id"], conv)
            duplicates += len(ids) - len(first)
    return duplicates


def test_writers_on_every_node_lose_and_misroute_nothing(galera):
    before = [metrics(galera.push_ports[i]) for i in range(3)]
    del CONFLICTS[:]
    users, convs = scene(galera)
    conv_list = sorted(convs)
    by_id = {u["id"]: u for u in users}
    per_writer = 40
    ws_retries = []

    writer_errors = []

    def rest_writer(api):
        try:
            for k in range(per_writer):
                conv = conv_list[k % len(conv_list)]
                sender = by_id[sorted(convs[conv])[k % len(convs[conv])]]
                post(api, sender, conv, "rest %d via %s" % (k, api), uuid.uuid4().hex)
        except Exception as e:  # a thread's exception is otherwise only a warning
            writer_errors.append(e)

    async def scenario():
        clients = await connect_all(galera, users)
        # The socket writer: message.send through the daemon on node 3, from senders
        # connected there for this purpose.
        senders = {u["id"]: await connect(galera.push[2], u) for u in users}
        threads = [threading.Thread(target=rest_writer, args=(api,)) for api in galera.api]
        for t in threads:
            t.start()
        for k in range(per_writer):
            conv = conv_list[(k + 3) % len(conv_list)]
            sender = senders[sorted(convs[conv])[k % len(convs[conv])]]
            cmid = uuid.uuid4().hex
            for attempt in range(20):
                await sender.send({"type": "message.send", "conversation_id": conv,
                                   "text": "ws %d" % k, "client_msg_id": cmid})
                reply = await sender.wait_for(
                    lambda f: f.get("client_msg_id") == cmid and f["type"] in ("message.sent", "error"))
                if reply["type"] == "message.sent":
                    break
                # A certification conflict with a write on another node: send again after
                # a pause, as the page does.
                assert reply["code"] == "database_conflict", reply
                ws_retries.append(reply)
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("message.send kept failing: %r" % ws_retries[-3:])
        await asyncio.get_running_loop().run_in_executor(None, lambda: [t.join() for t in threads])
        if writer_errors:
            raise writer_errors[0]
        expected, received = await receive_all(galera, users, convs, clients)
        assert sum(len(v) for v in expected.values()) == 3 * per_writer
        duplicates = check_deliveries(users, convs, expected, received)
        assert duplicates <= 3 * per_writer, duplicates
        for c in clients + list(senders.values()):
            await c.close()
        return duplicates

    duplicates = asyncio.run(scenario())
    # The figures docs/SCALING.md quotes (pytest -s shows them).
    stats = [metrics(galera.push_ports[i]) for i in range(3)]
    print("\ngalera: %d messages, %d duplicate deliveries, %d REST and %d message.send "
          "conflicts that reached the client; per daemon (events read, gaps open, gaps "
          "abandoned, tail statements, of them only for gaps, gap ids re-read, conflicts "
          "retried, DB reconnects): %s"
          % (3 * per_writer, duplicates, len(CONFLICTS), len(ws_retries),
             [tuple(m[k] - b[k] for k in (
                 "chat_push_events_read_total", "chat_push_gaps_open",
                 "chat_push_gaps_abandoned_total", "chat_push_tail_statements_total",
                 "chat_push_gap_rereads_total",
                 "chat_push_gap_ids_reread_total", "chat_push_db_conflicts_total",
                 "chat_push_db_connects_total")) for m, b in zip(stats, before)]))
    for m, b in zip(stats, before):
        assert m["chat_push_gaps_dropped_total"] == 0  # the gap set never overflowed
        # A certification conflict on the daemon's own write is retried on the same
        # connection: no daemon reconnected during the run.
        assert m["chat_push_db_connects_total"] == b["chat_push_db_connects_total"]


def test_a_node_killed_and_rejoining_loses_nothing(galera):
    """SIGKILL node 2 (its API host and daemon keep running and fail over to nothing:
    they answer 503 and reconnect), keep writing through node 1, restart node 2, and
    every client, also those on node 2's daemon, gets every message."""
    users, convs = scene(galera)
    conv_list = sorted(convs)
    by_id = {u["id"]: u for u in users}

    async def scenario():
        clients = await connect_all(galera, users)
        loop = asyncio.get_running_loop()

        def writes(tag, count):
            slowest = 0.0
            for k in range(count):
                conv = conv_list[k % len(conv_list)]
                t0 = time.monotonic()
                post(galera.api[0], by_id[sorted(convs[conv])[0]], conv, "%s %d" % (tag, k),
                     uuid.uuid4().hex)
                slowest = max(slowest, time.monotonic() - t0)
            return slowest
        await loop.run_in_executor(None, writes, "before", 10)
        galera.galera("kill", 2)
        stall = await loop.run_in_executor(None, writes, "during", 20)
        t0 = time.monotonic()
        galera.galera("node", BASE, 2)
        galera.galera("wait", 2)
        rejoin = time.monotonic() - t0
        await loop.run_in_executor(None, writes, "after", 10)
        expected, received = await receive_all(galera, users, convs, clients)
        check_deliveries(users, convs, expected, received)
        # The figures docs/SCALING.md quotes: the commit stall until the cluster drops the
        # dead node, and the restart until the node is synced again (IST).
        print("\ngalera node kill: slowest POST through node 1 after the kill %.2f s; node 2 "
              "restarted and synced in %.2f s" % (stall, rejoin))
        for c in clients:
            await c.close()

    asyncio.run(scenario())


def test_a_daemon_killed_mid_burst_its_clients_resume_elsewhere(galera):
    """SIGKILL the daemon on node 3 while messages flow; its clients reconnect to the
    daemon on node 1 with ?last_event_id= their last event and get the rest."""
    users, convs = scene(galera)
    conv_list = sorted(convs)
    by_id = {u["id"]: u for u in users}

    async def scenario():
        clients = await connect_all(galera, users)
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def writes():
            k = 0
            while not stop.is_set() or k < 30:
                conv = conv_list[k % len(conv_list)]
                post(galera.api[k % 2], by_id[sorted(convs[conv])[0]], conv, "burst %d" % k,
                     uuid.uuid4().hex)
                k += 1
        writer = loop.run_in_executor(None, writes)
        await asyncio.sleep(0.5)
        name = "chat-push-galera-3"
        proc = galera.servers.procs[name]
        proc.popen.kill()
        proc.popen.wait()
        killed = time.monotonic()
        galera.servers.procs.pop(name)
        stop.set()
        await writer
        expected = expected_messages(galera, convs)
        deadline = loop.time() + DELIVERY_TIMEOUT
        received, resumed = [], []
        for i, (user, client) in enumerate(zip(users, clients)):
            want = wanted(user, convs, expected)
            frames = []
            if i % 3 == 2:
                # Everything before the kill that arrived, then a resume on node 1's daemon.
                try:
                    while True:
                        f = await client.recv(2)
                        if f["type"] == "message.created":
                            frames.append((f["conversation_id"], f["data"]["id"], f["event_id"]))
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    pass
                last = max([e for _, _, e in frames], default=client.hello.get("last_event_id", 0))
                client = await connect(galera.push[0] + "?last_event_id=%d" % last, user)
                want -= {m for _, m, _ in frames}
                before = len(frames)
                frames += await collect(client, want, deadline)
                replayed = [m for _, m, _ in frames[before:] if m in {x for _, x, _ in frames[:before]}]
                resumed.append((time.monotonic() - killed, len(replayed)))
            else:
                frames += await collect(client, want, deadline)
            received.append(frames)
            await client.close()
        check_deliveries(users, convs, expected, received)
        # The figures docs/SCALING.md quotes: for each client of the killed daemon, the time
        # from the kill until it had everything (its 2 s read-until-silence included), and
        # how many events the resume window replayed that it already had.
        print("\ngalera daemon kill: resumed clients (seconds to complete, replayed "
              "duplicates): %s" % [("%.2f" % t, d) for t, d in resumed])
        galera.start_push(2)

    asyncio.run(scenario())


def test_a_read_on_another_host_sees_a_write_just_made(galera):
    """A POST through API host 1 (node 1), then a GET of the message through API host 2
    (node 2) while node 2 is held behind: FLUSH TABLES WITH READ LOCK on node 2 stops it
    applying replicated writes, so a plain read there cannot see the message yet (the
    control below shows it). chat-api reads with wsrep_sync_wait = 1, so the GET waits
    until node 2 has applied everything committed before it began, and answers 200 with
    the message once the lock is released, never 404."""
    a, b = register(galera.api[0], "ryw"), register(galera.api[0], "ryw")
    r = requests.post(galera.api[0] + "/api/chat/conversations/", timeout=TIMEOUT,
                      headers=auth(a), json={"participant_ids": [b["id"]]})
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    # Both hosts have served these users once, so nothing below is a first use.
    assert requests.get(galera.api[1] + "/api/auth/me", headers=auth(b),
                        timeout=TIMEOUT).status_code == 200
    hold_s = 2
    holder = subprocess.Popen(
        ["mariadb", "--no-defaults", "--unbuffered", "-S", galera.socket(2), "-uroot", "-Nse",
         "FLUSH TABLES WITH READ LOCK; SELECT 'held'; SELECT SLEEP(%d); UNLOCK TABLES" % hold_s],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mid = post(galera.api[0], a, conv, "read me on node 2", uuid.uuid4().hex)
        # The control: node 2 has not applied the write yet.
        assert galera.sql(2, "SELECT COUNT(*) FROM messages WHERE id = %d" % mid) == [["0"]]
        r = requests.get("%s/api/chat/conversations/%d/messages/%d/" % (galera.api[1], conv, mid),
                         headers=auth(b), timeout=TIMEOUT)
        assert holder.poll() is not None, "the GET answered while node 2 was still held"
        assert r.status_code == 200, r.text
        assert r.json()["text"] == "read me on node 2"
    finally:
        holder.wait(timeout=60)


def test_one_notifier_works_on_the_cluster_and_sends_each_notification_once(galera):
    """Two chat-notify on different nodes: one holds the lease (GET_LOCK is refused on
    Galera), the other stands by; messages written through both API hosts notify the
    offline member once each, and after the active one stops the other takes over."""
    from webhook_helpers import Receiver, verify
    servers = galera.servers
    receiver = Receiver(BASE + 60)
    receiver.start()
    env1 = dict(servers.env, **galera.env(1))
    out = servers.chatctl("webhook", "add", receiver.url, env=env1).stdout
    secret = out.split("secret: ")[1].split()[0]
    names = ["chat-notify-galera-1", "chat-notify-galera-3"]
    try:
        servers.spawn(names[0], ["chat-notify"], galera.env(1),
                      ready=lambda: servers.notify_active_count(names[0]) > 0)
        servers.spawn(names[1], ["chat-notify"], galera.env(3),
                      ready=lambda: "standby" in servers.log_path(names[1]).read_text())
        a, b = register(galera.api[0], "gn"), register(galera.api[1], "gn")
        r = requests.post(galera.api[0] + "/api/chat/conversations/", headers=auth(a),
                          json={"participant_ids": [b["id"]]}, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        conv = r.json()["id"]

        def sent(api, text):
            return post(api, a, conv, text, uuid.uuid4().hex)

        def notified(mid):
            return receiver.wait_for(lambda q: q["json"]["message"]["id"] == mid
                                     and q["json"]["user"]["id"] == b["id"], "message %d" % mid)

        first = [sent(galera.api[i % 2], "node %d" % i) for i in range(6)]
        for mid in first:
            notified(mid)
        servers.stop_proc(names[0])
        wait_until_active = time.monotonic() + DELIVERY_TIMEOUT
        while servers.notify_active_count(names[1]) == 0:
            assert time.monotonic() < wait_until_active, "the standby did not take over"
            time.sleep(0.1)
        later = [sent(galera.api[i % 2], "after %d" % i) for i in range(4)]
        for mid in later:
            notified(mid)
        for mid in first + later:
            got = receiver.matching(lambda q, mid=mid: q["json"]["message"]["id"] == mid)
            assert len(got) == 1, (mid, got)
            assert verify(secret, got[0]["headers"]["X-Chat-Signature"], got[0]["body"])
    finally:
        for name in names:
            servers.stop_proc(name)
        receiver.stop()
