// Message search in the sidebar (GET /api/chat/search/, docs/API.md): a search box,
// filters for the conversation and the sender, results newest first with the query's
// words highlighted, "More results" paging with before=, and each result a link that
// opens its conversation at that message (/chat/<id>/?around=<message id>). Message
// text reaches the DOM as text nodes and <mark> elements built here, never as HTML.
import { ApiError } from "./chat-client.js";
import { formatDate, t, tn } from "./i18n.js";

const DEBOUNCE_MS = 300;
const PAGE = 20;
const PREVIEW_CHARS = 200;

// The words of q a result is highlighted for: the server matches each word of 3+
// characters as a prefix, and a query of only shorter words as a substring, so marking
// every occurrence of each word is what it matched (and a little more, harmlessly).
export function searchWords(q) {
  const words = (q.match(/[\p{L}\p{N}_]+/gu) || []).map((w) => w.toLowerCase());
  const long = words.filter((w) => Array.from(w).length >= 3);
  return [...new Set(long.length ? long : [q.trim().toLowerCase()].filter(Boolean))];
}

// Appends text to node with every occurrence of the words wrapped in <mark>.
export function appendHighlighted(node, text, words) {
  const lower = text.toLowerCase();
  let at = 0;
  while (at < text.length) {
    let best = -1;
    let len = 0;
    for (const w of words) {
      const i = lower.indexOf(w, at);
      if (i >= 0 && (best < 0 || i < best || (i === best && w.length > len))) {
        best = i;
        len = w.length;
      }
    }
    // toLowerCase can change a string's length (a few letters); then no marks.
    if (best < 0 || lower.length !== text.length) break;
    node.append(text.slice(at, best));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(best, best + len);
    node.append(mark);
    at = best + len;
  }
  node.append(text.slice(at));
}

// The part of a long message around its first match, so the match is in view.
function excerpt(text, words) {
  const chars = Array.from(text);
  if (chars.length <= PREVIEW_CHARS) return text;
  const lower = text.toLowerCase();
  const hit = Math.min(...words.map((w) => lower.indexOf(w)).filter((i) => i >= 0), text.length);
  const startChar = Math.max(0, Array.from(text.slice(0, hit)).length - 40);
  const part = chars.slice(startChar, startChar + PREVIEW_CHARS).join("");
  return (startChar > 0 ? "\u2026" : "") + part + (startChar + PREVIEW_CHARS < chars.length ? "\u2026" : "");
}

// Wires the search box. `convs` is the page's Map of conversations, `openAt(convId,
// messageId)` opens one at a message, `conversationTitle` and `displayName` name them.
export function startMessageSearch({ $, call, convs, me, conversationTitle, displayName, openAt }) {
  const input = $("message-search");
  const panel = $("search-panel");
  const list = $("search-results");
  const convSelect = $("search-conversation");
  const senderSelect = $("search-sender");
  const status = $("search-status");
  const more = $("search-more");
  let seq = 0;
  let timer = null;
  let before = 0;
  let words = [];

  function option(value, text) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  // The conversations to choose from, and the people of the chosen one (or of all).
  function fillFilters() {
    const chosenConv = convSelect.value;
    const chosenSender = senderSelect.value;
    const sorted = [...convs.values()].sort((a, b) => conversationTitle(a).localeCompare(conversationTitle(b)));
    convSelect.replaceChildren(option("", t("search.all_conversations")),
      ...sorted.map((c) => option(String(c.id), conversationTitle(c))));
    convSelect.value = convs.has(Number(chosenConv)) ? chosenConv : "";
    const people = new Map();
    const from = convSelect.value ? [convs.get(Number(convSelect.value))] : sorted;
    for (const c of from) for (const p of c.participants || []) if (!p.deleted) people.set(p.id, p);
    people.set(me.id, me);
    const others = [...people.values()].filter((p) => p.id !== me.id)
      .sort((a, b) => displayName(a).localeCompare(displayName(b)));
    senderSelect.replaceChildren(option("", t("search.anyone")), option(String(me.id), t("search.me")),
      ...others.map((p) => option(String(p.id), displayName(p))));
    senderSelect.value = people.has(Number(chosenSender)) ? chosenSender : "";
  }

  function resultItem(m) {
    const conv = convs.get(m.conversation_id);
    const li = document.createElement("li");
    li.className = "search-result";
    li.dataset.id = m.id;
    const a = document.createElement("a");
    a.className = "search-result-link";
    a.href = `/chat/${m.conversation_id}/?around=${m.id}`;
    const head = document.createElement("span");
    head.className = "search-result-head";
    const where = document.createElement("span");
    where.className = "search-result-conversation";
    where.textContent = conv ? conversationTitle(conv) : "";
    const who = document.createElement("span");
    who.className = "search-result-sender";
    who.textContent = m.sender && m.sender.id === me.id ? t("page.you") : displayName(m.sender);
    const when = document.createElement("time");
    when.className = "search-result-time";
    when.dateTime = m.created_at;
    when.textContent = formatDate(new Date(m.created_at), { dateStyle: "medium", timeStyle: "short" });
    head.append(where, " · ", who, " · ", when);
    const text = document.createElement("span");
    text.className = "search-result-text";
    appendHighlighted(text, excerpt(m.text || "", words), words);
    a.append(head, text);
    a.addEventListener("click", (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      openAt(m.conversation_id, m.id);
    });
    li.append(a);
    return li;
  }

  async function run(append) {
    const q = input.value.trim();
    const mine = ++seq;
    if (!append) {
      before = 0;
      list.replaceChildren();
    }
    more.hidden = true;
    if (!q) {
      panel.hidden = true;
      status.textContent = "";
      return;
    }
    panel.hidden = false;
    status.classList.remove("error");
    status.textContent = t("search.searching");
    const params = new URLSearchParams({ q, limit: String(PAGE) });
    if (convSelect.value) params.set("conversation", convSelect.value);
    if (senderSelect.value) params.set("sender", senderSelect.value);
    if (before) params.set("before", String(before));
    try {
      const page = await call("GET", `/api/chat/search/?${params}`);
      if (mine !== seq) return;
      words = searchWords(q);
      for (const m of page.results) list.append(resultItem(m));
      if (page.results.length) before = page.results[page.results.length - 1].id;
      const shown = list.children.length;
      status.textContent = shown ? (page.has_more ? tn("search.results_more", shown) : tn("search.results", shown))
        : t("search.no_results");
      more.hidden = !page.has_more;
    } catch (err) {
      if (mine !== seq) return;
      // The server's reason, in the page's language (an unsearchable query, say).
      status.textContent = err instanceof ApiError ? err.message : t("page.network_error");
      status.classList.add("error");
    }
  }

  input.hidden = false;
  input.addEventListener("focus", fillFilters);
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => run(false), DEBOUNCE_MS);
  });
  $("message-search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    run(false);
  });
  convSelect.addEventListener("change", () => {
    fillFilters();
    run(false);
  });
  senderSelect.addEventListener("change", () => run(false));
  more.addEventListener("click", () => run(true));
  $("search-close").addEventListener("click", () => {
    input.value = "";
    run(false);
    input.focus();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && input.value) {
      e.stopPropagation();
      input.value = "";
      run(false);
    }
  });
  fillFilters();
}
