// comfyui-auth frontend extension: shows who is signed in, adds "Sign out", "Account…" and,
// for administrators, "Users…".
// Uses only ComfyUI's public extension API (registerExtension with commands, menuCommands and
// topbarBadges), so it keeps working across frontend updates. If /auth/me does not answer
// (authentication disabled), it adds nothing. The dialogs, confirmations included, are plain
// DOM in a native <dialog> (focus stays inside, Escape closes it), styled with ComfyUI's own
// CSS variables so they follow its theme. They talk to the JSON API under /auth/ (see the README); the interceptor
// (inject.js) adds the X-CSRF-Token header to their same-origin writes.
import { app } from "../../scripts/app.js";

const SIGN_OUT = "comfyui-auth.signOut";
const ACCOUNT = "comfyui-auth.account";
const USERS = "comfyui-auth.users";
const STYLE_ID = "comfyui-auth-style";
const STYLE = `
.cauth-dialog { background: var(--comfy-menu-bg, #353535); color: var(--fg-color, #fff);
  border: 1px solid var(--border-color, #4e4e4e); border-radius: 8px; padding: 0;
  width: min(56rem, 94vw); max-height: 88vh; font: 14px/1.4 sans-serif; }
.cauth-dialog [hidden] { display: none; }
.cauth-dialog::backdrop { background: rgb(0 0 0 / 50%); }
.cauth-body { padding: 1rem 1.25rem; overflow: auto; max-height: calc(88vh - 3.5rem); }
.cauth-head { display: flex; justify-content: space-between; align-items: center;
  padding: .75rem 1.25rem; border-bottom: 1px solid var(--border-color, #4e4e4e); }
.cauth-head h2, .cauth-body h3 { margin: 0; font-size: 1rem; }
.cauth-body section { margin-bottom: 1.25rem; }
.cauth-body h3 { margin-bottom: .5rem; }
.cauth-body form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
.cauth-body label { display: flex; flex-direction: column; gap: .2rem; font-size: .85rem; }
.cauth-body input, .cauth-body select, .cauth-body button {
  background: var(--comfy-input-bg, #222); color: var(--input-text, var(--fg-color, #ddd));
  border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px; padding: .35rem .5rem;
  font: inherit; }
.cauth-body button, .cauth-head button { cursor: pointer; }
.cauth-body button:focus-visible, .cauth-body input:focus-visible,
.cauth-body select:focus-visible, .cauth-head button:focus-visible {
  outline: 2px solid var(--p-primary-color, #4c9aff); outline-offset: 1px; }
.cauth-head button { background: none; color: inherit; border: 0; font-size: 1.25rem; }
.cauth-body table { width: 100%; border-collapse: collapse; margin-bottom: .5rem; }
.cauth-body th, .cauth-body td { text-align: left; padding: .3rem .4rem;
  border-bottom: 1px solid var(--border-color, #4e4e4e); vertical-align: middle; }
.cauth-status { min-height: 1.2em; margin: .4rem 0 0; font-size: .85rem; }
.cauth-status.error { color: var(--error-text, #ff6b6b); }
.cauth-secret { border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px;
  padding: .6rem; margin-top: .5rem; }
.cauth-secret code { display: block; word-break: break-all; user-select: all;
  font-family: monospace; margin: .3rem 0; }
.cauth-muted { opacity: .7; font-size: .85rem; }
.cauth-panel { border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px;
  padding: .6rem; margin: .25rem 0 .5rem; }
.cauth-actions { display: flex; flex-wrap: wrap; gap: .3rem; }
`;

async function whoAmI() {
  try {
    const response = await fetch("/auth/me", { credentials: "same-origin" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function signOut() {
  // The interceptor (inject.js) adds the X-CSRF-Token header to this same-origin POST. While
  // signing out it does not send a 401 to the login page itself: the frontend's own polling
  // can meet the ended session first, and this page goes to the signed-out notice instead.
  window.__comfyuiAuthSigningOut = true;
  try {
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    location.assign("/auth/login?logout=true");
  }
}

/** Call the /auth/ API; resolves to the JSON answer, rejects with its error message. */
async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

/** A DOM element: el("button", { type: "button", onclick }, "text", child, ...). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function field(label, props) {
  return el("label", {}, label, el("input", props));
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function status() {
  return el("p", { class: "cauth-status", role: "status", "aria-live": "polite" });
}

function say(line, text, isError = false) {
  line.textContent = text;
  line.classList.toggle("error", isError);
}

/** A modal dialog with a title and a close button; removed from the page when closed. */
function openDialog(title) {
  if (!document.getElementById(STYLE_ID)) {
    document.head.append(el("style", { id: STYLE_ID }, STYLE));
  }
  const body = el("div", { class: "cauth-body" });
  const dialog = el(
    "dialog",
    { class: "cauth-dialog", "aria-label": title },
    el(
      "div",
      { class: "cauth-head" },
      el("h2", {}, title),
      el("button", { type: "button", "aria-label": "Close", onclick: () => dialog.close() }, "×"),
    ),
    body,
  );
  dialog.addEventListener("close", () => dialog.remove());
  // Keys typed here are for the dialog's fields, not ComfyUI's canvas shortcuts.
  dialog.addEventListener("keydown", (event) => event.stopPropagation());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body };
}

/**
 * A question in the extension's own dialog (ComfyUI's theme, not the browser's confirm()):
 * resolves true only for the button named `action`. Cancel has the focus, so Enter on a
 * slip of the keyboard changes nothing; Escape cancels.
 */
function ask(question, action) {
  return new Promise((resolve) => {
    const { dialog, body } = openDialog("Please confirm");
    dialog.classList.add("cauth-confirm");
    let confirmed = false;
    const cancel = el("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
    const proceed = el(
      "button",
      { type: "button", onclick: () => { confirmed = true; dialog.close(); } },
      action,
    );
    body.append(el("p", {}, question), el("div", { class: "cauth-actions" }, cancel, proceed));
    dialog.addEventListener("close", () => resolve(confirmed));
    cancel.focus();
  });
}

function passwordSection(onChanged) {
  const line = status();
  const current = field("Current password", {
    type: "password", name: "current", autocomplete: "current-password", required: true,
  });
  const fresh = field("New password (12 characters or more)", {
    type: "password", name: "new", autocomplete: "new-password", required: true, minlength: 12,
  });
  const again = field("Repeat the new password", {
    type: "password", name: "repeat", autocomplete: "new-password", required: true,
  });
  const form = el("form", {}, current, fresh, again, el("button", { type: "submit" }, "Change password"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    if (values.new !== values.repeat) return say(line, "The two new passwords differ.", true);
    try {
      const answer = await api("POST", "/auth/account/password", {
        current: values.current, new: values.new,
      });
      form.reset();
      const others = Math.max(0, answer.sessions_ended - 1);
      onChanged(`Password changed. ${others} other session(s) signed out.`);
    } catch (error) {
      say(line, error.message, true);
    }
  });
  return el("section", {}, el("h3", {}, "Password"), form, line);
}

function keysSection(account, refresh) {
  const line = status();
  const shown = el("div", {});
  const rows = account.api_keys.map((key) =>
    el(
      "tr",
      {},
      el("td", {}, key.label),
      el("td", {}, el("code", {}, key.id)),
      el("td", {}, when(key.created)),
      el("td", {}, key.expired ? "expired" : when(key.expires)),
      el("td", {}, key.last_used ? `${when(key.last_used)} from ${key.last_address}` : "never"),
      el(
        "td",
        {},
        el(
          "button",
          {
            type: "button",
            "aria-label": `Revoke key ${key.label}`,
            onclick: async () => {
              const question = `Revoke the key "${key.label}"? Programs using it stop working.`;
              if (!(await ask(question, "Revoke"))) return;
              try {
                await api("DELETE", `/auth/account/keys/${encodeURIComponent(key.id)}`);
                refresh();
              } catch (error) {
                say(line, error.message, true);
              }
            },
          },
          "Revoke",
        ),
      ),
    ),
  );
  const table = rows.length
    ? el(
        "table",
        {},
        el("thead", {}, el("tr", {}, ...["Label", "Id", "Created", "Expires", "Last used", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows),
      )
    : el("p", { class: "cauth-muted" }, "No API keys yet.");
  const form = el(
    "form",
    {},
    field("Label", { name: "label", required: true, maxlength: 64, placeholder: "e.g. krita" }),
    field("Expires after (days, optional)", { name: "days", type: "number", min: 1, max: 36500 }),
    el("button", { type: "submit" }, "Create key"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { label: values.label };
    if (values.days) body.expires_days = Number(values.days);
    try {
      const created = await api("POST", "/auth/account/keys", body);
      form.reset();
      refresh(created);
    } catch (error) {
      say(line, error.message, true);
    }
  });
  return { section: el("section", {}, el("h3", {}, "API keys"), table, form, line, shown), shown };
}

/** A secret shown once (a new key, a set-password link), with a copy button that gets focus. */
function showSecret(target, { title, value, copyLabel, testId, after = [] }) {
  const copyLine = status();
  const copy = el(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(value);
          say(copyLine, "Copied.");
        } catch {
          say(copyLine, "Copying is not allowed here; select the text and copy it.", true);
        }
      },
    },
    copyLabel,
  );
  target.replaceChildren(
    el(
      "div",
      { class: "cauth-secret", "data-testid": testId },
      el("strong", {}, title),
      el("code", { "data-testid": `${testId}-value` }, value),
      copy,
      ...after,
      copyLine,
    ),
  );
  copy.focus();
}

/** The new key, once: it is never shown again, only its id and label are kept. */
function showNewKey(target, created) {
  const curl = `curl -H "Authorization: Bearer ${created.key}" ${location.origin}/api/queue`;
  showSecret(target, {
    title: `New key "${created.label}": shown only this once, store it now.`,
    value: created.key,
    copyLabel: "Copy key",
    testId: "new-key",
    after: [el("p", { class: "cauth-muted" }, "Use it from a script:"), el("code", {}, curl)],
  });
}

/** A set-password link, once: the server keeps only its digest. */
function showLink(target, answer) {
  showSecret(target, {
    title: `One-time link for ${answer.user}, valid until ${when(answer.link_expires)}. Send it to them; it works once.`,
    value: answer.link,
    copyLabel: "Copy link",
    testId: "new-link",
  });
}

function describeSession(session) {
  const where = session.device ? `${session.device}, ${session.address}` : "not seen yet";
  const seen = session.last_seen ? `, last seen ${when(session.last_seen)}` : "";
  const key = session.with_api_key ? " (with an API key)" : "";
  return `${where}: signed in ${when(session.created)}${seen}${key} `;
}

function sessionsSection(account, refresh) {
  const line = status();
  const items = account.sessions.map((session) =>
    el(
      "li",
      {},
      describeSession(session),
      session.current
        ? el("strong", {}, " — this browser")
        : el(
            "button",
            {
              type: "button",
              "aria-label": `Sign out the session signed in ${when(session.created)}`,
              onclick: async () => {
                try {
                  await api("DELETE", `/auth/account/sessions/${encodeURIComponent(session.id)}`);
                  refresh(undefined, "That session is signed out.");
                } catch (error) {
                  say(line, error.message, true);
                }
              },
            },
            "Sign out",
          ),
    ),
  );
  return el(
    "section",
    {},
    el("h3", {}, "Sessions"),
    items.length ? el("ul", {}, ...items) : el("p", { class: "cauth-muted" }, "No browser sessions."),
    el("p", { class: "cauth-muted" }, "Changing your password signs out every other session."),
    line,
  );
}

async function openAccount() {
  const { body } = openDialog("Account");
  const draw = async (created, notice) => {
    let account;
    try {
      account = await api("GET", "/auth/account");
    } catch (error) {
      body.replaceChildren(el("p", { class: "cauth-status error" }, error.message));
      return;
    }
    const keys = keysSection(account, draw);
    const noticeLine = status();
    body.replaceChildren(
      el("p", {}, `Signed in as `, el("strong", {}, account.user), ` (${account.role})`),
      noticeLine,
      account.has_password ? passwordSection((message) => draw(undefined, message)) : null,
      keys.section,
      sessionsSection(account, draw),
    );
    if (notice) say(noticeLine, notice);
    if (created) showNewKey(keys.shown, created);
    else body.querySelector("input, button")?.focus();
  };
  await draw();
}

/** A small form inside a user's row (reset the password, list sessions): focus goes in. */
function openPanel(panel, ...children) {
  panel.replaceChildren(el("div", { class: "cauth-panel" }, ...children));
  panel.querySelector("input, button")?.focus();
}

function resetPanel(user, path, panel, refresh) {
  const line = status();
  const form = el(
    "form",
    {},
    field(`New password for ${user.user} (12 characters or more)`, {
      name: "password", type: "password", required: true, minlength: 12, autocomplete: "new-password",
    }),
    el("button", { type: "submit" }, "Set password"),
    el("button", { type: "button", onclick: () => panel.replaceChildren() }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api("POST", `${path}/password`, Object.fromEntries(new FormData(form)));
      refresh(`Password of ${user.user} reset; ${answer.sessions_ended} session(s) signed out.`);
    } catch (error) {
      say(line, error.message, true);
    }
  });
  const shown = el("div", {});
  const link = el(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          showLink(shown, await api("POST", `${path}/link`, {}));
        } catch (error) {
          say(line, error.message, true);
        }
      },
    },
    "Make a one-time link instead",
  );
  openPanel(panel, form, link, line, shown);
}

async function sessionsPanel(user, path, panel, refresh) {
  const line = status();
  let listing;
  try {
    listing = await api("GET", `${path}/sessions`);
  } catch (error) {
    return openPanel(panel, el("p", { class: "cauth-status error" }, error.message));
  }
  const items = listing.sessions.map((session) =>
    el(
      "li",
      {},
      describeSession(session),
      session.current ? el("strong", {}, "— this browser ") : null,
      el(
        "button",
        {
          type: "button",
          "aria-label": `End the session of ${user.user} signed in ${when(session.created)}`,
          onclick: async () => {
            try {
              await api("DELETE", `${path}/sessions/${encodeURIComponent(session.id)}`);
              refresh(`A session of ${user.user} was ended.`);
            } catch (error) {
              say(line, error.message, true);
            }
          },
        },
        "End",
      ),
    ),
  );
  openPanel(
    panel,
    items.length ? el("ul", {}, ...items) : el("p", { class: "cauth-muted" }, "No sessions."),
    el("button", { type: "button", onclick: () => panel.replaceChildren() }, "Close"),
    line,
  );
}

function userRows(user, me, line, refresh) {
  const path = `/auth/admin/users/${encodeURIComponent(user.user)}`;
  const panel = el("div", {});
  const act = (label, run) =>
    el(
      "button",
      {
        type: "button",
        "aria-label": `${label}: ${user.user}`,
        onclick: async () => {
          try {
            const answer = await run();
            if (answer !== null) refresh(`${label}: ${user.user} done.`);
          } catch (error) {
            say(line, error.message, true);
          }
        },
      },
      label,
    );
  const show = (label, open) =>
    el("button", { type: "button", "aria-label": `${label}: ${user.user}`, onclick: open }, label);
  const other = user.role === "admin" ? "user" : "admin";
  const state = user.disabled ? "disabled" : user.link_pending ? "link sent" : "active";
  return [
    el(
      "tr",
      {},
      el("td", {}, user.user, user.user === me ? " (you)" : ""),
      el("td", {}, user.role),
      el("td", {}, state),
      el("td", {}, String(user.api_keys)),
      el("td", {}, String(user.sessions)),
      el("td", {}, when(user.last_sign_in)),
      el(
        "td",
        {},
        el(
          "div",
          { class: "cauth-actions" },
          act(other === "admin" ? "Make admin" : "Make user", () =>
            api("POST", `${path}/role`, { role: other }),
          ),
          show("Reset password", () => resetPanel(user, path, panel, refresh)),
          show("Sessions", () => sessionsPanel(user, path, panel, refresh)),
          user.disabled
            ? act("Enable", () => api("POST", `${path}/disabled`, { disabled: false }))
            : act("Disable", async () =>
                (await ask(
                  `Disable ${user.user}? Their sessions end and their API keys stop working until enabled.`,
                  "Disable",
                ))
                  ? api("POST", `${path}/disabled`, { disabled: true })
                  : null,
              ),
          act("Remove", async () =>
            (await ask(
              `Remove ${user.user}? Their sessions end and their API keys stop working.`,
              "Remove",
            ))
              ? api("DELETE", path)
              : null,
          ),
        ),
      ),
    ),
    el("tr", {}, el("td", { colspan: 7 }, panel)),
  ];
}

function addUserForm(line, refresh) {
  const password = field("Password (12 characters or more)", {
    name: "password", type: "password", minlength: 12, autocomplete: "new-password",
  });
  password.hidden = true;
  const how = el(
    "select",
    {
      name: "how",
      onchange: () => {
        password.hidden = how.value !== "password";
        password.querySelector("input").required = !password.hidden;
      },
    },
    el("option", { value: "link" }, "a one-time link"),
    el("option", { value: "password" }, "a password I choose"),
  );
  const form = el(
    "form",
    {},
    field("Name", { name: "name", required: true, maxlength: 64, autocomplete: "off" }),
    el(
      "label",
      {},
      "Role",
      el("select", { name: "role" }, el("option", { value: "user" }, "user"), el("option", { value: "admin" }, "admin")),
    ),
    el("label", {}, "Sets their password with", how),
    password,
    el("button", { type: "submit" }, "Add user"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { name: values.name, role: values.role };
    if (values.how === "link") body.link = true;
    else body.password = values.password;
    try {
      const answer = await api("POST", "/auth/admin/users", body);
      await refresh(`Added ${values.name}.`);
      if (answer.link) showLink(document.querySelector("[data-testid=users-link]"), answer);
    } catch (error) {
      say(line, error.message, true);
    }
  });
  return form;
}

async function openUsers(me) {
  const { body } = openDialog("Users");
  const line = status();
  const draw = async (message) => {
    let listing;
    try {
      listing = await api("GET", "/auth/admin/users");
    } catch (error) {
      body.replaceChildren(el("p", { class: "cauth-status error" }, error.message));
      return;
    }
    const form = addUserForm(line, draw);
    const headings = ["User", "Role", "State", "API keys", "Sessions", "Last sign-in", ""];
    body.replaceChildren(
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
        el("tbody", {}, ...listing.users.flatMap((user) => userRows(user, me.user, line, draw))),
      ),
      el("h3", {}, "Add a user"),
      form,
      line,
      el("div", { "data-testid": "users-link" }),
    );
    say(line, message || "");
    body.querySelector("button, input")?.focus();
  };
  await draw();
}

const me = await whoAmI();

if (me) {
  const label = me.role === "admin" ? `${me.user} (admin)` : me.user;
  const commands = [
    {
      id: SIGN_OUT,
      label: `Sign out (${label})`,
      menubarLabel: "Sign out",
      icon: "pi pi-sign-out",
      function: signOut,
    },
    {
      id: ACCOUNT,
      label: "Account: password and API keys",
      menubarLabel: "Account…",
      icon: "pi pi-user-edit",
      function: openAccount,
    },
  ];
  if (me.role === "admin") {
    commands.push({
      id: USERS,
      label: "Users: add, reset, disable, remove",
      menubarLabel: "Users…",
      icon: "pi pi-users",
      function: () => openUsers(me),
    });
  }
  app.registerExtension({
    name: "comfyui-auth.session",
    commands,
    menuCommands: [{ path: ["Account"], commands: commands.map((command) => command.id) }],
    topbarBadges: [
      { label: "Signed in", text: label, icon: "pi pi-user", tooltip: `Signed in as ${label}` },
    ],
  });
}
