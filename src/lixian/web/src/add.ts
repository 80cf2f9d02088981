// The "Add downloads" dialog: links and magnets (one a line), .torrent files (picked or
// dropped), and a pasted "Copy as cURL" command or cookies.txt, read by the daemon
// (lixian.parseCurl / lixian.parseCookies: the same parser as `lixian add --curl`) and
// shown for review before anything is added.
import type { App } from "./app";
import { append, button, h, toast } from "./dom";
import { RpcError } from "./rpc";

type Options = Record<string, string | string[]>;

interface CurlReview {
  url: string;
  method: string;
  downloadable: boolean;
  options: Options;
  notes: string[];
  headers: Array<{ name: string; value: string }>;
  cookies: Array<{ name: string; domain: string; value: string; length?: number }>;
  dropped: Array<{ name: string; reason: string }>;
}

interface CookiesReview {
  url: string;
  options: Options;
  notes: string[];
  cookies: Array<{ name: string; domain: string; value?: string; sent?: boolean; [k: string]: unknown }>;
}

const TABS = ["links", "torrent", "curl"] as const;
type Tab = (typeof TABS)[number];

export function looksLikeCookiesTxt(text: string): boolean {
  if (/^#\s*(Netscape )?HTTP Cookie File/im.test(text)) return true;
  return text.split(/\r?\n/).some((line) => !line.startsWith("#") && line.split("\t").length === 7);
}

export class AddDialog {
  readonly el: HTMLDialogElement;
  private panes = new Map<Tab, HTMLElement>();
  private tabButtons = new Map<Tab, HTMLButtonElement>();
  private links: HTMLTextAreaElement;
  private dir: HTMLInputElement;
  private out: HTMLInputElement;
  private conns: HTMLInputElement;
  private paused: HTMLInputElement;
  private torrents: File[] = [];
  private torrentList: HTMLElement;
  private paste: HTMLTextAreaElement;
  private pasteUrls: HTMLTextAreaElement;
  private pasteUrlsWrap: HTMLElement;
  private review: HTMLElement;
  private reviewed: Array<{ url: string; options: Options }> = [];
  private status: HTMLElement;
  private addBtn: HTMLButtonElement;
  private tab: Tab = "links";

  constructor(private readonly app: App) {
    this.links = h("textarea", {
      class: "links", rows: 6, spellcheck: false,
      placeholder: "https://example.com/file.iso\nmagnet:?xt=urn:btih:…\n(one per line)",
      attrs: { "aria-label": "Links, one per line" },
      on: { input: () => this.syncOut() },
    });
    this.dir = h("input", { type: "text", class: "dir", attrs: { "aria-label": "Save to folder" } });
    this.out = h("input", { type: "text", class: "out", placeholder: "from the server", attrs: { "aria-label": "File name" } });
    this.conns = h("input", { type: "number", class: "conns", min: "1", max: "64", placeholder: "default", attrs: { "aria-label": "Connections per download" } });
    this.paused = h("input", { type: "checkbox", class: "paused" });

    const fileInput = h("input", {
      type: "file", accept: ".torrent,application/x-bittorrent", multiple: true, class: "torrent-input",
      on: { change: () => { this.addTorrentFiles([...(fileInput.files ?? [])]); fileInput.value = ""; } },
    });
    this.torrentList = h("ul", { class: "torrent-list" });
    const drop = h("label", { class: "dropzone" },
      h("strong", { text: "Drop .torrent files here" }), h("span", { text: " or click to choose" }), fileInput);
    for (const name of ["dragover", "dragenter"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      e.stopPropagation();
      drop.classList.remove("over");
      this.addTorrentFiles([...(e.dataTransfer?.files ?? [])]);
    });

    this.paste = h("textarea", {
      class: "paste", rows: 8, spellcheck: false,
      placeholder: "In the browser's devtools (Network tab), right-click the download's request → Copy → Copy as cURL (bash or cmd), and paste it here.\nOr paste a cookies.txt export.",
      attrs: { "aria-label": "Pasted cURL command or cookies.txt" },
      on: { input: () => this.onPasteInput() },
    });
    this.pasteUrls = h("textarea", { class: "paste-urls", rows: 3, placeholder: "The links these cookies are for, one per line", attrs: { "aria-label": "Links for the cookies" } });
    this.pasteUrlsWrap = h("label", { class: "field", hidden: true }, h("span", { text: "Links" }), this.pasteUrls);
    this.review = h("div", { class: "review", attrs: { "aria-live": "polite" } });

    this.panes.set("links", h("div", { class: "pane" }, this.links));
    this.panes.set("torrent", h("div", { class: "pane" }, drop, this.torrentList));
    this.panes.set("curl", h("div", { class: "pane" }, this.paste, this.pasteUrlsWrap,
      h("div", { class: "row-buttons" }, button("Review", () => void this.doReview(), "primary review-btn")), this.review));

    const tabBar = h("div", { class: "tabs dialog-tabs", attrs: { role: "tablist" } });
    const labels: Record<Tab, string> = { links: "Links", torrent: "Torrent files", curl: "cURL / cookies" };
    for (const t of TABS) {
      const b = h("button", { type: "button", class: "tab", text: labels[t], data: { tab: t }, attrs: { role: "tab" }, on: { click: () => this.select(t) } });
      this.tabButtons.set(t, b);
      tabBar.appendChild(b);
    }
    this.status = h("div", { class: "add-status", attrs: { "aria-live": "polite" } });
    this.addBtn = button("Add", () => void this.submit(), "primary add-btn");
    const options = h("details", { class: "options" },
      h("summary", { text: "Options" }),
      h("label", { class: "field" }, h("span", { text: "Save to" }), this.dir),
      h("label", { class: "field out-field" }, h("span", { text: "File name" }), this.out),
      h("label", { class: "field" }, h("span", { text: "Connections" }), this.conns));
    const form = h("form", { method: "dialog", class: "add-form", on: { submit: (e) => e.preventDefault() } },
      h("header", { class: "dialog-head" }, h("h2", { text: "Add downloads" }), button("✕", () => this.close(), "ghost close")),
      tabBar,
      ...this.panes.values(),
      options,
      h("label", { class: "check" }, this.paused, h("span", { text: " Add paused" })),
      this.status,
      h("footer", { class: "dialog-foot" }, button("Cancel", () => this.close(), "ghost"), this.addBtn));
    this.el = h("dialog", { class: "add-dialog", attrs: { "aria-label": "Add downloads" } }, form);
    this.select("links");
  }

  open(tab: Tab = "links"): void {
    if (!this.dir.value) this.dir.value = this.app.globalOptions.dir ?? "";
    this.select(tab);
    if (!this.el.open) this.el.showModal();
    (tab === "links" ? this.links : tab === "curl" ? this.paste : this.el).focus();
  }

  close(): void {
    this.el.close();
  }

  private select(tab: Tab): void {
    this.tab = tab;
    for (const [t, pane] of this.panes) pane.hidden = t !== tab;
    for (const [t, b] of this.tabButtons) {
      b.classList.toggle("on", t === tab);
      b.setAttribute("aria-selected", String(t === tab));
    }
    this.status.textContent = "";
    this.syncOut();
    this.syncAdd();
  }

  /** A file name applies to a single link only. */
  private syncOut(): void {
    const one = this.tab === "links" && this.lines().length <= 1;
    (this.out.closest(".out-field") as HTMLElement).hidden = !one;
  }

  private syncAdd(): void {
    this.addBtn.disabled = this.tab === "curl" && this.reviewed.length === 0;
  }

  private lines(): string[] {
    return this.links.value.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  }

  addLinks(text: string): void {
    this.links.value = (this.links.value.trim() ? this.links.value.trim() + "\n" : "") + text.trim();
    this.open("links");
  }

  addTorrentFiles(files: File[]): void {
    for (const f of files) if (/\.torrent$/i.test(f.name) || f.type === "application/x-bittorrent") this.torrents.push(f);
    this.renderTorrents();
    this.open("torrent");
  }

  private renderTorrents(): void {
    this.torrentList.replaceChildren(...this.torrents.map((f, i) => h("li", null,
      h("span", { text: `${f.name} (${Math.ceil(f.size / 1024)} KiB)` }),
      button("Remove", () => { this.torrents.splice(i, 1); this.renderTorrents(); }, "ghost small"))));
  }

  private common(): Options {
    const o: Options = {};
    if (this.dir.value.trim() && this.dir.value.trim() !== (this.app.globalOptions.dir ?? "")) o.dir = this.dir.value.trim();
    const n = parseInt(this.conns.value, 10);
    if (n > 0) {
      o.split = String(n);
      o["max-connection-per-server"] = String(Math.min(n, 16));
    }
    if (this.paused.checked) o.pause = "true";
    return o;
  }

  private onPasteInput(): void {
    const cookies = looksLikeCookiesTxt(this.paste.value);
    this.pasteUrlsWrap.hidden = !cookies;
    this.reviewed = [];
    this.review.replaceChildren();
    this.syncAdd();
  }

  private async doReview(): Promise<void> {
    const text = this.paste.value;
    this.reviewed = [];
    this.review.replaceChildren();
    this.syncAdd();
    if (!text.trim()) return;
    const rpc = this.app.rpc;
    try {
      if (looksLikeCookiesTxt(text)) {
        const urls = this.pasteUrls.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
        if (!urls.length) {
          this.review.append(h("p", { class: "warn", text: "This is a cookies.txt: give the links it is for above, then Review." }));
          return;
        }
        for (const url of urls) {
          const r = await rpc.call<CookiesReview>("lixian.parseCookies", text, url);
          this.review.append(this.cookiesReview(r));
          this.reviewed.push({ url, options: r.options });
        }
      } else {
        const r = await rpc.call<CurlReview>("lixian.parseCurl", text);
        this.review.append(this.curlReview(r));
        if (r.downloadable) this.reviewed.push({ url: r.url, options: r.options });
      }
    } catch (e) {
      const msg = e instanceof RpcError && /No such method/.test(e.message)
        ? "This daemon cannot read pasted requests yet (no lixian.parseCurl)."
        : (e as Error).message;
      this.review.append(h("p", { class: "error", text: msg }));
    }
    this.syncAdd();
  }

  private curlReview(r: CurlReview): HTMLElement {
    const box = h("div", { class: "review-card" });
    append(box, [
      h("div", { class: "kv" }, h("span", { text: "URL" }), h("code", { class: "review-url", text: r.url })),
      h("div", { class: "kv" }, h("span", { text: "Method" }), h("code", { text: r.method })),
    ]);
    if (!r.downloadable) {
      box.append(h("p", { class: "warn not-downloadable", text:
        `This request is not a plain GET (${r.method}${r.method === "GET" ? " with a body" : ""}), so it cannot be downloaded: lixian fetches files with GET, several ranges at once, and cannot replay a form submission or upload. Copy the request that fetches the file itself instead.` }));
    }
    const ua = r.options["user-agent"];
    const ref = r.options.referer;
    if (ua) box.append(h("div", { class: "kv" }, h("span", { text: "User agent" }), h("code", { text: String(ua) })));
    if (ref) box.append(h("div", { class: "kv" }, h("span", { text: "Referer" }), h("code", { text: String(ref) })));
    if (r.headers.length) {
      box.append(h("h4", { text: `Headers sent (${r.headers.length})` }), table(["Header", "Value"], r.headers.map((x) => [x.name, x.value]), "review-headers"));
    }
    if (r.cookies.length) {
      box.append(h("h4", { text: `Cookies (${r.cookies.length}), sent only to ${r.cookies[0].domain}` }),
        table(["Cookie", "Domain", "Value"], r.cookies.map((c) => [c.name, c.domain, c.value]), "review-cookies"));
    }
    if (r.dropped.length) {
      box.append(h("h4", { text: "Not copied" }), table(["Header", "Why"], r.dropped.map((d) => [d.name, d.reason]), "review-dropped"));
    }
    if (r.notes.length) box.append(h("ul", { class: "notes" }, ...r.notes.map((n) => h("li", { text: n }))));
    return box;
  }

  private cookiesReview(r: CookiesReview): HTMLElement {
    const sent = r.cookies.filter((c) => c.sent);
    const box = h("div", { class: "review-card" },
      h("div", { class: "kv" }, h("span", { text: "URL" }), h("code", { class: "review-url", text: r.url })),
      h("h4", { text: `Cookies sent to this link: ${sent.length} of ${r.cookies.length}` }),
      table(["Cookie", "Domain", "Sent"], r.cookies.map((c) => [c.name, c.domain, c.sent ? "yes" : "no"]), "review-cookies"));
    if (r.notes.length) box.append(h("ul", { class: "notes" }, ...r.notes.map((n) => h("li", { text: n }))));
    return box;
  }

  private async submit(): Promise<void> {
    const rpc = this.app.rpc;
    const common = this.common();
    const calls: Array<[string, unknown[]]> = [];
    const labels: string[] = [];
    if (this.tab === "links") {
      const lines = this.lines();
      if (!lines.length) {
        this.status.textContent = "Paste at least one link.";
        return;
      }
      const out = lines.length === 1 && this.out.value.trim() ? { out: this.out.value.trim() } : {};
      for (const line of lines) {
        calls.push(["aria2.addUri", [[line], { ...common, ...out }]]);
        labels.push(line);
      }
    } else if (this.tab === "torrent") {
      if (!this.torrents.length) {
        this.status.textContent = "Choose or drop a .torrent file first.";
        return;
      }
      for (const f of this.torrents) {
        calls.push(["aria2.addTorrent", [await base64(f), [], common]]);
        labels.push(f.name);
      }
    } else {
      for (const r of this.reviewed) {
        calls.push(["aria2.addUri", [[r.url], { ...r.options, ...common }]]);
        labels.push(r.url);
      }
    }
    this.addBtn.disabled = true;
    try {
      const results = await rpc.multicall<string>(calls);
      const failed = results.map((r, i) => (r.ok ? null : `${labels[i]}: ${r.error.message}`)).filter(Boolean) as string[];
      const added = results.length - failed.length;
      if (failed.length) {
        this.status.replaceChildren(h("p", { class: "error", text: `Added ${added}; ${failed.length} refused:` }),
          h("ul", { class: "errors" }, ...failed.slice(0, 20).map((f) => h("li", { text: f }))));
        // keep only what failed, so a fix and a second click adds the rest
        if (this.tab === "links") this.links.value = failed.map((f) => f.slice(0, f.indexOf(": "))).join("\n");
      } else {
        toast(`Added ${added} download${added === 1 ? "" : "s"}`);
        this.reset();
        this.close();
      }
    } catch (e) {
      this.status.textContent = (e as Error).message;
    } finally {
      this.syncAdd();
    }
  }

  private reset(): void {
    this.links.value = "";
    this.out.value = "";
    this.torrents = [];
    this.renderTorrents();
    this.paste.value = "";
    this.pasteUrls.value = "";
    this.reviewed = [];
    this.review.replaceChildren();
    this.status.textContent = "";
  }
}

export function table(head: string[], rows: string[][], cls = ""): HTMLTableElement {
  return h("table", { class: `grid ${cls}` },
    h("thead", null, h("tr", null, ...head.map((x) => h("th", { text: x })))),
    h("tbody", null, ...rows.map((r) => h("tr", null, ...r.map((c) => h("td", { text: c }))))));
}

function base64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error("could not read the file"));
    reader.readAsDataURL(file);
  });
}
