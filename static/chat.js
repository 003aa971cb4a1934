// The chat page UI. The server renders the first view and a JSON bootstrap element; this
// script takes over from there. User text only ever reaches the DOM through textContent.
import { api, ApiError, PushConnection, newClientId, resolveWsUrl } from "./chat-client.js";

const boot = JSON.parse(document.getElementById("bootstrap").textContent);
const $ = (id) => document.getElementById(id);
const PAGE = 50;
const PREVIEW_CHARS = 80;
const CATCH_UP_PAGES = 20;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showError(node, err) {
  node.textContent = err ? (err instanceof ApiError ? err.message : "Network error; try again.") : "";
  node.hidden = !err;
}

function call(method, path, body) {
  return api(method, path, body, boot.csrf_cookie).catch((err) => {
    // The session ended (logout elsewhere, expiry): back to the login form.
    if (err instanceof ApiError && err.status === 401) window.location.assign("/chat/");
    throw err;
  });
}

// ---- logged out ----

function startLogin() {
  const form = $("login-form");
  const toggle = $("register-toggle");
  let register = false;

  if (toggle) {
    toggle.addEventListener("click", () => {
      register = !register;
      form.dataset.mode = register ? "register" : "login";
      $("login-title").textContent = register ? "Create an account" : "Log in";
      $("login-submit").textContent = register ? "Create account" : "Log in";
      toggle.textContent = register ? "I already have an account" : "Create an account";
      $("display-name-row").hidden = !register;
      $("login-password").autocomplete = register ? "new-password" : "current-password";
      showError($("login-error"), null);
    });
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    const submit = $("login-submit");
    submit.disabled = true;
    try {
      if (register) {
        const body = { username, password };
        const display = form.elements.display_name.value.trim();
        if (display) body.display_name = display;
        await api("POST", "/api/auth/register", body);
      }
      await api("POST", "/api/auth/login", { username, password });
      window.location.assign("/chat/");
    } catch (err) {
      showError($("login-error"), err);
      submit.disabled = false;
    }
  });
}

// ---- logged in ----

const me = boot.user;
const convs = new Map(); // id -> conversation object as the REST API returns it
let current = null; // the open conversation's id
let loadSeq = 0; // bumps on every open, so late history responses are dropped
let hasMore = false;
const messageEls = new Map(); // message id -> <li>, for the open conversation
const pendingEls = new Map(); // client_msg_id -> <li> of a message not yet confirmed

function conversationTitle(conv) {
  if (conv.is_group) return conv.name || "Group";
  const other = (conv.participants || []).find((p) => p.id !== me.id);
  return other ? other.display_name || other.username : "Just you";
}

function previewText(msg) {
  if (!msg) return "";
  if (msg.deleted) return "Message deleted";
  const chars = Array.from(msg.text || "");
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") + "\u2026" : chars.join("");
}

function activity(conv) {
  return conv.last_activity_at || conv.created_at || "";
}

function renderList() {
  const list = $("conversation-list");
  const sorted = [...convs.values()].sort(
    (a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : b.id - a.id));
  const rows = new Map();
  for (const li of list.querySelectorAll(".conversation")) rows.set(Number(li.dataset.id), li);
  for (const conv of sorted) {
    let li = rows.get(conv.id);
    rows.delete(conv.id);
    if (!li) {
      li = el("li", "conversation");
      li.dataset.id = conv.id;
      const a = el("a", "conversation-link");
      a.href = `#c${conv.id}`;
      a.append(el("span", "conversation-name"), el("span", "unread-badge"),
        el("span", "conversation-preview"));
      li.append(a);
    }
    li.querySelector(".conversation-name").textContent = conversationTitle(conv);
    li.querySelector(".conversation-preview").textContent = previewText(conv.last_message);
    const badge = li.querySelector(".unread-badge");
    badge.textContent = conv.unread_count || "";
    badge.hidden = !conv.unread_count;
    li.classList.toggle("active", conv.id === current);
    li.classList.toggle("unread", conv.unread_count > 0);
    list.append(li); // moves existing rows into sorted order
  }
  for (const li of rows.values()) li.remove();
  $("no-conversations").hidden = sorted.length > 0;
}

function addConversation(conv) {
  const old = convs.get(conv.id);
  if (old) {
    // A reply fetched before a socket event was applied must not roll the row back.
    if (old.last_message && (!conv.last_message || conv.last_message.id < old.last_message.id)) {
      conv.last_message = old.last_message;
      conv.last_activity_at = old.last_activity_at;
    }
    // The server does not know what is on screen here.
    if (conv.id === current && !document.hidden) conv.unread_count = 0;
  }
  convs.set(conv.id, conv);
}

// ---- messages ----

function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function fillMessage(li, msg) {
  li.querySelector(".message-sender").textContent =
    msg.sender ? msg.sender.display_name || msg.sender.username : "";
  const time = li.querySelector(".message-time");
  if (msg.created_at) {
    time.dateTime = msg.created_at;
    time.textContent = formatTime(msg.created_at) + (msg.edited_at ? " (edited)" : "");
  }
  const text = li.querySelector(".message-text");
  text.textContent = msg.deleted ? "Message deleted" : msg.text;
  li.classList.toggle("deleted", !!msg.deleted);
}

function messageElement(msg) {
  const li = el("li", "message");
  const meta = el("div", "message-meta");
  meta.append(el("span", "message-sender"), el("time", "message-time"));
  li.append(meta, el("div", "message-text"));
  li.classList.toggle("mine", !!(msg.sender && msg.sender.id === me.id));
  fillMessage(li, msg);
  return li;
}

// Inserts li ordered by message id; unconfirmed messages stay at the end.
function placeMessage(li, id) {
  const list = $("messages");
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (!node.dataset.id) {
      before = node;
      continue;
    }
    if (Number(node.dataset.id) < id) break;
    before = node;
  }
  list.insertBefore(li, before);
}

function nearBottom() {
  const s = $("message-scroller");
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom() {
  const s = $("message-scroller");
  s.scrollTop = s.scrollHeight;
}

// Shows msg in the open conversation, once per message id, whatever its source
// (history, our own POST, the socket).
function showMessage(msg) {
  let li = messageEls.get(msg.id);
  if (li) {
    fillMessage(li, msg);
    return;
  }
  li = msg.client_msg_id && msg.sender && msg.sender.id === me.id ? pendingEls.get(msg.client_msg_id) : null;
  if (li) {
    pendingEls.delete(msg.client_msg_id);
    li.classList.remove("pending", "failed");
    const retry = li.querySelector(".retry");
    if (retry) retry.remove();
    fillMessage(li, msg);
  } else {
    li = messageElement(msg);
  }
  li.dataset.id = msg.id;
  messageEls.set(msg.id, li);
  placeMessage(li, msg.id);
}

// Records msg as its conversation's latest when it is. `live` is true for messages that
// just arrived (socket), which count as unread when not in view.
function noteLastMessage(msg, live) {
  const conv = convs.get(msg.conversation_id);
  if (!conv) return false;
  const last = conv.last_message;
  if (!last || last.id <= msg.id) {
    conv.last_message = msg;
    if (!conv.last_activity_at || conv.last_activity_at < msg.created_at) conv.last_activity_at = msg.created_at;
  }
  if (live && msg.sender.id !== me.id && (msg.conversation_id !== current || document.hidden) &&
      (!last || last.id < msg.id)) {
    conv.unread_count = (conv.unread_count || 0) + 1;
  }
  return true;
}

function receiveMessage(msg, live) {
  if (msg.conversation_id === current) {
    const stick = nearBottom() || (msg.sender && msg.sender.id === me.id);
    showMessage(msg);
    if (stick) scrollToBottom();
  }
  if (noteLastMessage(msg, live)) renderList();
}

async function loadHistory(id, params) {
  const q = new URLSearchParams({ limit: String(PAGE), ...params });
  return call("GET", `/api/chat/conversations/${id}/messages/?${q}`);
}

async function openConversation(id) {
  const conv = convs.get(id);
  if (!conv) return;
  const seq = ++loadSeq;
  current = id;
  messageEls.clear();
  pendingEls.clear();
  $("messages").replaceChildren();
  $("no-conversation").hidden = true;
  $("conversation-title").hidden = false;
  $("conversation-title").textContent = conversationTitle(conv);
  $("compose").hidden = false;
  $("load-older").hidden = true;
  showError($("compose-error"), null);
  conv.unread_count = 0;
  renderList();
  try {
    const page = await loadHistory(id, {});
    if (seq !== loadSeq) return;
    for (const m of page.results) showMessage(m);
    hasMore = page.has_more;
    $("load-older").hidden = !hasMore;
    scrollToBottom();
    $("compose").elements.text.focus();
  } catch (err) {
    if (seq === loadSeq) showError($("compose-error"), err);
  }
}

async function loadOlder() {
  const seq = loadSeq;
  const ids = [...messageEls.keys()];
  if (!ids.length) return;
  const s = $("message-scroller");
  const fromBottom = s.scrollHeight - s.scrollTop;
  const page = await loadHistory(current, { before: String(Math.min(...ids)) });
  if (seq !== loadSeq) return;
  for (const m of page.results) showMessage(m);
  hasMore = page.has_more;
  $("load-older").hidden = !hasMore;
  s.scrollTop = s.scrollHeight - fromBottom;
}

// Fetches what the open conversation missed while the socket could not replay it.
async function catchUpCurrent() {
  const id = current;
  const seq = loadSeq;
  const ids = [...messageEls.keys()];
  if (!ids.length) {
    await openConversation(id);
    return;
  }
  let after = Math.max(...ids);
  for (let i = 0; i < CATCH_UP_PAGES; i++) {
    const page = await loadHistory(id, { after: String(after) });
    if (seq !== loadSeq) return;
    for (const m of page.results) receiveMessage(m, false);
    if (!page.has_more || !page.results.length) return;
    after = page.results[page.results.length - 1].id;
  }
}

async function sendMessage(convId, text, clientId, li) {
  li.classList.add("pending");
  li.classList.remove("failed");
  try {
    const msg = await call("POST", `/api/chat/conversations/${convId}/messages/`,
      { text, client_msg_id: clientId });
    if (convId === current) receiveMessage(msg, false);
    else noteLastMessage(msg, false);
  } catch (err) {
    if (convId !== current || !li.isConnected || li.dataset.id) return;
    li.classList.replace("pending", "failed");
    // Only a lost request is worth repeating, with the same client_msg_id so the server
    // stores it once; a refused one (validation, permission) would be refused again.
    const retryable = !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
    if (retryable && !li.querySelector(".retry")) {
      const retry = el("button", "retry link", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => {
        retry.remove();
        sendMessage(convId, text, clientId, li);
      });
      li.append(retry);
    }
    showError($("compose-error"), err);
  }
}

function submitCompose(e) {
  e.preventDefault();
  const area = $("compose").elements.text;
  const text = area.value;
  if (!text.trim() || current === null) return;
  const clientId = newClientId();
  const li = messageElement({ sender: me, text, client_msg_id: clientId });
  li.dataset.clientId = clientId;
  pendingEls.set(clientId, li);
  $("messages").append(li);
  scrollToBottom();
  area.value = "";
  showError($("compose-error"), null);
  sendMessage(current, text, clientId, li);
}

async function startDirectChat(e) {
  e.preventDefault();
  const input = $("new-chat-username");
  const name = input.value.trim();
  const error = $("new-chat-error");
  if (!name) return;
  showError(error, null);
  try {
    const found = await call("GET", `/api/users/?q=${encodeURIComponent(name)}`);
    const user = found.results.find((u) => u.username.toLowerCase() === name.toLowerCase());
    if (!user || user.id === me.id) {
      error.textContent = user ? "That is you." : `No user named "${name}".`;
      error.hidden = false;
      return;
    }
    const conv = await call("POST", "/api/chat/conversations/", { participant_ids: [user.id], is_group: false });
    addConversation(conv);
    renderList();
    input.value = "";
    selectConversation(conv.id);
  } catch (err) {
    showError(error, err);
  }
}

function selectConversation(id) {
  if (window.location.hash === `#c${id}`) openConversation(id);
  else window.location.hash = `c${id}`; // hashchange opens it
}

function conversationFromHash() {
  const m = /^#c(\d+)$/.exec(window.location.hash);
  return m ? Number(m[1]) : null;
}

async function reloadAll() {
  const data = await call("GET", "/api/chat/conversations/");
  // Merge rather than replace: a conversation event may have arrived while the request
  // was in flight, and conversations are never deleted.
  for (const c of data.results) addConversation(c);
  renderList();
  if (current !== null) {
    if (convs.has(current)) await catchUpCurrent();
  } else {
    const id = conversationFromHash();
    if (id !== null && convs.has(id)) openConversation(id);
  }
}

async function handleEvent(frame) {
  if (frame.type === "conversation.created") {
    if (!convs.has(frame.data.id)) {
      addConversation(frame.data);
      renderList();
    }
  } else if (frame.type === "message.created") {
    const msg = frame.data;
    if (!convs.has(msg.conversation_id)) {
      // A conversation we have not heard of yet (its event may still be on the way).
      try {
        addConversation(await call("GET", `/api/chat/conversations/${msg.conversation_id}/`));
      } catch {
        return;
      }
    }
    receiveMessage(msg, true);
  }
}

function setStatus(state) {
  const s = $("connection-status");
  s.textContent = state;
  s.dataset.state = state;
}

function startChat() {
  for (const c of boot.conversations) addConversation(c);
  renderList();

  $("compose").addEventListener("submit", submitCompose);
  $("compose").elements.text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("compose").requestSubmit();
    }
  });
  $("new-chat-form").addEventListener("submit", startDirectChat);
  $("load-older").addEventListener("click", () => loadOlder().catch((err) => showError($("compose-error"), err)));
  $("logout-button").addEventListener("click", async () => {
    try {
      await api("POST", "/api/auth/logout", undefined, boot.csrf_cookie);
    } finally {
      window.location.assign("/chat/");
    }
  });
  window.addEventListener("hashchange", () => {
    const id = conversationFromHash();
    if (id !== null && id !== current) openConversation(id);
  });
  document.addEventListener("visibilitychange", () => {
    const conv = convs.get(current);
    if (!document.hidden && conv && conv.unread_count) {
      conv.unread_count = 0;
      renderList();
    }
  });

  const push = new PushConnection(resolveWsUrl(boot.ws_url), {
    onEvent: (frame) => handleEvent(frame),
    onResync: () => reloadAll().catch(() => {}),
    onStatus: setStatus,
    // A 401 here sends the page back to the login form; anything else keeps retrying.
    onAuthLost: () => call("GET", "/api/auth/me").catch(() => {}),
  });
  push.start();

  const id = conversationFromHash();
  if (id !== null && convs.has(id)) openConversation(id);
}

if (me) startChat();
else startLogin();
