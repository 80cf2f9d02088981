// lixian's page. Everything talks to the daemon over ./jsonrpc (a WebSocket): aria2's
// methods plus lixian.* (listTasks, subscribe, listFiles, fileUrl, parseCurl).
import { App } from "./app";
import { AddDialog } from "./add";
import { button, h, setText, toast } from "./dom";
import { speed } from "./format";
import { GlobalPage } from "./global";
import { TaskList } from "./list";
import { Rpc, RpcError, rpcUrl } from "./rpc";
import { TaskPage } from "./task";

const SECRET_KEY = "lixian.secret";
const THEME_KEY = "lixian.theme";

const rpc = new Rpc(rpcUrl("jsonrpc"));
const app = new App(rpc);
const root = document.getElementById("app") ?? document.body;

// ---- theme: auto (the system's), light or dark ----
const themes = ["auto", "light", "dark"] as const;
let theme = (localStorage.getItem(THEME_KEY) as (typeof themes)[number]) || "auto";
function applyTheme(): void {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  themeBtn.textContent = theme === "dark" ? "☾" : theme === "light" ? "☀" : "◐";
  themeBtn.title = `Theme: ${theme} (click to change)`;
  themeBtn.setAttribute("aria-label", themeBtn.title);
}
const themeBtn = button("◐", () => {
  theme = themes[(themes.indexOf(theme) + 1) % themes.length];
  localStorage.setItem(THEME_KEY, theme);
  applyTheme();
}, "ghost icon theme");

// ---- the frame ----
const speedDown = h("span", { class: "hdr-down", title: "Total download speed" });
const speedUp = h("span", { class: "hdr-up", title: "Total upload speed" });
const conn = h("div", { class: "conn-banner", hidden: true, attrs: { role: "alert" } });
const signOut = button("Sign out", () => {
  localStorage.removeItem(SECRET_KEY);
  rpc.secret = null;
  location.reload();
}, "ghost sign-out");
signOut.hidden = true;
const addDialog = new AddDialog(app);
const header = h("header", { class: "top" },
  h("a", { class: "brand", href: "#/", text: "lixian" }),
  h("span", { class: "speeds" }, speedDown, speedUp),
  h("span", { class: "grow" }),
  button("+ Add", () => addDialog.open(), "primary add-open"),
  h("a", { class: "button ghost global-link", href: "#/global", text: "Speed & settings" }),
  themeBtn,
  signOut);
const main = h("main", { class: "content" });
const list = new TaskList(app);
main.appendChild(list.el);
list.hide();
root.replaceChildren(header, conn, main, addDialog.el);
applyTheme();

app.onGlobal.add(() => {
  setText(speedDown, `↓ ${speed(app.stats.downloadSpeed)}`);
  setText(speedUp, `↑ ${speed(app.stats.uploadSpeed)}`);
});

// ---- routes: #/ (list), #/task/GID, #/global ----
let page: TaskPage | GlobalPage | null = null;
function route(): void {
  if (!ready) return;
  page?.dispose();
  page?.el.remove();
  page = null;
  const hash = location.hash.replace(/^#\/?/, "");
  const task = /^task\/([0-9a-fA-F]{1,16})$/.exec(hash);
  if (task) {
    list.hide();
    const p = new TaskPage(app, task[1].toLowerCase());
    page = p;
    main.appendChild(p.el);
    void p.start();
  } else if (hash === "global") {
    list.hide();
    const p = new GlobalPage(app);
    page = p;
    main.appendChild(p.el);
    void p.start();
    document.title = "Speed and settings · lixian";
  } else {
    document.title = "lixian";
    list.show();
  }
  window.scrollTo(0, 0);
}
window.addEventListener("hashchange", route);

// ---- drop .torrent files or links anywhere ----
document.addEventListener("dragover", (e) => {
  if (e.dataTransfer?.types.includes("Files") || e.dataTransfer?.types.includes("text/uri-list")) e.preventDefault();
});
document.addEventListener("drop", (e) => {
  if (!ready || !e.dataTransfer) return;
  const files = [...e.dataTransfer.files];
  if (files.length) {
    e.preventDefault();
    addDialog.addTorrentFiles(files);
  } else {
    const text = e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain");
    if (text) {
      e.preventDefault();
      addDialog.addLinks(text);
    }
  }
});

// ---- sign in ----
let ready = false;

function showSignIn(message = ""): void {
  const secret = h("input", { type: "password", name: "secret", autocomplete: "current-password", required: true, attrs: { "aria-label": "Secret" } });
  const remember = h("input", { type: "checkbox", name: "remember" });
  const note = h("p", { class: "error", text: message, hidden: !message, attrs: { role: "alert" } });
  const form = h("form", { class: "signin card", on: { submit: (e) => {
    e.preventDefault();
    rpc.secret = secret.value;
    (form.querySelector("button") as HTMLButtonElement).disabled = true;
    void probe().then((ok) => {
      if (ok) {
        if (remember.checked) localStorage.setItem(SECRET_KEY, secret.value);
        form.remove();
        void enter();
      } else {
        (form.querySelector("button") as HTMLButtonElement).disabled = false;
        note.hidden = false;
        note.textContent = "That secret is not the daemon's.";
        secret.select();
      }
    });
  } } },
    h("h1", { text: "lixian" }),
    h("p", { text: "This daemon has a secret (its --rpc-secret). Enter it to continue." }),
    h("label", { class: "field" }, h("span", { text: "Secret" }), secret),
    h("label", { class: "check" }, remember, h("span", { text: " Remember on this browser" })),
    note,
    h("button", { type: "submit", class: "primary", text: "Sign in" }));
  main.replaceChildren(form);
  header.classList.add("bare");
  secret.focus();
}

/** Does the daemon accept us (with the secret we hold, or none)? */
async function probe(): Promise<boolean> {
  try {
    const v = await rpc.call<{ version: string }>("lixian.version");
    app.version = `lixian ${v.version}`;
    return true;
  } catch (e) {
    if (e instanceof RpcError && e.unauthorized) return false;
    if (e instanceof RpcError && /No such method/.test(e.message)) {
      // an aria2 daemon: the page works, without lixian's own methods
      const v = await rpc.call<{ version: string }>("aria2.getVersion");
      app.version = `aria2 ${v.version}`;
      return true;
    }
    throw e;
  }
}

async function enter(): Promise<void> {
  header.classList.remove("bare");
  signOut.hidden = !rpc.secret;
  main.replaceChildren(list.el);
  const methods = await rpc.call<string[]>("system.listMethods");
  app.methods = new Set(methods);
  await app.loadGlobalOptions();
  ready = true;
  if (!app.has("lixian.subscribe")) {
    toast("This daemon has no lixian.subscribe: the list cannot be shown live.", "error");
  }
  route();
}

rpc.secret = localStorage.getItem(SECRET_KEY);
let everReady = false;
rpc.onopen = () => {
  conn.hidden = true;
  if (everReady) {
    void app.resubscribe();
    return;
  }
  everReady = true;
  void probe().then((ok) => {
    if (ok) void enter();
    else {
      const hadSecret = !!rpc.secret;
      if (hadSecret) localStorage.removeItem(SECRET_KEY);
      rpc.secret = null;
      showSignIn(hadSecret ? "The remembered secret no longer works." : "");
    }
  }).catch((e: Error) => toast(e.message, "error"));
};
rpc.onclose = (opened) => {
  conn.hidden = false;
  conn.textContent = opened
    ? "Lost the connection to the daemon; reconnecting…"
    : "Cannot reach the daemon at this address; retrying…";
};
rpc.start();
