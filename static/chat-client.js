// The client library: REST calls with the CSRF header, and the push connection with
// resume, backoff and de-duplication. No DOM access here; chat.js is the UI.

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

// Calls the REST API. Resolves to the parsed JSON body (null for an empty one); rejects
// with ApiError carrying the server's {detail, code}, or with a TypeError when the
// network failed.
export async function api(method, path, body, csrfCookie = "chat_csrf") {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    headers["X-CSRFToken"] = readCookie(csrfCookie);
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    throw new ApiError(res.status, data && data.code, data && data.detail);
  }
  return data;
}

// ':8001/ws/' = this host on that port; '/ws/' = this origin; else an absolute URL.
export function resolveWsUrl(setting, loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  if (setting.startsWith(":")) return `${scheme}//${loc.hostname}${setting}`;
  if (setting.startsWith("/")) return `${scheme}//${loc.host}${setting}`;
  return setting;
}

const PING_MS = 25000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
const SEEN_EVENTS_MAX = 2000;
const CLOSE_NOT_AUTHENTICATED = 4401;

// One WebSocket to the push daemon that comes back by itself. Callbacks:
//   onEvent(frame)   each message.created / conversation.created frame, once per event id
//   onResync()       the events since the last one seen cannot be replayed (or this is the
//                    first connection): reload state over REST
//   onStatus(state)  "connecting", "connected" or "reconnecting"
//   onAuthLost()     the daemon refused the session (close 4401); reconnecting goes on
export class PushConnection {
  constructor(url, { onEvent, onResync, onStatus, onAuthLost }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.onAuthLost = onAuthLost || (() => {});
    this.lastEventId = null; // highest event id delivered; null until the first hello
    this.head = 0; // the daemon's newest event id when it said hello
    this.seen = new Set();
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.pingTimer = null;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect("connecting");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
  }

  connect(state) {
    this.onStatus(state);
    let url = this.url;
    if (this.lastEventId !== null) {
      url += (url.includes("?") ? "&" : "?") + "last_event_id=" + this.lastEventId;
    }
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      if (e.code === CLOSE_NOT_AUTHENTICATED) this.onAuthLost();
      if (!this.stopped) this.scheduleReconnect();
    };
    // onerror is always followed by onclose, which does the work.
  }

  scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted daemon is not hit by every client
    // in the same millisecond.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.attempt = Math.min(this.attempt + 1, 16);
    this.onStatus("reconnecting");
    this.retryTimer = setTimeout(() => this.connect("reconnecting"), delay);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_MS);
        this.onStatus("connected");
        this.head = Number(frame.last_event_id) || 0;
        if (this.lastEventId === null) {
          // Nothing to resume from: start at the daemon's position and fetch what
          // happened before it (the page may be older than this socket).
          this.lastEventId = Number(frame.last_event_id) || 0;
          this.onResync();
        }
        break;
      case "resync_required":
        // The events after lastEventId are gone from the daemon's reach; live events
        // after its hello still come on this socket. Reload the rest over REST.
        if (this.lastEventId === null || this.lastEventId < this.head) this.lastEventId = this.head;
        this.onResync();
        break;
      case "pong":
      case "error":
        break;
      default:
        if (typeof frame.event_id === "number") this.deliver(frame);
    }
  }

  deliver(frame) {
    const id = frame.event_id;
    if (this.seen.has(id) || (this.lastEventId !== null && id <= this.lastEventId - SEEN_EVENTS_MAX)) {
      return;
    }
    this.seen.add(id);
    if (this.seen.size > SEEN_EVENTS_MAX) {
      this.seen.delete(this.seen.values().next().value);
    }
    if (this.lastEventId === null || id > this.lastEventId) this.lastEventId = id;
    this.onEvent(frame);
  }
}
