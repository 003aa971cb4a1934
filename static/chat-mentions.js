// Mentions and notification levels in the page (docs/API.md "Mentions" and "Notification
// levels"): mentions drawn in message text, @-completion in the compose box, the
// notification-level dialog, and the rule for what notifies and what the title and badge
// count. User text reaches the DOM through textContent only.
import { formatDate, t } from "./i18n.js";

const DEFAULT_MENTIONS_OVER = 50; // groups larger default to "mentions" (the server's rule)
const ALL_ADMIN_ONLY_OVER = 100; // @all/@here: admins only in larger groups
const SUGGESTIONS_MAX = 8;
const LEVELS = ["all", "mentions", "none"];
const MUTE_CHOICES = [["1h", 3600e3], ["8h", 8 * 3600e3], ["1d", 86400e3], ["1w", 7 * 86400e3]];
// A '@' starts a mention after the start, white space or punctuation (not after a letter,
// a digit or a username character), like shared/mentions.c.
const QUERY_RE = /(^|[^\p{L}\p{M}\p{N}_.\-@])@([A-Za-z0-9_.-]{0,32})$/u;

// ---- what notifies and what counts ----

function defaultLevel(conv) {
  return conv.is_group && (conv.participants || []).length > DEFAULT_MENTIONS_OVER ? "mentions" : "all";
}

// The level in effect: the user's own setting, else the default, which follows the group's
// size as it changes.
export function effectiveLevel(conv) {
  return conv.notify_level_setting || defaultLevel(conv);
}

export function mutedNow(conv, now = Date.now()) {
  return !!conv.muted_until && Date.parse(conv.muted_until) > now;
}

// Whether msg mentions meId: a user entity naming them, or @all/@here from someone else
// (a page that receives a message live is online, so @here reached it).
export function mentionsMe(msg, meId) {
  if (!msg || !msg.sender || msg.sender.id === meId) return false;
  return (msg.mentions || []).some((m) => (m.kind === "user" ? m.user_id === meId : true));
}

// Whether msg should alert meId: not their own, the conversation not muted, and the level
// "all", or "mentions" with a mention of them.
export function notifies(conv, msg, meId) {
  if (!conv || !msg.sender || msg.sender.id === meId || mutedNow(conv)) return false;
  const level = effectiveLevel(conv);
  return level === "all" || (level === "mentions" && mentionsMe(msg, meId));
}

// What conv adds to the title and the app badge: its unread messages at level "all", its
// unread mentions at "mentions", nothing when muted or at "none".
export function attentionCount(conv) {
  if (mutedNow(conv)) return 0;
  const level = effectiveLevel(conv);
  if (level === "all") return conv.unread_count || 0;
  if (level === "mentions") return conv.unread_mention_count || 0;
  return 0;
}

// The app icon's badge where the browser has one (installed web apps).
export function setAppBadge(total) {
  try {
    if (total && navigator.setAppBadge) navigator.setAppBadge(total).catch(() => {});
    else if (!total && navigator.clearAppBadge) navigator.clearAppBadge().catch(() => {});
  } catch {
    // Not supported here.
  }
}

// ---- message text ----

// Appends msg's text to node: each mention as a span.mention (with "mention-me" when it
// reaches meId), the text between through appendPlain (which makes links). Entities are
// UTF-16 offsets, which is how JS strings index; one that does not fit the text is skipped.
export function appendMessageText(node, msg, meId, appendPlain) {
  const text = msg.text || "";
  const entities = [...(msg.mentions || [])].sort((a, b) => a.offset - b.offset);
  let last = 0;
  for (const m of entities) {
    if (m.offset < last || m.offset + m.length > text.length || text[m.offset] !== "@") continue;
    appendPlain(node, text.slice(last, m.offset));
    const span = document.createElement("span");
    span.className = "mention";
    span.dataset.kind = m.kind;
    if (m.kind === "user") span.dataset.userId = m.user_id;
    const me = msg.sender && msg.sender.id !== meId && (m.kind === "user" ? m.user_id === meId : true);
    span.classList.toggle("mention-me", !!me);
    span.textContent = text.slice(m.offset, m.offset + m.length);
    node.append(span);
    last = m.offset + m.length;
  }
  appendPlain(node, text.slice(last));
}

// ---- @-completion ----

function mayMentionEveryone(conv, meId) {
  if (!conv.is_group) return false;
  const parts = conv.participants || [];
  const mine = parts.find((p) => p.id === meId);
  return parts.length <= ALL_ADMIN_ONLY_OVER || !!(mine && mine.role === "admin");
}

// The suggestions for `prefix` in conv: participants (not meId, not deleted accounts) whose
// username or a word of their display name starts with it, then @all and @here.
function candidates(conv, meId, prefix) {
  const p = prefix.toLowerCase();
  const starts = (s) => s.toLowerCase().startsWith(p);
  const out = [];
  for (const u of conv.participants || []) {
    if (u.id === meId || u.deleted || !u.username) continue;
    const words = (u.display_name || "").split(/\s+/);
    if (starts(u.username) || words.some(starts)) out.push({ name: u.username, label: u.display_name || u.username, user: u });
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  if (mayMentionEveryone(conv, meId)) {
    for (const [name, key] of [["all", "mentions.everyone"], ["here", "mentions.here"]])
      if (starts(name)) out.push({ name, label: t(key) });
  }
  return out.slice(0, SUGGESTIONS_MAX);
}

// Offers @-completion in textarea `area` for the conversation getConv() returns: a listbox
// above it while the word at the caret starts with '@'. ArrowDown/ArrowUp move, Enter or
// Tab chooses, Escape closes; a click chooses too. Its keydown listener must run before the
// compose box's own (Enter sends), so attach it first.
export function attachMentionCompletion(area, getConv, meId) {
  const list = document.createElement("ul");
  list.id = "mention-suggestions";
  list.className = "mention-suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", t("mentions.suggestions_label"));
  list.hidden = true;
  area.closest("form").prepend(list);
  area.setAttribute("aria-autocomplete", "list");
  area.setAttribute("aria-controls", list.id);
  area.setAttribute("aria-expanded", "false");
  let items = [];
  let active = 0;
  let start = -1;

  function close() {
    list.hidden = true;
    items = [];
    area.setAttribute("aria-expanded", "false");
    area.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren();
    items.forEach((item, i) => {
      const li = document.createElement("li");
      li.id = `mention-option-${i}`;
      li.className = "mention-option";
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === active));
      li.dataset.name = item.name;
      const handle = document.createElement("span");
      handle.className = "mention-handle";
      handle.textContent = `@${item.name}`;
      const label = document.createElement("span");
      label.className = "mention-label";
      label.textContent = item.label;
      li.append(handle, " ", label);
      // mousedown, not click: the textarea keeps the focus and the caret.
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        choose(i);
      });
      list.append(li);
    });
    list.hidden = items.length === 0;
    area.setAttribute("aria-expanded", String(!list.hidden));
    if (items.length) area.setAttribute("aria-activedescendant", `mention-option-${active}`);
  }

  function update() {
    const conv = getConv();
    const caret = area.selectionStart;
    const m = conv && area.selectionEnd === caret ? QUERY_RE.exec(area.value.slice(0, caret)) : null;
    if (!m) return close();
    start = caret - m[2].length - 1;
    items = candidates(conv, meId, m[2]);
    active = 0;
    render();
  }

  function choose(i) {
    const item = items[i];
    if (!item) return;
    const caret = area.selectionStart;
    const insert = `@${item.name} `;
    area.value = area.value.slice(0, start) + insert + area.value.slice(caret);
    const at = start + insert.length;
    area.setSelectionRange(at, at);
    close();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  area.addEventListener("keydown", (e) => {
    if (list.hidden || e.isComposing) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      render();
    } else if (e.key === "Enter" || e.key === "Tab") {
      choose(active);
    } else if (e.key === "Escape") {
      close();
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation();
  });
  area.addEventListener("input", update);
  area.addEventListener("click", update);
  area.addEventListener("blur", close);
}

// ---- the notification-level dialog ----

function levelName(level) {
  return t(`mentions.level_${level}`);
}

// A bell (struck through when `silent`) as inline SVG: no emoji font needed, and no
// markup parsed from a string.
export function bellIcon(silent) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "1em");
  svg.setAttribute("height", "1em");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("bell-icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M12 22a2.2 2.2 0 0 0 2.2-2.2H9.8A2.2 2.2 0 0 0 12 22zm6.5-6.2V11a6.5 6.5 0 0 0-5-6.3V4"
    + "a1.5 1.5 0 0 0-3 0v.7a6.5 6.5 0 0 0-5 6.3v4.8L3.5 18v1h17v-1z");
  svg.append(path);
  if (silent) {
    const line = document.createElementNS(ns, "path");
    line.setAttribute("d", "M3 3l18 18");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("stroke-width", "2.4");
    svg.append(line);
  }
  return svg;
}

// Whether conv is silent for me now: muted, or at level "none".
export function silent(conv) {
  return mutedNow(conv) || effectiveLevel(conv) === "none";
}

// The header's bell: its label says the state, a click opens the dialog.
export function renderNotifyButton(button, conv) {
  const muted = mutedNow(conv);
  const level = effectiveLevel(conv);
  button.replaceChildren(bellIcon(silent(conv)));
  const state = muted
    ? t("mentions.muted_until", { time: formatDate(new Date(conv.muted_until), { dateStyle: "medium", timeStyle: "short" }) })
    : levelName(level);
  button.title = `${t("mentions.notify_button")}: ${state}`;
  button.setAttribute("aria-label", button.title);
  button.dataset.level = level;
  button.classList.toggle("muted", muted);
}

function dialogNode() {
  let dialog = document.getElementById("notify-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "notify-dialog";
  dialog.className = "dialog";
  dialog.setAttribute("aria-labelledby", "notify-heading");
  document.body.append(dialog);
  return dialog;
}

function radio(name, value, text, checked) {
  const label = document.createElement("label");
  label.className = "checkbox";
  const input = document.createElement("input");
  input.type = "radio";
  input.name = name;
  input.value = value;
  input.checked = checked;
  label.append(input, " ", text);
  return label;
}

// Opens the dialog for conv: the level (the default named with what it is now) and a mute.
// Saving PUTs both (call(method, path, body) is the page's API helper) and hands the
// answer to onSaved.
export function openNotifyDialog(conv, call, onSaved) {
  const dialog = dialogNode();
  const form = document.createElement("form");
  form.method = "dialog";
  const heading = document.createElement("h2");
  heading.id = "notify-heading";
  heading.textContent = t("mentions.notify_heading");
  const levels = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = t("mentions.level_legend");
  levels.append(legend, radio("level", "", t("mentions.level_default", { level: levelName(defaultLevel(conv)) }),
    !conv.notify_level_setting));
  for (const level of LEVELS) levels.append(radio("level", level, levelName(level), conv.notify_level_setting === level));
  const muteLabel = document.createElement("label");
  muteLabel.textContent = t("mentions.mute_label");
  const mute = document.createElement("select");
  mute.id = "notify-mute";
  mute.name = "mute";
  const option = (value, text) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    mute.append(o);
  };
  if (mutedNow(conv)) {
    option("keep", t("mentions.muted_until", {
      time: formatDate(new Date(conv.muted_until), { dateStyle: "medium", timeStyle: "short" }) }));
  }
  option("off", t("mentions.mute_off"));
  for (const [key] of MUTE_CHOICES) option(key, t(`mentions.mute_${key}`));
  muteLabel.append(" ", mute);
  const error = document.createElement("p");
  error.className = "error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const buttons = document.createElement("div");
  buttons.className = "dialog-buttons";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = t("mentions.cancel");
  cancel.addEventListener("click", () => dialog.close());
  const save = document.createElement("button");
  save.type = "submit";
  save.id = "notify-save";
  save.textContent = t("mentions.save");
  buttons.append(cancel, save);
  form.append(heading, levels, muteLabel, error, buttons);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const level = form.elements.level.value || null;
    const choice = MUTE_CHOICES.find(([key]) => key === mute.value);
    const mutedUntil = mute.value === "keep" ? conv.muted_until
      : choice ? new Date(Date.now() + choice[1]).toISOString() : null;
    save.disabled = true;
    try {
      const updated = await call("PUT", `/api/chat/conversations/${conv.id}/notifications/`,
        { level, muted_until: mutedUntil });
      onSaved(updated);
      dialog.close();
    } catch (err) {
      error.textContent = err.message || String(err);
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
}

// The notification fields of a conversation object: what an update carries and a
// participant.notifications_changed event replaces.
export const NOTIFY_FIELDS = ["notify_level", "notify_level_setting", "muted_until"];
