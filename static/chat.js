// The chat page UI. The server renders the first view (list, open conversation, latest
// messages) and a JSON bootstrap element; this script takes over from there. User text
// only ever reaches the DOM through textContent (or as the text of links it builds).
import { api, ApiError, ChatConnection, Outbox, newClientId, resolveWsUrl, upload } from "./chat-client.js";
import { avatarFor, fillAvatar, startAccountDialog } from "./chat-account.js";
import { startMessageSearch } from "./chat-search.js";
import { formatDate, formatNumber, locale, t, tn } from "./i18n.js";
import { NOTIFY_FIELDS, appendMessageText, attachMentionCompletion, attentionCount, bellIcon, mentionsMe,
  notifies, openNotifyDialog, renderNotifyButton, setAppBadge, silent } from "./chat-mentions.js";

const boot = JSON.parse(document.getElementById("bootstrap").textContent);
const $ = (id) => document.getElementById(id);
const PAGE = 50;
const PREVIEW_CHARS = 80;
const CATCH_UP_PAGES = 20;
const TYPING_SEND_MS = 2000; // chat-push relays one typing start per 2 s anyway
const TYPING_SHOW_MS = 7000; // chat-push sends a stop after 6 s without a repeat
const NEAR_BOTTOM_PX = 80;
const REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(className, text, label) {
  const b = el("button", className, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  return b;
}

function showError(node, err) {
  if (!node) return;
  node.textContent = err ? (err instanceof ApiError ? err.message : String(err.message || err)) : "";
  if (err && !(err instanceof ApiError) && err instanceof TypeError) node.textContent = t("page.network_error");
  node.hidden = !err;
}

function call(method, path, body) {
  return api(method, path, body, boot.csrf_cookie).catch((err) => {
    // The session ended (logout elsewhere, expiry): back to the login form.
    if (err instanceof ApiError && err.status === 401) window.location.assign(window.location.pathname);
    throw err;
  });
}

function formatBytes(n) {
  const num = (v, digits) => new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(v);
  if (n >= 1048576) return t("page.size_mib", { size: num(n / 1048576, n % 1048576 ? 1 : 0) });
  if (n >= 1024) return t("page.size_kib", { size: num(Math.round(n / 1024), 0) });
  return tn("page.size_bytes", n);
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
      $("login-title").textContent = register ? t("page.register_heading") : t("page.login_heading");
      $("login-submit").textContent = register ? t("page.register_submit") : t("page.login_submit");
      toggle.textContent = register ? t("page.login_toggle") : t("page.register_toggle");
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
      // The same URL, now rendered for the user: a shared /chat/<pk>/ link opens there.
      window.location.replace(window.location.pathname);
    } catch (err) {
      showError($("login-error"), err);
      submit.disabled = false;
    }
  });
}

// ---- state ----

const me = boot.user;
const convs = new Map(); // id -> conversation object as the REST API returns it
const presence = new Map(); // user id -> {online, last_seen}
let current = null; // the open conversation's id
let loadSeq = 0; // bumps on every open, so late responses for another one are dropped
let hasMore = false;
let loadingOlder = false;
const messages = new Map(); // message id -> message, open conversation
const messageEls = new Map(); // message id -> <li>
const pendingEls = new Map(); // client_msg_id -> <li> of a message not yet stored
let markers = new Map(); // user id -> {read, delivered}, open conversation
let firstUnreadId = 0; // the "new messages" divider sits before this message
let lastReadSent = 0;
const deliveredSent = new Map(); // conv id -> highest delivered message id reported
const typing = new Map(); // conv id -> Map(user id -> {name, timer})
let typingSentAt = 0;
let typingConv = null;
let replyTo = null; // message being replied to
const uploads = []; // {file, li, progress, attachment, error}
let connection = null;
let outbox = null;
let statusTimer = null;
const baseTitle = t("page.app_name");
const blocked = new Map(); // user id -> block object {id, username, display_name, blocked_at}: whom I blocked
const HIDE_BLOCKED_KEY = "chat-hide-blocked";
// The "hide their messages in groups" toggle, kept per browser.
let hideBlocked = (() => {
  try {
    return localStorage.getItem(HIDE_BLOCKED_KEY) === "1";
  } catch {
    return false;
  }
})();

function displayName(user) {
  if (user && user.deleted) return t("page.deleted_user");
  return user ? user.display_name || user.username : "";
}

function userName(conv, id) {
  if (id === me.id) return t("page.you");
  const p = conv && (conv.participants || []).find((u) => u.id === id);
  return p ? displayName(p) : t("page.user_id", { id: String(id) });
}

function otherParticipant(conv) {
  return conv.is_group ? null : (conv.participants || []).find((p) => p.id !== me.id) || null;
}

function conversationTitle(conv) {
  if (conv.is_group) return conv.name || t("page.group_untitled");
  const other = otherParticipant(conv);
  return other ? displayName(other) : t("page.just_you");
}

function isOnline(userId) {
  const p = presence.get(userId);
  return !!(p && p.online);
}

function previewText(msg) {
  if (!msg) return "";
  if (msg.deleted) return t("page.message_deleted");
  if (!msg.text && msg.attachments && msg.attachments.length) return t("page.attachment");
  const chars = Array.from(msg.text || "");
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") + "\u2026" : chars.join("");
}

function activity(conv) {
  return conv.last_activity_at || conv.created_at || "";
}

// ---- the conversation list ----

function rowFor(conv) {
  const li = el("li", "conversation");
  li.dataset.id = conv.id;
  const a = el("a", "conversation-link");
  a.href = `/chat/${conv.id}/`;
  const dot = el("span", "presence-dot");
  dot.setAttribute("aria-hidden", "true");
  a.append(dot, el("span", "conversation-name"), el("span", "mention-badge"), el("span", "unread-badge"),
    el("span", "conversation-preview"));
  li.append(a);
  return li;
}

function renderList() {
  const list = $("conversation-list");
  const sorted = [...convs.values()].sort(
    (a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : b.id - a.id));
  const rows = new Map();
  for (const li of list.querySelectorAll(".conversation")) rows.set(Number(li.dataset.id), li);
  const filter = $("conversation-filter").value.trim().toLowerCase();
  let total = 0;
  for (const conv of sorted) {
    let li = rows.get(conv.id);
    rows.delete(conv.id);
    if (!li) li = rowFor(conv);
    const title = conversationTitle(conv);
    const preview = previewText(conv.last_message);
    li.querySelector(".conversation-name").textContent = title;
    let face = li.querySelector(".conversation-avatar");
    if (!face) { // a row the server rendered
      face = avatarFor(null);
      face.classList.add("conversation-avatar");
      li.querySelector("a").prepend(face);
    }
    fillAvatar(face, conv.is_group ? { display_name: title } : otherParticipant(conv) || me);
    li.querySelector(".conversation-preview").textContent = typingText(conv.id) || preview;
    li.querySelector(".conversation-preview").classList.toggle("typing", !!typingText(conv.id));
    const badge = li.querySelector(".unread-badge");
    badge.textContent = conv.unread_count ? formatNumber(conv.unread_count) : "";
    badge.hidden = !conv.unread_count;
    badge.setAttribute("aria-label", tn("page.unread_count", conv.unread_count || 0));
    let mentionBadge = li.querySelector(".mention-badge");
    if (!mentionBadge) { // a row the server rendered
      mentionBadge = el("span", "mention-badge");
      badge.before(mentionBadge);
    }
    // Muted and "nothing" conversations do not count towards the title (a struck bell
    // says so); "mentions only" ones count their mentions (docs/API.md "Notification
    // levels").
    const quiet = silent(conv);
    mentionBadge.replaceChildren(...(quiet ? [bellIcon(true)] : []),
      conv.unread_mention_count ? `@${formatNumber(conv.unread_mention_count)}` : "");
    mentionBadge.hidden = !conv.unread_mention_count && !quiet;
    mentionBadge.setAttribute("aria-label", tn("mentions.badge_label", conv.unread_mention_count || 0));
    li.classList.toggle("muted", quiet);
    total += attentionCount(conv);
    const other = otherParticipant(conv);
    const online = conv.is_group
      ? (conv.participants || []).some((p) => p.id !== me.id && isOnline(p.id))
      : !!(other && isOnline(other.id));
    const dot = li.querySelector(".presence-dot");
    dot.classList.toggle("online", online);
    dot.title = online ? t("page.online") : t("page.offline");
    const active = conv.id === current;
    li.classList.toggle("active", active);
    const link = li.querySelector("a");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    li.classList.toggle("unread", conv.unread_count > 0);
    li.hidden = !!filter && !title.toLowerCase().includes(filter) && !preview.toLowerCase().includes(filter);
    list.append(li); // moves existing rows into sorted order
  }
  for (const li of rows.values()) li.remove();
  $("no-conversations").hidden = sorted.length > 0;
  const open = current !== null && convs.get(current);
  const name = open ? `${conversationTitle(open)} · ${baseTitle}` : baseTitle;
  document.title = total ? `(${total}) ${name}` : name;
  setAppBadge(total);
}

function addConversation(conv) {
  const old = convs.get(conv.id);
  if (old) {
    // A reply fetched before a socket event was applied must not roll the row back.
    if (old.last_message && (!conv.last_message || conv.last_message.id < old.last_message.id)) {
      conv.last_message = old.last_message;
      conv.last_activity_at = old.last_activity_at;
    }
    if (conv.unread_count === undefined) conv.unread_count = old.unread_count;
    // Event payloads leave out what is the viewer's own.
    for (const key of ["unread_mention_count", ...NOTIFY_FIELDS]) if (conv[key] === undefined) conv[key] = old[key];
    // The server does not know what is on screen here.
    if (conv.id === current && !document.hidden && nearBottom()) conv.unread_count = 0;
  }
  for (const p of conv.participants || []) {
    if (typeof p.online === "boolean" && !presence.has(p.id)) presence.set(p.id, { online: p.online, last_seen: null });
    else if (typeof p.online === "boolean") presence.get(p.id).online = p.online;
  }
  convs.set(conv.id, conv);
}

// ---- time ----

function localTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : formatDate(d, { hour: "2-digit", minute: "2-digit" });
}

function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(iso) === dayKey(today.toISOString())) return t("page.today");
  if (dayKey(iso) === dayKey(yesterday.toISOString())) return t("page.yesterday");
  return formatDate(d, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

function lastSeenText(p) {
  if (!p) return "";
  if (p.online) return t("page.online");
  if (!p.last_seen) return t("page.offline");
  const d = new Date(p.last_seen);
  const time = localTime(p.last_seen);
  return dayKey(p.last_seen) === dayKey(new Date().toISOString()) ? t("page.last_seen_today", { time })
    : t("page.last_seen_on", { date: formatDate(d, { dateStyle: "short" }), time });
}

// ---- message rendering ----

// Appends text to node with http(s) URLs as links; nothing is ever parsed as HTML.
function appendLinkified(node, text) {
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = /[.,!?;:)\]]+$/.exec(url);
    if (trail) url = url.slice(0, -trail[0].length);
    node.append(text.slice(last, m.index));
    const a = el("a", "message-link", url);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    node.append(a);
    last = m.index + url.length;
  }
  node.append(text.slice(last));
}

function tickState(msg) {
  const conv = convs.get(msg.conversation_id);
  const others = conv ? (conv.participants || []).filter((p) => p.id !== me.id) : [];
  if (!others.length) return "sent";
  let read = true;
  let delivered = true;
  for (const p of others) {
    const m = markers.get(p.id) || { read: 0, delivered: 0 };
    if (m.read < msg.id) read = false;
    if (Math.max(m.delivered, m.read) < msg.id) delivered = false;
  }
  return read ? "read" : delivered ? "delivered" : "sent";
}

const TICKS = { pending: "\u{1F552}", sent: "\u2713", delivered: "\u2713\u2713", read: "\u2713\u2713", failed: "!" };

function setTicks(li, state) {
  const tick = li.querySelector(".ticks");
  if (!tick) return;
  tick.textContent = TICKS[state] || "";
  tick.dataset.state = state;
  tick.title = t(`page.tick_${state}`);
  tick.setAttribute("aria-label", tick.title);
}

function reactionTitle(conv, r) {
  return (r.user_ids || []).map((id) => userName(conv, id)).join(", ");
}

function renderAttachments(msg) {
  const ul = el("ul", "attachments");
  for (const a of msg.attachments || []) {
    const li = el("li", "attachment");
    if (IMAGE_TYPES.includes(a.content_type)) {
      const b = button("thumb-button", undefined, t("page.view_image", { name: a.filename }));
      const img = el("img", "thumb");
      img.src = a.url;
      img.alt = a.filename;
      img.loading = "lazy";
      b.append(img);
      b.addEventListener("click", () => openViewer(a));
      li.append(b);
    } else {
      const link = el("a", "file-link", a.filename);
      link.href = a.url;
      link.download = a.filename;
      li.append(link, el("span", "file-size", ` ${formatBytes(a.size)}`));
    }
    ul.append(li);
  }
  return ul;
}

function openViewer(a) {
  $("image-viewer-img").src = a.url;
  $("image-viewer-img").alt = a.filename;
  $("image-viewer-download").href = a.url;
  $("image-viewer-download").download = a.filename;
  $("image-viewer").showModal();
}

// Fills li (class "message") from msg. Pending messages have no id yet.
function fillMessage(li, msg, state) {
  const conv = convs.get(msg.conversation_id);
  const mine = !!(msg.sender && msg.sender.id === me.id);
  li.replaceChildren();
  li.className = "message";
  li.classList.toggle("mine", mine);
  li.classList.toggle("deleted", !!msg.deleted);
  if (msg.id) {
    li.id = `m${msg.id}`;
    li.dataset.id = msg.id;
  }
  const bubble = el("div", "bubble");
  const meta = el("div", "message-meta");
  if (!mine) meta.append(avatarFor(msg.sender), " ");
  meta.append(el("span", "message-sender", displayName(msg.sender)));
  if (msg.sender && msg.sender.is_bot) {
    const badge = el("span", "bot-badge", t("webhooks.bot_badge"));
    badge.title = t("webhooks.bot_title");
    meta.append(" ", badge);
  }
  bubble.append(meta);
  if (msg.reply_to) {
    const quote = el("a", "reply-quote");
    quote.href = `#m${msg.reply_to}`;
    const orig = messages.get(msg.reply_to);
    quote.append(el("span", "reply-sender", orig ? displayName(orig.sender) : t("page.reply")), " ",
      el("span", "reply-text", orig ? previewText(orig) : t("page.earlier_message")));
    quote.addEventListener("click", (e) => {
      e.preventDefault();
      jumpTo(msg.reply_to);
    });
    bubble.append(quote);
  }
  const text = el("div", "message-text");
  if (msg.deleted) text.textContent = t("page.message_deleted");
  else appendMessageText(text, msg, me.id, appendLinkified);
  li.classList.toggle("mentions-me", !msg.deleted && mentionsMe(msg, me.id));
  bubble.append(text);
  if (!msg.deleted && msg.attachments && msg.attachments.length) bubble.append(renderAttachments(msg));
  const footer = el("div", "message-footer");
  const time = el("time", "message-time", msg.created_at ? localTime(msg.created_at) : "");
  if (msg.created_at) {
    time.dateTime = msg.created_at;
    time.title = formatDate(new Date(msg.created_at), { dateStyle: "full", timeStyle: "short" });
  }
  footer.append(time);
  if (msg.edited_at && !msg.deleted) footer.append(" ", el("span", "edited", t("page.edited")));
  if (mine) footer.append(" ", el("span", "ticks"));
  bubble.append(footer);
  if (!msg.deleted && msg.reactions && msg.reactions.length) {
    const rx = el("div", "reactions");
    for (const r of msg.reactions) {
      const mineR = (r.user_ids || []).includes(me.id);
      const b = button("reaction" + (mineR ? " mine" : ""), `${r.emoji} ${formatNumber(r.count)}`);
      b.title = reactionTitle(conv, r);
      b.setAttribute("aria-label", `${r.emoji} ${formatNumber(r.count)}: ${b.title}`);
      b.setAttribute("aria-pressed", String(mineR));
      b.dataset.emoji = r.emoji;
      b.addEventListener("click", () => toggleReaction(msg, r.emoji, mineR));
      rx.append(b);
    }
    bubble.append(rx);
  }
  li.append(bubble);
  if (msg.id && !msg.deleted) li.append(actionsFor(msg, mine));
  if (mine) setTicks(li, state || (msg.id ? tickState(msg) : "pending"));
  markIfBlocked(li, msg, conv);
}

// A Delete button that asks once more before deleting msg.
function deleteButton(msg, className) {
  const del = button(className, t("page.delete"));
  del.addEventListener("click", () => {
    if (del.dataset.armed) {
      deleteMessage(msg);
      return;
    }
    del.dataset.armed = "1";
    del.textContent = t("page.confirm_delete");
    setTimeout(() => {
      delete del.dataset.armed;
      del.textContent = t("page.delete");
    }, 5000);
  });
  return del;
}

// Group roles: true when the signed-in user is an admin of the group conv.
function isGroupAdmin(conv) {
  if (!conv || !conv.is_group) return false;
  const self = (conv.participants || []).find((p) => p.id === me.id);
  return !!self && self.role === "admin";
}

function actionsFor(msg, mine) {
  const wrap = el("div", "message-actions");
  const more = button("more-button", "\u22EF", t("page.message_actions"));
  more.setAttribute("aria-expanded", "false");
  const bar = el("div", "action-bar");
  bar.hidden = true;
  const react = button("react-button", t("page.react"));
  react.addEventListener("click", () => openReactionPicker(msg));
  const reply = button("reply-button", t("page.reply"));
  reply.addEventListener("click", () => startReply(msg));
  bar.append(react, reply);
  if (mine) {
    const edit = button("edit-button", t("page.edit"));
    edit.addEventListener("click", () => startEdit(msg));
    bar.append(edit, deleteButton(msg, "delete-button"));
  } else if (isGroupAdmin(convs.get(msg.conversation_id))) {
    // A group's admins may delete anyone's message there (a moderation, audited).
    bar.append(deleteButton(msg, "delete-button moderate-delete"));
  }
  more.addEventListener("click", () => {
    bar.hidden = !bar.hidden;
    more.setAttribute("aria-expanded", String(!bar.hidden));
    if (!bar.hidden) bar.querySelector("button").focus();
  });
  wrap.append(more, bar);
  return wrap;
}

function separator(text, className) {
  const li = el("li", className);
  li.setAttribute("role", "separator");
  li.append(el("span", "", text));
  return li;
}

// Rebuilds the list from `messages` (sorted by id), reusing each message's element, with
// day separators, the unread divider and the unconfirmed messages at the end.
function renderMessages() {
  const list = $("messages");
  const sorted = [...messages.values()].sort((a, b) => a.id - b.id);
  const nodes = [];
  let prevDay = "";
  for (const msg of sorted) {
    const day = dayKey(msg.created_at);
    if (day !== prevDay) {
      nodes.push(separator(dayLabel(msg.created_at), "day-separator"));
      prevDay = day;
    }
    if (msg.id === firstUnreadId) nodes.push(separator(t("page.new_messages"), "unread-divider"));
    let li = messageEls.get(msg.id);
    if (!li) {
      li = el("li");
      fillMessage(li, msg);
      messageEls.set(msg.id, li);
    }
    nodes.push(li);
  }
  for (const li of pendingEls.values()) nodes.push(li);
  list.replaceChildren(...nodes);
  const empty = $("no-messages");
  if (empty) empty.hidden = nodes.length > 0;
}

function refreshMessage(msg) {
  const li = messageEls.get(msg.id);
  if (li) fillMessage(li, msg);
}

function refreshTicks() {
  for (const [id, li] of messageEls) {
    const msg = messages.get(id);
    if (msg && msg.sender && msg.sender.id === me.id) setTicks(li, tickState(msg));
  }
}

// ---- scrolling ----

function nearBottom() {
  const s = $("message-scroller");
  return !s || s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  const s = $("message-scroller");
  if (s) s.scrollTop = s.scrollHeight;
  updateJump();
}

function updateJump() {
  const jump = $("jump-latest");
  if (jump) jump.hidden = nearBottom();
}

async function jumpTo(id) {
  for (let i = 0; i < CATCH_UP_PAGES && !messageEls.has(id) && hasMore; i++) await loadOlder();
  showTarget(id);
}

// Scrolls message id into the middle of the view and flashes it.
function showTarget(id) {
  const li = messageEls.get(id);
  if (!li) return;
  li.scrollIntoView({ block: "center" });
  li.classList.add("flash");
  li.tabIndex = -1;
  li.focus({ preventScroll: true });
  setTimeout(() => li.classList.remove("flash"), 1500);
}

// ---- receiving ----

function announce(text) {
  const a = $("announcer");
  a.textContent = "";
  setTimeout(() => (a.textContent = text), 50);
}

// Records msg as its conversation's latest when it is. `live` is true for messages that
// just arrived, which count as unread when not in view.
function noteLastMessage(msg, live) {
  const conv = convs.get(msg.conversation_id);
  if (!conv) return false;
  const last = conv.last_message;
  if (!last || last.id <= msg.id) {
    conv.last_message = msg;
    if (!conv.last_activity_at || conv.last_activity_at < msg.created_at) conv.last_activity_at = msg.created_at;
  }
  const seen = msg.conversation_id === current && !document.hidden && nearBottom();
  if (live && msg.sender.id !== me.id && !seen && (!last || last.id < msg.id)) {
    conv.unread_count = (conv.unread_count || 0) + 1;
    if (mentionsMe(msg, me.id)) conv.unread_mention_count = (conv.unread_mention_count || 0) + 1;
  }
  return true;
}

function showMessage(msg) {
  const pending = msg.client_msg_id && msg.sender && msg.sender.id === me.id && pendingEls.get(msg.client_msg_id);
  if (pending) {
    pendingEls.delete(msg.client_msg_id);
    messageEls.set(msg.id, pending);
  }
  messages.set(msg.id, msg);
  const li = messageEls.get(msg.id);
  if (li) fillMessage(li, msg);
}

function receiveMessage(msg, live) {
  if (msg.conversation_id === current) {
    const stick = nearBottom() || (msg.sender && msg.sender.id === me.id);
    const isNew = !messages.has(msg.id);
    showMessage(msg);
    if (isNew) renderMessages();
    if (stick) scrollToBottom();
    else updateJump();
    if (live && isNew && msg.sender.id !== me.id) announce(`${displayName(msg.sender)}: ${previewText(msg)}`);
    maybeMarkRead();
  }
  if (noteLastMessage(msg, live)) renderList();
  if (live && msg.sender.id !== me.id) {
    markDelivered(msg);
    if (document.hidden && notifies(convs.get(msg.conversation_id), msg, me.id)) notify(msg);
  }
}

function notify(msg) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const conv = convs.get(msg.conversation_id);
  if (hideBlocked && msg.sender && blocked.has(msg.sender.id)) return; // hidden: no alert either
  try {
    const n = new Notification(conv ? conversationTitle(conv) : t("page.new_message"), {
      body: `${displayName(msg.sender)}: ${previewText(msg)}`,
      tag: `conv-${msg.conversation_id}`,
    });
    n.onclick = () => {
      window.focus();
      selectConversation(msg.conversation_id);
    };
  } catch {
    // Some platforms only allow notifications from a service worker.
  }
}

// ---- receipts ----

function sendReceipt(kind, convId, messageId) {
  if (connection && connection.sendFrame({ type: kind, conversation_id: convId, message_id: messageId })) return;
  call("POST", `/api/chat/conversations/${convId}/${kind}/`, { message_id: messageId }).catch(() => {});
}

function markDelivered(msg) {
  const done = deliveredSent.get(msg.conversation_id) || 0;
  if (msg.id <= done) return;
  deliveredSent.set(msg.conversation_id, msg.id);
  // Reading it right away implies delivery; maybeMarkRead has then sent that.
  if (msg.conversation_id === current && msg.id <= lastReadSent) return;
  sendReceipt("delivered", msg.conversation_id, msg.id);
}

// The open conversation is read when the window is visible and the newest message is in
// view.
function maybeMarkRead() {
  if (current === null || document.hidden || !nearBottom()) return;
  let newest = 0;
  for (const id of messages.keys()) if (id > newest) newest = id;
  const conv = convs.get(current);
  if (conv && (conv.unread_count || conv.unread_mention_count)) {
    conv.unread_count = 0;
    conv.unread_mention_count = 0;
    renderList();
  }
  if (!newest || newest <= lastReadSent) return;
  lastReadSent = newest;
  sendReceipt("read", current, newest);
}

async function loadMarkers(convId, seq) {
  let mineLast = null;
  for (const msg of messages.values()) {
    if (msg.sender.id === me.id && !msg.deleted && (!mineLast || msg.id > mineLast.id)) mineLast = msg;
  }
  if (!mineLast) return;
  try {
    const st = await call("GET", `/api/chat/conversations/${convId}/messages/${mineLast.id}/status/`);
    if (seq !== loadSeq) return;
    for (const s of st.results) {
      const m = markers.get(s.user_id) || { read: 0, delivered: 0 };
      if (s.status === "read") m.read = Math.max(m.read, mineLast.id);
      if (s.status !== "sent") m.delivered = Math.max(m.delivered, mineLast.id);
      markers.set(s.user_id, m);
    }
    refreshTicks();
  } catch {
    // Ticks stay at "sent" until receipts arrive.
  }
}

// ---- opening a conversation ----

function setView(view) {
  $("app").dataset.view = view;
}

// Builds the conversation pane's content for conv (the server renders it for the first
// page; later opens happen here). Everything is inside #conversation-pane.
function buildPane(conv) {
  const pane = $("conversation-pane");
  const tpl = $("pane-template");
  pane.replaceChildren(tpl.content.cloneNode(true));
  pane.dataset.id = conv.id;
  $("compose").action = `/chat/${conv.id}/send`;
  wirePane();
}

function renderHeader() {
  const conv = convs.get(current);
  if (!conv) return;
  $("conversation-title").textContent = conversationTitle(conv);
  fillAvatar($("conversation-avatar"), conv.is_group ? { display_name: conversationTitle(conv) } : otherParticipant(conv) || me);
  const sub = $("conversation-subtitle");
  const typingNow = typingText(current);
  if (typingNow) sub.textContent = typingNow;
  else if (conv.is_group) {
    const n = (conv.participants || []).length;
    const online = (conv.participants || []).filter((p) => p.id !== me.id && isOnline(p.id)).length;
    sub.textContent = online ? t("page.members_online", { members: tn("page.member_count", n), online: formatNumber(online) })
      : tn("page.member_count", n);
  } else {
    const other = otherParticipant(conv);
    sub.textContent = other ? lastSeenText(presence.get(other.id) || { online: false }) : "";
  }
  sub.classList.toggle("typing", !!typingNow);
  $("details-button").hidden = false;
  renderNotifyButton(notifyLevelButton(), conv);
  $("typing-indicator").textContent = typingNow;
  renderComposeNotice(conv);
}

// The header's notification-level bell, made once per pane (chat-mentions.js).
function notifyLevelButton() {
  let b = $("notify-level-button");
  if (!b) {
    b = button("notify-level-button secondary", "");
    b.id = "notify-level-button";
    b.addEventListener("click", () => {
      const conv = convs.get(current);
      if (conv) openNotifyDialog(conv, call, applyNotifySettings);
    });
    $("details-button").before(b);
  }
  return b;
}

// A new notification setting of mine (my answer, or participant.notifications_changed
// from another of my devices).
function applyNotifySettings(data) {
  const conv = convs.get(data.conversation_id || data.id);
  if (!conv) return;
  for (const key of NOTIFY_FIELDS) conv[key] = data[key];
  renderList();
  if (conv.id === current) renderHeader();
}

async function fetchPresence(conv) {
  const other = otherParticipant(conv);
  if (!other) return;
  try {
    const p = await call("GET", `/api/users/${other.id}/presence/`);
    presence.set(other.id, { online: p.online, last_seen: p.last_seen });
    if (current === conv.id) renderHeader();
    renderList();
  } catch {
    // Presence is a nicety; the dot stays as it was.
  }
}

function resetConversationState() {
  messages.clear();
  messageEls.clear();
  pendingEls.clear();
  markers = new Map();
  firstUnreadId = 0;
  lastReadSent = 0;
  hasMore = false;
  replyTo = null;
  uploads.length = 0;
  stopTyping();
}

// The divider goes before the oldest of the last `unread` messages from others.
function computeFirstUnread(unread) {
  if (!unread) return 0;
  const sorted = [...messages.values()].sort((a, b) => b.id - a.id);
  let count = 0;
  for (const m of sorted) {
    if (m.sender.id === me.id || m.deleted) continue;
    if (++count === unread) return m.id;
  }
  return sorted.length ? sorted[sorted.length - 1].id : 0;
}

function showPage(page, unread) {
  for (const m of page.results) messages.set(m.id, m);
  hasMore = !!page.has_more;
  firstUnreadId = computeFirstUnread(unread);
  for (const item of outbox.items) if (item.conversation_id === current) addPending(item, "pending");
  renderMessages();
  const divider = document.querySelector("#messages .unread-divider");
  if (divider) divider.scrollIntoView({ block: "start" });
  else scrollToBottom();
  updateHistoryStatus();
  updateJump();
}

// The page centred on message `around` (a search hit), then every newer page up to the
// latest (at most AROUND_FILL_PAGES of 200), so the window stays one run of messages
// ending at the newest, as the rest of the page expects. {results, has_more}.
const AROUND_FILL_PAGES = 10;
async function aroundPage(id, around, first) {
  const page = first || await call("GET", `/api/chat/conversations/${id}/messages/?around=${around}&limit=${PAGE}`);
  const results = [...page.results];
  let more = page.has_more_after;
  for (let i = 0; more && results.length && i < AROUND_FILL_PAGES; i++) {
    const next = await call("GET", `/api/chat/conversations/${id}/messages/?after=${results[results.length - 1].id}&limit=200`);
    results.push(...next.results);
    more = next.has_more;
  }
  return { results, has_more: page.has_more_before };
}

async function openConversation(id, { push = false, fromServer = false, around = 0 } = {}) {
  const conv = convs.get(id);
  if (!conv) return;
  const seq = ++loadSeq;
  const firstOpen = current !== id;
  current = id;
  if (fromServer && boot.messages_around) around = boot.messages_around;
  if (push) history.pushState({ conv: id }, "", around ? `/chat/${id}/?around=${around}` : `/chat/${id}/`);
  setView("conversation");
  resetConversationState();
  if (!fromServer) buildPane(conv);
  renderHeader();
  const unread = conv.unread_count || 0;
  renderList();
  if (firstOpen) fetchPresence(conv);
  try {
    const page = around ? await aroundPage(id, around, fromServer ? boot.messages : null)
      : fromServer && boot.messages && !boot.messages_before
        ? boot.messages
        : await call("GET", `/api/chat/conversations/${id}/messages/?limit=${PAGE}`);
    if (seq !== loadSeq) return;
    if (fromServer && boot.messages_before) history.replaceState({ conv: id }, "", `/chat/${id}/`);
    showPage(page, unread);
    if (around) showTarget(around);
    loadMarkers(id, seq);
    maybeMarkRead();
    if (!fromServer || window.matchMedia("(min-width: 701px)").matches) $("compose-text").focus({ preventScroll: true });
  } catch (err) {
    if (seq !== loadSeq) return;
    if (err instanceof ApiError && err.status === 404) {
      convs.delete(id);
      showList();
      renderList();
      return;
    }
    showError($("compose-error"), err);
  }
}

function showList({ push = false } = {}) {
  loadSeq++;
  current = null;
  resetConversationState();
  if (push) history.pushState({ conv: null }, "", "/chat/");
  setView("list");
  const pane = $("conversation-pane");
  const p = el("p", "empty", t("page.choose_conversation"));
  p.id = "no-conversation";
  pane.replaceChildren(p);
  delete pane.dataset.id;
  renderList();
}

// A search hit: its conversation, at that message.
function openAtMessage(convId, messageId) {
  // A conversation older than the list holds: the server renders it there.
  if (!convs.has(convId)) {
    window.location.assign(`/chat/${convId}/?around=${messageId}`);
    return;
  }
  if (convId === current && messageEls.has(messageId)) {
    setView("conversation");
    showTarget(messageId);
    return;
  }
  openConversation(convId, { push: true, around: messageId });
}

function selectConversation(id) {
  if (id === current) {
    setView("conversation");
    return;
  }
  openConversation(id, { push: true });
}

function updateHistoryStatus() {
  const s = $("history-status");
  if (!s) return;
  s.textContent = loadingOlder ? t("page.loading_older") : hasMore ? "" : (messages.size ? t("page.beginning") : "");
}

async function loadOlder() {
  if (loadingOlder || !hasMore || current === null) return;
  const seq = loadSeq;
  const ids = [...messages.keys()];
  if (!ids.length) return;
  loadingOlder = true;
  updateHistoryStatus();
  const s = $("message-scroller");
  try {
    const page = await call("GET", `/api/chat/conversations/${current}/messages/?limit=${PAGE}&before=${Math.min(...ids)}`);
    if (seq !== loadSeq) return;
    // Keep what the reader is looking at in place: the distance from the bottom stays.
    const fromBottom = s.scrollHeight - s.scrollTop;
    for (const m of page.results) messages.set(m.id, m);
    hasMore = !!page.has_more;
    renderMessages();
    s.scrollTop = s.scrollHeight - fromBottom;
  } finally {
    loadingOlder = false;
    if (seq === loadSeq) updateHistoryStatus();
  }
}

// Fetches what the open conversation missed while the connection could not replay it.
async function catchUpCurrent() {
  const id = current;
  const seq = loadSeq;
  const ids = [...messages.keys()];
  if (!ids.length) {
    await openConversation(id);
    return;
  }
  let after = Math.max(...ids);
  for (let i = 0; i < CATCH_UP_PAGES; i++) {
    const page = await call("GET", `/api/chat/conversations/${id}/messages/?limit=${PAGE}&after=${after}`);
    if (seq !== loadSeq) return;
    for (const m of page.results) receiveMessage(m, false);
    if (!page.has_more || !page.results.length) break;
    after = page.results[page.results.length - 1].id;
  }
  // Edits, deletions and reactions the socket could not replay: reload what is shown.
  const page = await call("GET", `/api/chat/conversations/${id}/messages/?limit=${Math.min(200, Math.max(PAGE, messages.size))}`);
  if (seq !== loadSeq) return;
  for (const m of page.results) {
    if (messages.has(m.id)) {
      messages.set(m.id, m);
      refreshMessage(m);
    }
  }
  loadMarkers(id, seq);
}

// ---- sending ----

function addPending(item, state) {
  if (pendingEls.has(item.client_msg_id)) return pendingEls.get(item.client_msg_id);
  const li = el("li");
  const msg = { sender: me, text: item.text, conversation_id: item.conversation_id, reply_to: item.reply_to || null,
    attachments: item.attachments || [], client_msg_id: item.client_msg_id };
  fillMessage(li, msg, state);
  li.classList.add("pending");
  li.dataset.clientId = item.client_msg_id;
  pendingEls.set(item.client_msg_id, li);
  return li;
}

function markPending(clientId, state, item) {
  const li = pendingEls.get(clientId);
  if (!li) return;
  li.classList.toggle("failed", state === "failed");
  setTicks(li, state);
  let retry = li.querySelector(".retry");
  if (state === "failed" && item) {
    if (!retry) {
      retry = button("retry link", t("page.not_sent_retry"));
      li.querySelector(".bubble").append(retry);
    }
    retry.onclick = () => {
      retry.remove();
      li.classList.remove("failed");
      setTicks(li, "pending");
      if (outbox.items.some((i) => i.client_msg_id === clientId)) outbox.flush();
      else outbox.add(item);
    };
  } else if (retry) {
    retry.remove();
  }
}

function sendItem(item) {
  const body = { text: item.text, client_msg_id: item.client_msg_id };
  if (item.reply_to) body.reply_to = item.reply_to;
  if (item.attachment_ids && item.attachment_ids.length) body.attachment_ids = item.attachment_ids;
  return call("POST", `/api/chat/conversations/${item.conversation_id}/messages/`, body);
}

function submitCompose(e) {
  e.preventDefault();
  const area = $("compose-text");
  const text = area.value;
  const ready = uploads.filter((u) => u.attachment);
  if (uploads.some((u) => !u.attachment && !u.error)) {
    showError($("compose-error"), new Error(t("page.wait_uploads")));
    return;
  }
  if ((!text.trim() && !ready.length) || current === null) return;
  const item = {
    conversation_id: current,
    text,
    client_msg_id: newClientId(),
    reply_to: replyTo ? replyTo.id : null,
    attachment_ids: ready.map((u) => u.attachment.id),
    attachments: ready.map((u) => u.attachment),
  };
  addPending(item, "pending");
  if (!outbox.add(item)) {
    pendingEls.get(item.client_msg_id).remove();
    pendingEls.delete(item.client_msg_id);
    showError($("compose-error"), new Error(t("page.outbox_full")));
    return;
  }
  renderMessages();
  scrollToBottom();
  area.value = "";
  autoGrow();
  cancelReply();
  clearUploads();
  stopTyping();
  showError($("compose-error"), null);
  if (!outbox.ready) markPending(item.client_msg_id, "pending");
}

// ---- typing ----

function typingText(convId) {
  const who = typing.get(convId);
  if (!who || !who.size) return "";
  const names = [...who.values()].map((v) => v.name);
  if (names.length === 1) return t("page.typing_one", { name: names[0] });
  if (names.length === 2) return t("page.typing_two", { first: names[0], second: names[1] });
  return t("page.typing_many", { count: names.length });
}

function onTypingFrame(frame) {
  if (!frame.user || frame.user.id === me.id) return;
  const convId = frame.conversation_id;
  if (!typing.has(convId)) typing.set(convId, new Map());
  const who = typing.get(convId);
  const old = who.get(frame.user.id);
  if (old) clearTimeout(old.timer);
  if (frame.is_typing) {
    const timer = setTimeout(() => {
      who.delete(frame.user.id);
      typingChanged(convId);
    }, TYPING_SHOW_MS);
    who.set(frame.user.id, { name: displayName(frame.user), timer });
  } else {
    who.delete(frame.user.id);
  }
  typingChanged(convId);
}

function typingChanged(convId) {
  if (convId === current) renderHeader();
  renderList();
}

function clearTypingFor(convId, userId) {
  const who = typing.get(convId);
  if (who && who.has(userId)) {
    clearTimeout(who.get(userId).timer);
    who.delete(userId);
    typingChanged(convId);
  }
}

function noteTyping() {
  if (current === null || !$("compose-text").value) return;
  const now = Date.now();
  if (typingConv === current && now - typingSentAt < TYPING_SEND_MS) return;
  if (connection.sendFrame({ type: "typing", conversation_id: current, is_typing: true })) {
    typingSentAt = now;
    typingConv = current;
  }
}

function stopTyping() {
  if (typingConv !== null && connection) {
    connection.sendFrame({ type: "typing", conversation_id: typingConv, is_typing: false });
  }
  typingConv = null;
  typingSentAt = 0;
}

// ---- message actions ----

function startReply(msg) {
  replyTo = msg;
  $("reply-bar").hidden = false;
  $("reply-bar-text").textContent = t("page.replying_to", { name: displayName(msg.sender), text: previewText(msg) });
  $("compose-text").focus();
}

function cancelReply() {
  replyTo = null;
  const bar = $("reply-bar");
  if (bar) bar.hidden = true;
}

function startEdit(msg) {
  const li = messageEls.get(msg.id);
  if (!li) return;
  const text = li.querySelector(".message-text");
  const form = el("form", "edit-form");
  const area = el("textarea", "edit-text");
  area.value = msg.text;
  area.maxLength = boot.max_message_chars;
  area.setAttribute("aria-label", t("page.edit_message"));
  const save = el("button", "save-edit", t("page.save"));
  save.type = "submit";
  const cancel = button("cancel-edit secondary", t("page.cancel"));
  const err = el("p", "error");
  err.hidden = true;
  err.setAttribute("role", "alert");
  form.append(area, save, cancel, err);
  text.replaceWith(form);
  area.focus();
  const done = () => fillMessage(li, messages.get(msg.id) || msg);
  cancel.addEventListener("click", done);
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") done();
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const updated = await call("PATCH", `/api/chat/conversations/${msg.conversation_id}/messages/${msg.id}/`, { text: area.value });
      receiveUpdate(updated);
      done();
    } catch (error) {
      showError(err, error);
    }
  });
}

async function deleteMessage(msg) {
  try {
    await call("DELETE", `/api/chat/conversations/${msg.conversation_id}/messages/${msg.id}/`);
    receiveUpdate({ ...msg, deleted: true, text: "", attachments: [], reactions: [] });
  } catch (err) {
    showError($("compose-error"), err);
  }
}

function openReactionPicker(msg) {
  const box = $("reaction-choices");
  box.replaceChildren();
  for (const emoji of REACTIONS) {
    const r = (msg.reactions || []).find((x) => x.emoji === emoji);
    const mine = !!(r && (r.user_ids || []).includes(me.id));
    const b = button("reaction-choice" + (mine ? " mine" : ""), emoji, t("page.react_with", { emoji }));
    b.setAttribute("aria-pressed", String(mine));
    b.addEventListener("click", () => {
      $("reaction-dialog").close();
      toggleReaction(messages.get(msg.id) || msg, emoji, mine);
    });
    box.append(b);
  }
  $("reaction-dialog").showModal();
  box.querySelector("button").focus();
}

async function toggleReaction(msg, emoji, mine) {
  const path = `/api/chat/conversations/${msg.conversation_id}/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}/`;
  try {
    if (mine) {
      await call("DELETE", path);
      const reactions = (msg.reactions || []).map((r) => r.emoji !== emoji ? r
        : { ...r, count: r.count - 1, user_ids: r.user_ids.filter((id) => id !== me.id) }).filter((r) => r.count > 0);
      receiveUpdate({ ...msg, reactions });
    } else {
      receiveUpdate(await call("PUT", path));
    }
  } catch (err) {
    showError($("compose-error"), err);
  }
}

function receiveUpdate(msg) {
  if (msg.conversation_id === current && messages.has(msg.id)) {
    messages.set(msg.id, msg);
    refreshMessage(msg);
    // Quotes of it show its new text.
    for (const other of messages.values()) if (other.reply_to === msg.id) refreshMessage(other);
  }
  const conv = convs.get(msg.conversation_id);
  if (conv && conv.last_message && conv.last_message.id === msg.id) {
    conv.last_message = msg;
    renderList();
  }
}

// ---- attachments ----

function clearUploads() {
  uploads.length = 0;
  const tray = $("upload-tray");
  if (tray) {
    tray.replaceChildren();
    tray.hidden = true;
  }
}

function addFiles(files) {
  if (current === null) return;
  const tray = $("upload-tray");
  for (const file of files) {
    const li = el("li", "upload");
    const name = el("span", "upload-name", t("page.upload_name", { name: file.name || t("page.file"), size: formatBytes(file.size) }));
    const bar = el("progress", "upload-progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", t("page.uploading", { name: file.name }));
    const remove = button("upload-remove link", "\u00D7", t("page.remove_name", { name: file.name }));
    const u = { file, li, attachment: null, error: null };
    remove.addEventListener("click", () => {
      uploads.splice(uploads.indexOf(u), 1);
      li.remove();
      tray.hidden = !uploads.length;
    });
    li.append(name, bar, remove);
    tray.append(li);
    tray.hidden = false;
    uploads.push(u);
    if (file.size > boot.max_attachment_bytes) {
      u.error = new Error(t("page.too_large", { limit: formatBytes(boot.max_attachment_bytes) }));
      bar.remove();
      li.classList.add("failed");
      li.append(el("span", "error", u.error.message));
      continue;
    }
    upload(file, { csrfCookie: boot.csrf_cookie, onProgress: (f) => (bar.value = f) })
      .then((a) => {
        u.attachment = a;
        bar.value = 1;
        li.classList.add("done");
      })
      .catch((err) => {
        u.error = err;
        li.classList.add("failed");
        const p = el("span", "error");
        showError(p, err);
        li.append(p);
      });
  }
}

// ---- dialogs: new chat, details ----

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A user search box: as you type, GET /api/users/?q= fills `list` with options;
// choosing one calls onChoose(user).
function userPicker(input, list, onChoose, exclude) {
  const run = debounce(async () => {
    const q = input.value.trim();
    if (!q) {
      list.replaceChildren();
      return;
    }
    try {
      const found = await call("GET", `/api/users/?q=${encodeURIComponent(q)}&limit=10`);
      if (input.value.trim() !== q) return;
      list.replaceChildren();
      for (const u of found.results) {
        if (u.id === me.id || exclude().has(u.id)) continue;
        const li = el("li", "user-option");
        li.setAttribute("role", "option");
        li.tabIndex = 0;
        li.dataset.id = u.id;
        li.append(el("span", "user-display", displayName(u)), " ", el("span", "username", `@${u.username}`));
        const choose = () => onChoose(u);
        li.addEventListener("click", choose);
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            choose();
          }
        });
        list.append(li);
      }
      if (!list.children.length) list.append(el("li", "empty", t("page.no_one_found")));
    } catch {
      // Typing on retries.
    }
  }, 200);
  input.addEventListener("input", run);
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && list.querySelector("[role=option]")) {
      e.preventDefault();
      list.querySelector("[role=option]").focus();
    }
  });
}

function startNewChatDialog() {
  const chosen = new Map();
  const dialog = $("new-chat-dialog");
  const render = () => {
    const ul = $("chosen-users");
    ul.replaceChildren();
    for (const u of chosen.values()) {
      const li = el("li", "chip", displayName(u));
      const x = button("chip-remove link", "\u00D7", t("page.remove_name", { name: displayName(u) }));
      x.addEventListener("click", () => {
        chosen.delete(u.id);
        render();
      });
      li.append(x);
      ul.append(li);
    }
    const group = chosen.size > 1;
    $("group-name").hidden = $("group-name-label").hidden = !group;
    $("new-chat-start").disabled = chosen.size === 0;
    $("new-chat-start").textContent = group ? t("page.create_group") : t("page.start_chat");
  };
  userPicker($("user-search"), $("user-results"), (u) => {
    chosen.set(u.id, u);
    $("user-search").value = "";
    $("user-results").replaceChildren();
    render();
    $("user-search").focus();
  }, () => new Set(chosen.keys()));
  $("new-chat-open").addEventListener("click", () => {
    chosen.clear();
    render();
    $("user-search").value = "";
    $("group-name").value = "";
    $("user-results").replaceChildren();
    showError($("new-chat-error"), null);
    dialog.showModal();
    $("user-search").focus();
  });
  $("new-chat-cancel").addEventListener("click", () => dialog.close());
  $("new-chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ids = [...chosen.keys()];
    if (!ids.length) return;
    const group = ids.length > 1;
    const body = { participant_ids: ids, is_group: group };
    if (group) body.name = $("group-name").value.trim() || [...chosen.values()].map(displayName).join(", ").slice(0, 100);
    try {
      const conv = await call("POST", "/api/chat/conversations/", body);
      addConversation(conv);
      dialog.close();
      selectConversation(conv.id);
    } catch (err) {
      showError($("new-chat-error"), err);
    }
  });
}

function renderDetails() {
  const conv = convs.get(current);
  if (!conv) return;
  $("details-heading").textContent = conversationTitle(conv);
  const admin = isGroupAdmin(conv);
  $("rename-row").hidden = !admin;
  $("add-member-row").hidden = !conv.is_group;
  $("leave-button").textContent = conv.is_group ? t("page.leave_group") : t("page.leave_conversation");
  const ul = $("member-list");
  ul.replaceChildren();
  for (const p of conv.participants || []) {
    const li = el("li", "member");
    li.dataset.id = p.id;
    const dot = el("span", "presence-dot" + (isOnline(p.id) ? " online" : ""));
    dot.setAttribute("aria-hidden", "true");
    li.append(dot, el("span", "member-name", p.id === me.id ? t("page.name_you", { name: displayName(p) }) : displayName(p)));
    if (conv.is_group && p.role === "admin") li.append(el("span", "role-badge", t("page.role_admin")));
    if (admin) li.append(" ", roleButton(conv, p));
    if (p.id !== me.id) li.append(" ", blockButton(p, $("details-error")));
    if (admin && p.id !== me.id) {
      const rm = button("remove-member link", t("page.remove"), t("page.remove_name", { name: displayName(p) }));
      rm.addEventListener("click", async () => {
        try {
          await call("DELETE", `/api/chat/conversations/${conv.id}/participants/${p.id}/`);
          conv.participants = conv.participants.filter((x) => x.id !== p.id);
          renderDetails();
          renderHeader();
        } catch (err) {
          showError($("details-error"), err);
        }
      });
      li.append(" ", rm);
    }
    ul.append(li);
  }
}

// For a group admin: makes p an admin, or a member again (the server keeps at least one
// admin and answers 409 last_admin otherwise; the change comes back as an event too).
function roleButton(conv, p) {
  const promote = p.role !== "admin";
  const label = promote ? t("page.make_admin") : t("page.remove_admin");
  const b = button("role-button link", label, t("page.action_on", { action: label, name: displayName(p) }));
  b.addEventListener("click", async () => {
    try {
      const updated = await call("PATCH", `/api/chat/conversations/${conv.id}/participants/${p.id}/`,
        { role: promote ? "admin" : "member" });
      setRole(conv.id, p.id, updated.role);
    } catch (err) {
      showError($("details-error"), err);
    }
  });
  return b;
}

// Records user_id's new role in conv_id and redraws what depends on it: the details
// dialog, and the open conversation's message actions when it is the user's own role.
function setRole(convId, userId, role) {
  const conv = convs.get(convId);
  if (!conv) return;
  const p = (conv.participants || []).find((x) => x.id === userId);
  if (!p || p.role === role) return;
  p.role = role;
  applyConversationUpdate({ ...conv });
  if (userId === me.id && convId === current) for (const msg of messages.values()) refreshMessage(msg);
}

function startDetailsDialog() {
  const dialog = $("details-dialog");
  userPicker($("add-member-input"), $("add-member-results"), async (u) => {
    const conv = convs.get(current);
    try {
      await call("POST", `/api/chat/conversations/${conv.id}/participants/`, { user_id: u.id });
      if (!conv.participants.some((p) => p.id === u.id)) conv.participants.push({ role: "member", ...u });
      $("add-member-input").value = "";
      $("add-member-results").replaceChildren();
      renderDetails();
      renderHeader();
    } catch (err) {
      showError($("details-error"), err);
    }
  }, () => new Set((convs.get(current) || { participants: [] }).participants.map((p) => p.id)));
  $("rename-button").addEventListener("click", async () => {
    const conv = convs.get(current);
    try {
      const updated = await call("PATCH", `/api/chat/conversations/${conv.id}/`, { name: $("rename-input").value });
      applyConversationUpdate(updated);
    } catch (err) {
      showError($("details-error"), err);
    }
  });
  $("leave-button").addEventListener("click", async () => {
    const id = current;
    try {
      await call("DELETE", `/api/chat/conversations/${id}/`);
      dialog.close();
      removeConversation(id);
    } catch (err) {
      showError($("details-error"), err);
    }
  });
  $("details-close").addEventListener("click", () => dialog.close());
}

function openDetails() {
  const conv = convs.get(current);
  if (!conv) return;
  $("rename-input").value = conv.name || "";
  showError($("details-error"), null);
  renderDetails();
  $("details-dialog").showModal();
}

function applyConversationUpdate(data) {
  const conv = convs.get(data.id);
  if (!conv) return;
  conv.name = data.name;
  if (data.participants) conv.participants = data.participants;
  renderList();
  if (data.id === current) {
    renderHeader();
    if ($("details-dialog").open) renderDetails();
  }
}

function removeConversation(id) {
  convs.delete(id);
  typing.delete(id);
  if (id === current) {
    for (const d of document.querySelectorAll("dialog[open]")) d.close();
    showList({ push: true });
  }
  renderList();
}

// ---- events ----

// An edit can add or take away a mention of me and a delete an unread message: the
// server's counts are exact, so an unread conversation asks for them again.
async function refreshCounts(convId) {
  const conv = convs.get(convId);
  if (!conv || (!conv.unread_count && !conv.unread_mention_count)) return;
  try {
    const fresh = await call("GET", `/api/chat/conversations/${convId}/`);
    const now = convs.get(convId);
    if (!now || (convId === current && !document.hidden && nearBottom())) return; // read meanwhile
    now.unread_count = fresh.unread_count;
    now.unread_mention_count = fresh.unread_mention_count;
    renderList();
  } catch {
    // The counts stay as they were until the next load.
  }
}

async function ensureConversation(convId) {
  if (convs.has(convId)) return true;
  try {
    addConversation(await call("GET", `/api/chat/conversations/${convId}/`));
    return true;
  } catch {
    return false;
  }
}

async function handleEvent(frame) {
  const d = frame.data || {};
  switch (frame.type) {
    case "conversation.created":
      if (!convs.has(d.id)) {
        addConversation(d);
        renderList();
      }
      break;
    case "conversation.updated":
      applyConversationUpdate(d);
      break;
    case "participant.notifications_changed":
      if (d.user_id === me.id) applyNotifySettings(d);
      break;
    case "message.created":
      if (!(await ensureConversation(d.conversation_id))) return;
      clearTypingFor(d.conversation_id, d.sender.id);
      receiveMessage(d, true);
      break;
    case "message.updated":
    case "message.deleted":
      if (d.conversation_id === current && messages.has(d.id)) {
        // Event payloads omit the viewer-specific `me`; fillMessage works from user_ids.
        receiveUpdate(d);
      } else {
        receiveUpdate(d);
      }
      refreshCounts(d.conversation_id);
      break;
    case "reaction.added":
    case "reaction.removed": {
      const msg = d.conversation_id === current && messages.get(d.message_id);
      if (msg) receiveUpdate({ ...msg, reactions: d.reactions });
      break;
    }
    case "receipt.updated": {
      if (d.conversation_id === current) {
        const m = markers.get(d.user_id) || { read: 0, delivered: 0 };
        if (d.kind === "read") m.read = Math.max(m.read, d.message_id);
        m.delivered = Math.max(m.delivered, d.message_id);
        markers.set(d.user_id, m);
        refreshTicks();
      }
      if (d.user_id === me.id && d.kind === "read") {
        // Read in another window of ours.
        const conv = convs.get(d.conversation_id);
        if (conv && conv.unread_count && conv.last_message && d.message_id >= conv.last_message.id) {
          conv.unread_count = 0;
          conv.unread_mention_count = 0;
          renderList();
        }
      }
      break;
    }
    case "participant.added": {
      if (d.user_id === me.id) {
        if (d.conversation) {
          addConversation({ unread_count: 0, ...d.conversation });
          renderList();
        } else {
          await ensureConversation(d.conversation_id);
          renderList();
        }
      } else {
        const conv = convs.get(d.conversation_id);
        if (conv && !conv.participants.some((p) => p.id === d.user_id)) conv.participants.push({ role: "member", ...d.user });
        if (conv) applyConversationUpdate({ ...conv });
      }
      break;
    }
    case "participant.removed": {
      if (d.user_id === me.id) {
        removeConversation(d.conversation_id);
      } else {
        const conv = convs.get(d.conversation_id);
        if (conv) {
          conv.participants = conv.participants.filter((p) => p.id !== d.user_id);
          clearTypingFor(d.conversation_id, d.user_id);
          applyConversationUpdate({ ...conv });
        }
      }
      break;
    }
    case "participant.role_changed": {
      setRole(d.conversation_id, d.user_id, d.role);
      break;
    }
    case "block.changed":
      if (d.blocked) blocked.set(d.blocked_user_id, { ...d.user, blocked_at: blocked.get(d.blocked_user_id)?.blocked_at || null });
      else blocked.delete(d.blocked_user_id);
      applyBlocks();
      break;
    case "user.updated":
      applyUserUpdate(d.user);
      break;
    case "presence": {
      presence.set(d.user_id, { online: !!d.online, last_seen: d.last_seen || null });
      renderList();
      if (current !== null) {
        renderHeader();
        if ($("details-dialog").open) renderDetails();
      }
      break;
    }
    default:
      break;
  }
}

// A user's new name or picture (user.updated, or our own change): every copy the page
// holds, in the participant lists and the open conversation's messages, then the views.
function applyUserUpdate(user) {
  if (!user) return;
  if (user.id === me.id) {
    Object.assign(me, user);
    $("me-name").textContent = displayName(me);
    fillAvatar($("me-avatar"), me);
    $("me-avatar").hidden = false;
  }
  for (const conv of convs.values()) {
    conv.participants = (conv.participants || []).map((p) => (p.id === user.id ? { ...p, ...user } : p));
    if (conv.last_message && conv.last_message.sender && conv.last_message.sender.id === user.id) conv.last_message.sender = user;
  }
  for (const msg of messages.values()) {
    if (msg.sender && msg.sender.id === user.id) {
      msg.sender = user;
      refreshMessage(msg);
    }
  }
  renderList();
  if (current !== null) {
    renderHeader();
    if ($("details-dialog").open) renderDetails();
  }
}

async function reloadAll() {
  const data = await call("GET", "/api/chat/conversations/");
  // Merge rather than replace: a conversation event may have arrived while the request
  // was in flight. Conversations we left are gone from the answer.
  const ids = new Set(data.results.map((c) => c.id));
  for (const id of [...convs.keys()]) if (!ids.has(id)) removeConversation(id);
  for (const c of data.results) addConversation(c);
  renderList();
  if (current !== null && convs.has(current)) await catchUpCurrent();
}

// ---- connection status ----

let lastStatus = { state: "offline", transport: "ws", retryAt: 0 };

function setStatus(status) {
  const { state, transport, retryAt } = status;
  lastStatus = status;
  const s = $("connection-status");
  clearInterval(statusTimer);
  s.dataset.state = state;
  s.dataset.transport = transport;
  const waiting = outbox ? outbox.size : 0;
  const queued = waiting ? ` · ${tn("page.status_queued", waiting)}` : "";
  if (state === "reconnecting" && retryAt) {
    const tick = () => {
      const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      s.textContent = t("page.status_reconnecting_in", { secs }) + queued;
    };
    tick();
    statusTimer = setInterval(tick, 1000);
  } else if (state === "connected") {
    s.textContent = transport === "ws" ? t("page.status_connected")
      : t("page.status_connected_via", { transport: transport === "sse" ? "SSE" : "long-poll" });
  } else if (state === "offline") {
    s.textContent = t("page.status_offline") + queued;
  } else if (state === "connecting") {
    s.textContent = t("page.status_connecting") + queued;
  } else {
    s.textContent = t("page.status_reconnecting") + queued;
  }
  if (outbox) outbox.setReady(state === "connected");
}

// ---- wiring ----

function autoGrow() {
  const area = $("compose-text");
  if (!area) return;
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 160)}px`;
}

// Hooks up the conversation pane's controls (after the server rendered it, or after
// buildPane()).
function wirePane() {
  const form = $("compose");
  if (!form) return;
  const area = $("compose-text");
  // Before the Enter-sends listener: Enter picks a suggestion while the list is open.
  attachMentionCompletion(area, () => convs.get(current), me.id);
  form.addEventListener("submit", submitCompose);
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  area.addEventListener("input", () => {
    autoGrow();
    noteTyping();
  });
  area.addEventListener("blur", stopTyping);
  area.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) {
      e.preventDefault();
      addFiles(files);
    }
  });
  $("attach-label").hidden = false;
  $("attach-hint").hidden = false;
  $("attach-hint").textContent = t("page.attach_hint", { limit: formatBytes(boot.max_attachment_bytes) });
  $("attach-input").addEventListener("change", (e) => {
    addFiles([...e.target.files]);
    e.target.value = "";
  });
  const pane = $("conversation-pane");
  pane.ondragover = (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) {
      e.preventDefault();
      pane.classList.add("dropping");
    }
  };
  pane.ondragleave = () => pane.classList.remove("dropping");
  pane.ondrop = (e) => {
    pane.classList.remove("dropping");
    if (e.dataTransfer && e.dataTransfer.files.length) {
      e.preventDefault();
      addFiles([...e.dataTransfer.files]);
    }
  };
  $("reply-cancel").addEventListener("click", cancelReply);
  $("details-button").addEventListener("click", openDetails);
  $("jump-latest").addEventListener("click", () => {
    scrollToBottom();
    maybeMarkRead();
  });
  $("back-button").addEventListener("click", (e) => {
    e.preventDefault();
    showList({ push: true });
  });
  const scroller = $("message-scroller");
  scroller.addEventListener("scroll", () => {
    updateJump();
    if (scroller.scrollTop < 200) loadOlder().catch(() => {});
    maybeMarkRead();
  }, { passive: true });
  // The no-JavaScript "Older messages" link becomes infinite scroll.
  const older = $("older-link");
  if (older) older.remove();
  // The server-rendered form carries a client_msg_id for plain posts; the script makes
  // its own per message.
  form.elements.client_msg_id.disabled = true;
}

function conversationFromPath() {
  const m = /^\/chat\/(\d+)\/$/.exec(window.location.pathname);
  return m ? Number(m[1]) : null;
}

async function startChat() {
  for (const c of boot.conversations) addConversation(c);
  if (boot.conversation) addConversation(boot.conversation);
  outbox = new Outbox(`chat-outbox-${me.id}`, sendItem);
  outbox.on("sent", ({ item, message }) => {
    if (item.conversation_id === current) receiveMessage(message, false);
    else noteLastMessage(message, false) && renderList();
  });
  outbox.on("failed", ({ item, error }) => {
    if (item.conversation_id === current) {
      markPending(item.client_msg_id, "failed", item);
      showError($("compose-error"), error);
    }
  });
  // The banner counts what waits to be sent.
  outbox.on("change", () => setStatus(lastStatus));
  outbox.on("stalled", ({ item }) => {
    if (item.conversation_id === current) markPending(item.client_msg_id, "failed", item);
  });

  $("conversation-filter").hidden = false;
  $("new-chat-open").hidden = false;
  $("conversation-filter").addEventListener("input", renderList);
  $("conversation-list").addEventListener("click", (e) => {
    const a = e.target.closest("a.conversation-link");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    selectConversation(Number(a.closest(".conversation").dataset.id));
  });
  $("logout-button").addEventListener("click", async () => {
    try {
      await api("POST", "/api/auth/logout", undefined, boot.csrf_cookie);
    } finally {
      try {
        localStorage.removeItem(`chat-outbox-${me.id}`);
      } catch {
        // nothing stored
      }
      window.location.assign("/chat/");
    }
  });
  if ("Notification" in window && Notification.permission === "default") {
    const nb = $("notify-button");
    nb.hidden = false;
    nb.addEventListener("click", async () => {
      await Notification.requestPermission();
      nb.hidden = true;
    });
  }
  startNewChatDialog();
  startDetailsDialog();
  startBlockedDialog();
  startAccountDialog({ $, call, boot, me, showError, onUser: applyUserUpdate });
  startMessageSearch({ $, call, convs, me, conversationTitle, displayName, openAt: openAtMessage });
  fillAvatar($("me-avatar"), me);
  $("me-avatar").hidden = false;
  window.addEventListener("popstate", () => {
    const id = conversationFromPath();
    if (id !== null && convs.has(id)) openConversation(id);
    else showList();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) maybeMarkRead();
    renderList();
  });
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && current !== null && !document.querySelector("dialog[open]") && $("app").dataset.view === "conversation" &&
        window.matchMedia("(max-width: 700px)").matches) showList({ push: true });
  });

  connection = new ChatConnection(resolveWsUrl(boot.ws_url));
  connection.on("event", (frame) => handleEvent(frame).catch((err) => console.error(err)));
  connection.on("typing", onTypingFrame);
  connection.on("resync", () => reloadAll().catch(() => {}));
  connection.on("resync", () => loadBlocks());
  connection.on("status", setStatus);
  // A 401 here sends the page back to the login form; anything else keeps retrying.
  connection.on("authlost", () => call("GET", "/api/auth/me").catch(() => {}));

  renderList();
  const id = conversationFromPath();
  if (id !== null && convs.has(id) && $("compose")) {
    wirePane();
    // A search hit's link (?around=) keeps its query, so a reload opens there again.
    history.replaceState({ conv: id }, "", window.location.pathname + (boot.messages_around ? window.location.search : ""));
    await openConversation(id, { fromServer: true });
  } else {
    setView("list");
  }
  connection.start();
}

// ---- blocking (docs/API.md, "Blocking") ----

// In groups, with the toggle on, messages of users I blocked are hidden (direct chats
// with them are read-only anyway, and hiding there would hide the whole history).
function markIfBlocked(li, msg, conv) {
  const fromBlocked = !!(msg.sender && blocked.has(msg.sender.id));
  li.classList.toggle("from-blocked", fromBlocked);
  li.hidden = fromBlocked && !!(conv && conv.is_group) && hideBlocked;
}

// Why the message box of this direct chat cannot send, said before anyone tries.
function renderComposeNotice(conv) {
  const note = $("compose-notice");
  if (!note) return;
  note.replaceChildren();
  const other = conv && !conv.is_group ? otherParticipant(conv) : null;
  if (conv && !conv.is_group && !other) {
    note.textContent = t("page.other_left");
  } else if (other && blocked.has(other.id)) {
    note.append(t("page.you_blocked", { name: displayName(other) }) + " ", blockButton(other, $("compose-error")));
  }
  note.hidden = !note.childNodes.length;
}

async function setBlocked(user, on, errorNode) {
  try {
    if (on) blocked.set(user.id, await call("POST", "/api/users/blocks/", { user_id: user.id }));
    else {
      await call("DELETE", `/api/users/blocks/${user.id}/`);
      blocked.delete(user.id);
    }
    showError(errorNode, null);
    applyBlocks();
  } catch (err) {
    showError(errorNode, err);
  }
}

function blockButton(user, errorNode) {
  const on = blocked.has(user.id);
  const b = button(on ? "unblock-user link" : "block-user link", on ? t("page.unblock") : t("page.block"),
    t(on ? "page.unblock_name" : "page.block_name", { name: displayName(user) }));
  b.dataset.userId = user.id;
  b.addEventListener("click", () => setBlocked(user, !on, errorNode));
  return b;
}

function renderBlocked() {
  const ul = $("blocked-list");
  ul.replaceChildren();
  for (const u of blocked.values()) {
    const li = el("li", "member blocked-user");
    li.dataset.id = u.id;
    li.append(el("span", "member-name", displayName(u)), " ", el("span", "username", `@${u.username}`), " ",
      blockButton(u, $("blocked-error")));
    ul.append(li);
  }
  $("no-blocked").hidden = blocked.size > 0;
}

// Everything that shows a block follows the map.
function applyBlocks() {
  if (current !== null && $("messages")) {
    for (const [id, li] of messageEls) {
      const msg = messages.get(id);
      if (msg) markIfBlocked(li, msg, convs.get(current));
    }
    renderHeader();
  }
  if ($("details-dialog").open) renderDetails();
  renderBlocked();
}

async function loadBlocks() {
  try {
    const data = await call("GET", "/api/users/blocks/");
    blocked.clear();
    for (const b of data.results) blocked.set(b.id, b);
    applyBlocks();
  } catch {
    // Shown as not blocked until the next reload; the server enforces blocks anyway.
  }
}

function startBlockedDialog() {
  const dialog = $("blocked-dialog");
  const toggle = $("hide-blocked-toggle");
  toggle.checked = hideBlocked;
  toggle.addEventListener("change", () => {
    hideBlocked = toggle.checked;
    try {
      localStorage.setItem(HIDE_BLOCKED_KEY, toggle.checked ? "1" : "0");
    } catch {
      // Storage disabled: the toggle lasts for this page only.
    }
    applyBlocks();
  });
  $("blocked-open").hidden = false;
  $("blocked-open").addEventListener("click", () => {
    showError($("blocked-error"), null);
    renderBlocked();
    dialog.showModal();
  });
  $("blocked-close").addEventListener("click", () => dialog.close());
  loadBlocks();
}

if (me) startChat();
else startLogin();
