// The chat client library: REST calls with the CSRF header, and one real-time connection
// (WebSocket, falling back to Server-Sent Events, then long-poll) with resume,
// de-duplication and an offline queue for outgoing messages. No DOM access here; chat.js
// is the UI on top. Documented in docs/client.md.

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
  }
}

export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return "";
}

// A v4 UUID. crypto.randomUUID exists only in secure contexts (https, localhost); a page
// served over plain http from another host still needs idempotency keys.
export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function parseBody(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Calls the REST API. Resolves to the parsed JSON body (null for an empty one); rejects
// with ApiError carrying the server's {detail, code}, or with a TypeError when the
// network failed. `body` is sent as JSON unless it is a Blob/File (sent raw).
export async function api(method, path, body, csrfCookie = "chat_csrf") {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") headers["X-CSRFToken"] = readCookie(csrfCookie);
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await parseBody(res);
  if (!res.ok) throw new ApiError(res.status, data && data.code, data && data.detail);
  return data;
}

// Uploads one file to POST /api/chat/attachments/ (or `method` `url`, e.g. the avatar)
// with progress (fetch cannot report upload progress, XMLHttpRequest can). Resolves to
// the answer's object (the attachment, or the user after an avatar upload).
export function upload(file, { csrfCookie = "chat_csrf", onProgress, method = "POST", url = "/api/chat/attachments/" } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url + "?filename=" + encodeURIComponent(file.name || "file"));
    xhr.setRequestHeader("X-CSRFToken", readCookie(csrfCookie));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress && e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data && data.code, data && data.detail));
    };
    xhr.onerror = () => reject(new TypeError("network error"));
    xhr.send(file);
  });
}

// ':8001/ws/' = this host on that port; '/ws/' = this origin; else an absolute URL.
export function resolveWsUrl(setting, loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  if (setting.startsWith(":")) return `${scheme}//${loc.hostname}${setting}`;
  if (setting.startsWith("/")) return `${scheme}//${loc.host}${setting}`;
  return setting;
}

// The HTTP URL of the push daemon's `path` (the fallbacks live next to /ws/).
export function pushHttpUrl(wsUrl, path) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = path;
  u.search = "";
  return u.toString();
}

const PING_MS = 25000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const SEEN_EVENTS_MAX = 2000;
const CLOSE_NOT_AUTHENTICATED = 4401;
const POLL_TIMEOUT_S = 25;
// A WebSocket that fails this many times in a row without ever saying hello is taken to
// be blocked (a proxy without Upgrade support): the connection tries SSE, then long-poll.
const WS_FAILURES_BEFORE_FALLBACK = 2;
const TRANSPORTS = ["ws", "sse", "poll"];
export const OUTBOX_MAX = 100;
const OUTBOX_RETRY_MS = 5000;

// Exponential backoff with full jitter in the upper half, capped: attempt 0 → 0.5–1 s,
// 1 → 1–2 s, … up to 15–30 s.
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

// The real-time connection. Events (subscribe with on(name, fn)):
//   "event"   (frame)   each event frame, once per event_id, in arrival order
//   "typing"  (frame)   {type:"typing", conversation_id, user, is_typing}
//   "resync"  ()        what happened since the last event seen cannot be replayed (or
//                       this is the first connection): reload state over REST
//   "status"  ({state, transport, retryAt})  state is "connecting", "connected",
//                       "reconnecting" (retryAt = Date.now() of the next try) or "offline"
//   "authlost" ()       the daemon refused the session (4401 or HTTP 401)
//   "frame"   (frame)   any other server frame (message.sent, error, ...)
export class ChatConnection {
  constructor(wsUrl, { transports = TRANSPORTS } = {}) {
    this.wsUrl = wsUrl;
    this.transports = transports;
    this.transportIndex = 0;
    this.listeners = new Map();
    this.lastEventId = null; // highest event id delivered; null until the first hello
    this.head = 0; // the daemon's newest event id when it said hello
    this.seen = new Set();
    this.attempt = 0;
    this.wsFailures = 0;
    this.state = "offline";
    this.stopped = true;
    this.current = null; // {kind, close()} of the live transport
    this.retryTimer = null;
    this.pingTimer = null;
    this.onlineHandler = () => this.reconnectNow();
    // The browser lost the network: a socket may linger half-open for minutes, so give it
    // up now and say so; "online" brings the connection back at once.
    this.offlineHandler = () => {
      if (this.stopped) return;
      clearTimeout(this.retryTimer);
      this.teardown();
      this.setState("offline");
    };
  }

  get transport() {
    return this.transports[this.transportIndex];
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
    return this;
  }

  emit(name, arg) {
    for (const fn of this.listeners.get(name) || []) {
      try {
        fn(arg);
      } catch (err) {
        console.error(err);
      }
    }
  }

  setState(state, retryAt = 0) {
    this.state = state;
    this.emit("status", { state, transport: this.transport, retryAt });
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onlineHandler);
    window.addEventListener("offline", this.offlineHandler);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onlineHandler);
    window.removeEventListener("offline", this.offlineHandler);
    clearTimeout(this.retryTimer);
    this.teardown();
    this.setState("offline");
  }

  // The browser says the network is back: no point waiting out the backoff.
  reconnectNow() {
    if (this.stopped || this.state === "connected" || this.state === "connecting") return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  teardown() {
    clearInterval(this.pingTimer);
    const cur = this.current;
    this.current = null;
    if (cur) cur.close();
  }

  connect() {
    this.teardown();
    if (!navigator.onLine) {
      this.setState("offline");
      return; // the "online" event brings us back
    }
    this.setState(this.lastEventId === null ? "connecting" : "reconnecting");
    const kind = this.transport;
    const open = kind === "ws" ? () => this.openWs() : kind === "sse" ? () => this.openSse() : () => this.openPoll();
    try {
      this.current = open();
    } catch {
      // No such API in this browser (or it refused the URL): try the next transport.
      const handle = { kind, hello: false, close: () => {} };
      this.current = handle;
      setTimeout(() => this.lost(handle, { helloSeen: false, fatal: true }), 0);
    }
  }

  // A transport ended. `helloSeen` tells whether it ever worked.
  lost(handle, { helloSeen, authLost = false, fatal = false }) {
    if (this.current !== handle) return;
    this.current = null;
    clearInterval(this.pingTimer);
    if (authLost) this.emit("authlost");
    if (this.stopped) return;
    if (!helloSeen && (fatal || this.transport !== "ws" || ++this.wsFailures >= WS_FAILURES_BEFORE_FALLBACK) &&
        this.transportIndex < this.transports.length - 1 && !authLost) {
      this.transportIndex++; // try the next transport at once
      this.attempt = 0;
      this.connect();
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    this.setState("reconnecting", Date.now() + delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  resumeQuery() {
    return this.lastEventId === null ? "" : `?last_event_id=${this.lastEventId}`;
  }

  openWs() {
    const ws = new WebSocket(this.wsUrl + this.resumeQuery());
    const handle = { kind: "ws", ws, hello: false, close: () => ws.close(1000) };
    ws.onmessage = (e) => {
      if (this.current !== handle) return;
      const frame = this.parse(e.data);
      if (frame && frame.type === "hello") {
        handle.hello = true;
        this.wsFailures = 0;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.sendFrame({ type: "ping" }), PING_MS);
      }
      if (frame) this.receive(frame);
    };
    ws.onclose = (e) => this.lost(handle, { helloSeen: handle.hello, authLost: e.code === CLOSE_NOT_AUTHENTICATED });
    // onerror is always followed by onclose, which does the work.
    return handle;
  }

  openSse() {
    const url = pushHttpUrl(this.wsUrl, "/events/stream/") + this.resumeQuery();
    const es = new EventSource(url, { withCredentials: true });
    const handle = { kind: "sse", hello: false, close: () => es.close() };
    es.onmessage = (e) => {
      if (this.current !== handle) return;
      const frame = this.parse(e.data);
      if (frame && frame.type === "hello") handle.hello = true;
      if (frame) this.receive(frame);
    };
    // EventSource retries on its own with Last-Event-ID, but it cannot tell us why it
    // failed; we close it and let our backoff (and resume position) decide.
    es.onerror = () => {
      es.close();
      this.lost(handle, { helloSeen: handle.hello });
    };
    return handle;
  }

  openPoll() {
    const controller = new AbortController();
    const handle = { kind: "poll", hello: false, close: () => controller.abort() };
    const base = pushHttpUrl(this.wsUrl, "/events/poll/");
    const loop = async () => {
      try {
        if (this.lastEventId === null) {
          const first = await this.pollOnce(base, "", controller.signal);
          this.lastEventId = first.last_event_id;
          handle.hello = true;
          this.connected(first.last_event_id, true);
        } else if (!handle.hello) {
          // Reconnected: resume from where we were.
          handle.hello = true;
          this.connected(this.lastEventId, false);
        }
        while (this.current === handle) {
          const q = `?last_event_id=${this.lastEventId}&timeout=${POLL_TIMEOUT_S}`;
          const page = await this.pollOnce(base, q, controller.signal);
          if (this.current !== handle) return;
          for (const frame of page.events || []) this.receive(frame);
          if (typeof page.last_event_id === "number" && page.last_event_id > this.lastEventId) {
            this.lastEventId = page.last_event_id;
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        this.lost(handle, { helloSeen: handle.hello, authLost: err instanceof ApiError && err.status === 401 });
      }
    };
    loop();
    return handle;
  }

  async pollOnce(base, query, signal) {
    const res = await fetch(base + query, { credentials: "include", cache: "no-store", signal });
    const data = await parseBody(res);
    if (!res.ok) throw new ApiError(res.status, data && data.code, data && data.detail);
    return data || {};
  }

  parse(text) {
    try {
      const frame = JSON.parse(text);
      return frame && typeof frame === "object" ? frame : null;
    } catch {
      return null;
    }
  }

  // The transport works: `head` is the daemon's position. A first connection has nothing
  // to resume from and asks the page to load over REST instead.
  connected(head, first) {
    this.attempt = 0;
    this.head = Number(head) || 0;
    this.setState("connected");
    if (first) this.emit("resync");
  }

  receive(frame) {
    switch (frame.type) {
      case "hello": {
        const first = this.lastEventId === null;
        if (first) this.lastEventId = Number(frame.last_event_id) || 0;
        this.connected(frame.last_event_id, first);
        break;
      }
      case "resync_required":
        // The events after lastEventId are gone from the daemon's reach; live events
        // after its hello still come. Reload the rest over REST.
        if (this.lastEventId === null || this.lastEventId < this.head) this.lastEventId = this.head;
        this.emit("resync");
        break;
      case "typing":
        this.emit("typing", frame);
        break;
      case "pong":
        break;
      default:
        if (typeof frame.event_id === "number") this.deliver(frame);
        else this.emit("frame", frame);
    }
  }

  deliver(frame) {
    const id = frame.event_id;
    if (this.seen.has(id) || (this.lastEventId !== null && id <= this.lastEventId - SEEN_EVENTS_MAX)) return;
    this.seen.add(id);
    if (this.seen.size > SEEN_EVENTS_MAX) this.seen.delete(this.seen.values().next().value);
    if (this.lastEventId === null || id > this.lastEventId) this.lastEventId = id;
    this.emit("event", frame);
  }

  // True when a client frame (typing, read, delivered) can go out on the socket now.
  canSend() {
    return !!(this.current && this.current.kind === "ws" && this.current.hello &&
      this.current.ws.readyState === WebSocket.OPEN);
  }

  sendFrame(frame) {
    if (!this.canSend()) return false;
    this.current.ws.send(JSON.stringify(frame));
    return true;
  }
}

// Outgoing messages. Each is kept (in localStorage, so a reload keeps it too) until the
// server has stored it, and is sent only while the connection is up; up to OUTBOX_MAX
// wait while it is down. Every item carries its client_msg_id, so sending one twice
// (a retry after a lost response) stores it once. Events:
//   "sent"   ({item, message})  stored
//   "failed" ({item, error})    refused by the server (validation, permission): removed
//   "stalled" ({item, error})   not sent (network, 5xx, 429): kept, tried again in 5 s
//   "change" ()                 the queue changed
export class Outbox {
  constructor(storageKey, send) {
    this.key = storageKey;
    this.sendItem = send; // async (item) => message
    this.items = this.load();
    this.listeners = new Map();
    this.flushing = false;
    this.ready = false;
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
    return this;
  }

  emit(name, arg) {
    for (const fn of this.listeners.get(name) || []) fn(arg);
  }

  load() {
    try {
      const items = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(items) ? items.slice(0, OUTBOX_MAX) : [];
    } catch {
      return [];
    }
  }

  save() {
    try {
      localStorage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // Storage full or disabled: the queue still lives in memory.
    }
    this.emit("change");
  }

  get size() {
    return this.items.length;
  }

  // Queues {conversation_id, text, client_msg_id, reply_to?, attachment_ids?}. Returns
  // false when the queue is full.
  add(item) {
    if (this.items.some((i) => i.client_msg_id === item.client_msg_id)) return true;
    if (this.items.length >= OUTBOX_MAX) return false;
    this.items.push({ ...item, queued_at: Date.now() });
    this.save();
    this.flush();
    return true;
  }

  remove(clientMsgId) {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.client_msg_id !== clientMsgId);
    if (this.items.length !== before) this.save();
  }

  // Whether the connection is up; flushing starts when it becomes true.
  setReady(ready) {
    this.ready = ready;
    if (ready) this.flush();
  }

  // Sends the queue in order, one at a time. A network failure stops the round; the
  // next setReady(true) or add() starts another.
  async flush() {
    if (this.flushing || !this.ready) return;
    this.flushing = true;
    try {
      while (this.ready && this.items.length) {
        const item = this.items[0];
        let message;
        try {
          message = await this.sendItem(item);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status >= 500 || error.status === 429) {
            // Lost or server trouble: kept, and tried again shortly (or on reconnect).
            this.emit("stalled", { item, error });
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => this.flush(), OUTBOX_RETRY_MS);
            break;
          }
          this.remove(item.client_msg_id);
          this.emit("failed", { item, error });
          continue;
        }
        this.remove(item.client_msg_id);
        this.emit("sent", { item, message });
      }
    } finally {
      this.flushing = false;
    }
  }
}
