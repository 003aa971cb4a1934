// The settings dialog (display name, language, picture, password, sessions, deleting the
// account) and the avatars the page shows. User text reaches the DOM through textContent
// only; an avatar is an <img> whose src is the server's own versioned URL.
import { upload } from "./chat-client.js";
import { formatDate, t } from "./i18n.js";

const AVATAR_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

// Fills `node` (a span.avatar) with the user's picture, or their initial without one.
export function fillAvatar(node, user) {
  node.replaceChildren();
  node.classList.toggle("has-image", !!(user && user.avatar_url));
  if (user && user.avatar_url) {
    const img = document.createElement("img");
    img.src = user.avatar_url;
    img.alt = "";
    img.loading = "lazy";
    node.append(img);
  } else {
    const name = user ? user.display_name || user.username || "?" : "?";
    node.textContent = Array.from(name)[0].toUpperCase();
  }
  return node;
}

export function avatarFor(user) {
  const span = document.createElement("span");
  span.className = "avatar";
  span.setAttribute("aria-hidden", "true");
  return fillAvatar(span, user);
}

function when(iso) {
  if (!iso) return t("account.never");
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : formatDate(d, { dateStyle: "medium", timeStyle: "short" });
}

// Wires the dialog. `call(method, path, body)` is the page's REST call; `onUser(user)`
// applies an updated user object of the caller to the page.
export function startAccountDialog({ $, call, boot, me, showError, onUser }) {
  const dialog = $("settings-dialog");
  const status = (id, text) => {
    $(id).textContent = text;
  };

  async function renderSessions() {
    const list = $("session-list");
    const data = await call("GET", "/api/users/me/sessions/");
    list.replaceChildren();
    for (const s of data.results) {
      const li = document.createElement("li");
      li.className = "session" + (s.current ? " current" : "");
      li.dataset.id = s.id;
      const what = document.createElement("span");
      what.className = "session-agent";
      what.textContent = s.user_agent || t("account.unknown_device");
      const where = document.createElement("span");
      where.className = "session-where hint";
      where.textContent = t("account.session_where", {
        address: s.address || t("account.unknown_address"),
        when: when(s.last_used_at),
      });
      li.append(what, where);
      if (s.current) {
        const tag = document.createElement("strong");
        tag.className = "session-current";
        tag.textContent = t("account.this_device");
        li.append(tag);
      } else {
        const end = document.createElement("button");
        end.type = "button";
        end.className = "session-end link";
        end.textContent = t("account.end_session");
        end.setAttribute("aria-label", t("account.end_session_of", { device: what.textContent }));
        end.addEventListener("click", async () => {
          try {
            await call("DELETE", `/api/users/me/sessions/${s.id}/`);
            await renderSessions();
          } catch (err) {
            showError($("settings-error"), err);
          }
        });
        li.append(end);
      }
      list.append(li);
    }
    $("sessions-end-others").disabled = data.results.length < 2;
  }

  function fillProfile() {
    $("profile-name").value = me.display_name;
    fillAvatar($("profile-avatar"), me);
    $("avatar-remove").hidden = !me.avatar_url;
    $("language-select").value = boot.locale_setting || "";
  }

  $("settings-open").hidden = false;
  $("settings-open").addEventListener("click", async () => {
    showError($("settings-error"), null);
    for (const id of ["profile-status", "password-status"]) status(id, "");
    fillProfile();
    dialog.showModal();
    try {
      await renderSessions();
    } catch (err) {
      showError($("settings-error"), err);
    }
  });
  $("settings-close").addEventListener("click", () => dialog.close());

  $("profile-save").addEventListener("click", async () => {
    showError($("settings-error"), null);
    try {
      onUser(await call("PATCH", "/api/users/me/", { display_name: $("profile-name").value }));
      fillProfile();
      status("profile-status", t("account.saved"));
    } catch (err) {
      showError($("settings-error"), err);
    }
  });
  // The language: the page is rendered in it, so a new one reloads the page.
  $("language-select").addEventListener("change", async (e) => {
    showError($("settings-error"), null);
    try {
      await call("PATCH", "/api/users/me/", { locale: e.target.value || null });
      window.location.reload();
    } catch (err) {
      showError($("settings-error"), err);
    }
  });
  $("avatar-input").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    showError($("settings-error"), null);
    if (!AVATAR_TYPES.includes(file.type)) {
      showError($("settings-error"), new Error(t("account.avatar_types")));
      return;
    }
    try {
      onUser(await upload(file, { csrfCookie: boot.csrf_cookie, method: "PUT", url: "/api/users/me/avatar/" }));
      fillProfile();
      status("profile-status", t("account.picture_updated"));
    } catch (err) {
      showError($("settings-error"), err);
    }
  });
  $("avatar-remove").addEventListener("click", async () => {
    try {
      onUser(await call("DELETE", "/api/users/me/avatar/"));
      fillProfile();
      status("profile-status", t("account.picture_removed"));
    } catch (err) {
      showError($("settings-error"), err);
    }
  });

  $("password-change").addEventListener("click", async () => {
    showError($("settings-error"), null);
    try {
      await call("POST", "/api/users/me/password/", {
        current_password: $("password-current").value,
        new_password: $("password-new").value,
      });
      $("password-current").value = "";
      $("password-new").value = "";
      status("password-status", t("account.password_changed"));
      await renderSessions();
    } catch (err) {
      showError($("settings-error"), err);
    }
  });
  $("sessions-end-others").addEventListener("click", async () => {
    try {
      await call("DELETE", "/api/users/me/sessions/");
      await renderSessions();
    } catch (err) {
      showError($("settings-error"), err);
    }
  });

  const del = $("delete-account");
  del.addEventListener("click", async () => {
    showError($("settings-error"), null);
    if (!del.dataset.armed) { // a second click confirms, as for deleting a message
      del.dataset.armed = "1";
      del.textContent = t("account.delete_confirm");
      return;
    }
    try {
      await call("DELETE", "/api/users/me/", { password: $("delete-password").value });
      try {
        localStorage.removeItem(`chat-outbox-${me.id}`);
      } catch {
        // nothing stored
      }
      window.location.assign("/chat/");
    } catch (err) {
      delete del.dataset.armed;
      del.textContent = t("account.delete_submit");
      showError($("settings-error"), err);
    }
  });
}
