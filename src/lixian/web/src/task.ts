// One task's page: progress and speeds, its files (select, download, play, hash), its
// sources (URIs and servers, or trackers), peers, the segment/piece map, its options,
// and errors in plain words.
import type { App } from "./app";
import { button, h, setText, toast } from "./dom";
import { bytes, eta, num, pct, percent, speed } from "./format";
import { PieceMap } from "./pieces";
import { pageUrl, RpcError } from "./rpc";
import { sha256Url } from "./sha256";
import type { Diff, Task, TaskFile } from "./types";
import { plainError, statusWord, verdictWords } from "./words";
import { removeTasks, retryTasks } from "./actions";
import { table } from "./add";

const VIDEO = /\.(webm|mp4|m4v|mkv|mov|ogv)$/i;
const AUDIO = /\.(mp3|m4a|aac|flac|ogg|oga|opus|wav)$/i;
const FILES_PAGE = 100;
const SECTIONS = ["files", "sources", "peers", "options"] as const;
type Section = (typeof SECTIONS)[number];

export class TaskPage {
  readonly el: HTMLElement;
  private task: Task;
  private gone = false;
  private title = h("h2", { class: "task-title" });
  private stWord = h("span", { class: "badge" });
  private actions = h("div", { class: "task-actions" });
  private bar = h("div", { class: "fill" });
  private facts = h("dl", { class: "facts" });
  private errorBox = h("p", { class: "error plain-error", hidden: true });
  private map = new PieceMap();
  private section: Section = "files";
  private body = h("div", { class: "section-body" });
  private sectionTabs = new Map<Section, HTMLButtonElement>();
  private player = h("div", { class: "player", hidden: true });
  private filesOffset = 0;
  private filesTotal = 0;
  private selection = new Map<number, boolean>(); // index -> wanted, edits not yet applied
  private hashes = new Map<number, string>();
  private timer = 0;
  private disposed = false;
  private lastActions = "";
  private firstPush: Promise<void>;
  private gotFirst: () => void = () => {};
  private lastStatus = "";

  constructor(private readonly app: App, readonly gid: string) {
    this.task = { gid };
    this.firstPush = new Promise((resolve) => { this.gotFirst = resolve; });
    const tabs = h("nav", { class: "tabs section-tabs" });
    const labels: Record<Section, string> = { files: "Files", sources: "Sources", peers: "Peers", options: "Options" };
    for (const s of SECTIONS) {
      const b = h("button", { type: "button", class: "tab", text: labels[s], data: { section: s }, on: { click: () => this.show(s) } });
      this.sectionTabs.set(s, b);
      tabs.appendChild(b);
    }
    this.el = h("section", { class: "task view" },
      h("div", { class: "task-head" },
        h("a", { class: "back", href: "#/", text: "← Downloads" }),
        this.title,
        h("div", { class: "task-sub" }, this.stWord, this.actions)),
      h("div", { class: "bar big" }, this.bar),
      this.facts,
      this.errorBox,
      h("h3", { text: "Pieces" }),
      this.map.canvas,
      this.player,
      tabs,
      this.body);
  }

  async start(): Promise<void> {
    try {
      await this.app.subscribe({ gids: [this.gid] }, (d) => this.onDiff(d));
    } catch (e) {
      this.title.textContent = this.gid;
      this.errorBox.hidden = false;
      this.errorBox.textContent = e instanceof RpcError ? e.message : String(e);
      return;
    }
    this.show(this.section);
    this.timer = window.setInterval(() => { if (!document.hidden) void this.refresh(); }, 2000);
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.timer);
    const media = this.player.querySelector("video, audio") as HTMLMediaElement | null;
    if (media) {
      media.pause();
      media.removeAttribute("src");
      media.load();
    }
  }

  private onDiff(d: Diff): void {
    if (d.full) this.task = { gid: this.gid };
    for (const c of d.changed) if (c.gid === this.gid) Object.assign(this.task, c);
    if (d.removed.includes(this.gid) || (d.full && !d.changed.some((c) => c.gid === this.gid))) this.gone = true;
    this.render();
    if (d.full) this.gotFirst();
    const status = String(this.task.status ?? "");
    if (this.lastStatus && status !== this.lastStatus) void this.refresh(); // e.g. complete: hashes, play
    this.lastStatus = status;
  }

  private render(): void {
    const t = this.task;
    if (this.gone) {
      setText(this.title, `${this.gid}`);
      setText(this.stWord, "Gone");
      this.errorBox.hidden = false;
      setText(this.errorBox, "This download is not in the daemon's list any more (removed or purged).");
      return;
    }
    const status = t.status ?? "waiting";
    setText(this.title, t.name || t.gid);
    document.title = `${t.name || t.gid} · lixian`;
    setText(this.stWord, statusWord(t));
    this.stWord.dataset.status = status;
    const frac = status === "complete" ? 1 : percent(t.completedLength, t.totalLength);
    this.bar.style.transform = `scaleX(${frac})`;
    const facts: Array<[string, string]> = [
      ["Progress", `${pct(frac)} · ${bytes(t.completedLength)} of ${num(t.totalLength) ? bytes(t.totalLength) : "unknown size"}`],
      ["Download speed", speed(t.downloadSpeed)],
      ["Upload speed", speed(t.uploadSpeed)],
      ["Time left", status === "active" ? eta(t.totalLength, t.completedLength, t.downloadSpeed) : "–"],
      ["Connections", String(num(t.connections))],
    ];
    if (t.bittorrent || t.infoHash) {
      facts.push(["Seeders", String(num(t.numSeeders))], ["Uploaded", bytes(t.uploadLength)]);
      if (t.infoHash) facts.push(["Info hash", String(t.infoHash)]);
    }
    facts.push(["Folder", String(t.dir ?? "")], ["GID", t.gid]);
    if (num(t.numPieces)) facts.push(["Pieces", `${num(t.numPieces)} × ${bytes(t.pieceLength)}`]);
    if (t.verifiedLength !== undefined) facts.push(["Verified", bytes(t.verifiedLength)]);
    const lx = t.lixian;
    if (lx?.pausedReason) facts.push(["Paused because", lx.pausedReason]);
    if (lx?.phase) facts.push(["Now", statusWord(t)]);
    if (lx?.sha256) facts.push(["SHA-256", lx.sha256]);
    if (lx?.verdict) {
      const v = lx.verdict;
      const zeros = v.zeroRuns?.length ? `; ${v.zeroRuns.length} run(s) of zeros, the first at byte ${v.zeroRuns[0][0]} (${bytes(v.zeroRuns[0][1])})` : "";
      facts.push(["Integrity", `${v.ok ? "✓ " : "⚠ "}${verdictWords(v.status)}${zeros}${v.messages.length ? ` — ${v.messages.join("; ")}` : ""}`]);
    }
    if (lx?.delivery) {
      const d = lx.delivery;
      facts.push(["Delivered", `${d.location} (${d.verified === true ? "verified" : String(d.verified)})${d.detail ? ` — ${d.detail}` : ""}`]);
    }
    this.facts.replaceChildren(...facts.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
    const err = status === "error" || (status === "removed" && t.errorCode && t.errorCode !== "31");
    this.errorBox.hidden = !err;
    if (err) setText(this.errorBox, plainError(t.errorCode, t.errorMessage));
    this.map.draw(t.bitfield, num(t.numPieces), status === "complete");
    this.renderActions(status);
  }

  private renderActions(status: string): void {
    const key = status;
    if (key === this.lastActions) return;
    this.lastActions = key;
    const rpc = this.app.rpc;
    const act = (label: string, fn: () => Promise<unknown>, cls = "") =>
      button(label, () => fn().catch((e: Error) => toast(e.message, "error")), cls);
    const list: HTMLElement[] = [];
    if (status === "active" || status === "waiting") list.push(act("Pause", () => rpc.call("aria2.forcePause", this.gid)));
    if (status === "paused") list.push(act("Resume", () => rpc.call("aria2.unpause", this.gid)));
    if (status === "waiting" || status === "paused") {
      list.push(act("Move to top", () => rpc.call("aria2.changePosition", this.gid, 0, "POS_SET"), "ghost"));
      list.push(act("Move to bottom", () => rpc.call("aria2.changePosition", this.gid, 0, "POS_END"), "ghost"));
    }
    if (status === "error" || status === "removed") {
      list.push(act("Retry", async () => {
        const kept = this.app.has("lixian.retry") && (await rpc.call("lixian.retry", this.gid).then(() => true, () => false));
        if (kept) return; // same GID, progress kept: this page follows it
        const r = await retryTasks(rpc, [this.gid]);
        if (r.failed.length) throw new Error(r.failed[0][1]);
        location.hash = "#/"; // added again under a new GID
      }));
    }
    if (this.app.has("lixian.verify") && status === "complete") {
      list.push(act("Verify", async () => {
        const result = await rpc.call<unknown>("lixian.verify", this.gid);
        toast(`Verified: ${typeof result === "string" ? result : JSON.stringify(result)}`);
      }, "ghost"));
    }
    list.push(act("Remove", async () => {
      if (!confirm("Remove this download? Its files stay on disk.")) return;
      await removeTasks(rpc, [this.gid]);
      location.hash = "#/";
    }, "danger"));
    this.actions.replaceChildren(...list);
  }

  // ---- sections ----

  private show(section: Section): void {
    this.section = section;
    for (const [s, b] of this.sectionTabs) b.classList.toggle("on", s === section);
    this.body.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    await this.firstPush;
    if (this.disposed || this.gone) return;
    try {
      if (this.section === "files") await this.renderFiles();
      else if (this.section === "sources") await this.renderSources();
      else if (this.section === "peers") await this.renderPeers();
      else if (this.section === "options" && !this.body.querySelector(".options-table")) await this.renderOptions();
    } catch (e) {
      this.body.replaceChildren(h("p", { class: "error", text: (e as Error).message }));
    }
  }

  private async renderFiles(): Promise<void> {
    const page = await this.app.rpc.call<{ total: number; files: TaskFile[] }>("lixian.listFiles", this.gid, this.filesOffset, FILES_PAGE);
    if (this.disposed || this.section !== "files") return;
    this.filesTotal = page.total;
    const dir = String(this.task.dir ?? "");
    const several = page.total > 1;
    const rows = page.files.map((f) => {
      const index = num(f.index);
      const length = num(f.length);
      const done = num(f.completedLength);
      const complete = length > 0 && done >= length;
      const name = relative(f.path, dir) || (f.uris[0]?.uri ?? `file ${index}`);
      const wanted = this.selection.get(index) ?? f.selected === "true";
      const check = h("input", {
        type: "checkbox", checked: wanted, disabled: !several, attrs: { "aria-label": `Download ${name}` },
        on: { change: (e) => { this.selection.set(index, (e.target as HTMLInputElement).checked); this.renderApply(); } },
      });
      const tools = h("span", { class: "file-tools" });
      if (f.path && done > 0) tools.append(button("Download", () => void this.download(index, name), "ghost small"));
      if (f.path && done > 0 && (VIDEO.test(f.path) || AUDIO.test(f.path))) tools.append(button("Play", () => void this.play(index, f.path), "ghost small"));
      if (complete) {
        const known = this.hashes.get(index);
        tools.append(known ? this.hashView(known, page.total) : button("SHA-256", (e) => void this.hash(index, e.target as HTMLButtonElement, page.total), "ghost small"));
      }
      return h("tr", { data: { index: String(index) } },
        h("td", null, check),
        h("td", { class: "path", text: name, title: f.path }),
        h("td", { class: "num", text: bytes(length) }),
        h("td", { class: "num", text: pct(percent(done, length)) }),
        h("td", null, tools));
    });
    const tbl = h("table", { class: "grid files-table" },
      h("thead", null, h("tr", null, ...["", "File", "Size", "Done", ""].map((x) => h("th", { text: x })))),
      h("tbody", null, ...rows));
    const pager = h("div", { class: "pager" });
    if (page.total > FILES_PAGE) {
      pager.append(
        button("‹ Previous", () => { this.filesOffset = Math.max(0, this.filesOffset - FILES_PAGE); void this.renderFiles(); }, "ghost small"),
        h("span", { text: ` ${this.filesOffset + 1}–${Math.min(page.total, this.filesOffset + FILES_PAGE)} of ${page.total} ` }),
        button("Next ›", () => { if (this.filesOffset + FILES_PAGE < page.total) { this.filesOffset += FILES_PAGE; void this.renderFiles(); } }, "ghost small"));
    }
    // keep a hash being computed (its button shows progress) when the table refreshes
    const busy = this.body.querySelector("button.hashing");
    if (busy) return;
    this.body.replaceChildren(tbl, pager, this.applyBar);
    this.renderApply();
  }

  private applyBar = h("div", { class: "apply", hidden: true },
    h("span", { class: "muted", text: "File selection changed. " }),
    button("Apply selection", () => void this.applySelection(), "primary"));

  private renderApply(): void {
    this.applyBar.hidden = this.selection.size === 0;
  }

  private async applySelection(): Promise<void> {
    // select-file names every wanted file: read all pages, then apply the edits.
    const wanted: number[] = [];
    for (let offset = 0; offset < Math.max(this.filesTotal, 1); offset += 1000) {
      const page = await this.app.rpc.call<{ total: number; files: TaskFile[] }>("lixian.listFiles", this.gid, offset, 1000);
      for (const f of page.files) {
        const i = num(f.index);
        if (this.selection.get(i) ?? f.selected === "true") wanted.push(i);
      }
    }
    if (!wanted.length) {
      toast("Keep at least one file selected.", "error");
      return;
    }
    try {
      await this.app.rpc.call("aria2.changeOption", this.gid, { "select-file": wanted.join(",") });
      this.selection.clear();
      toast(`Downloading ${wanted.length} file${wanted.length === 1 ? "" : "s"}`);
    } catch (e) {
      toast((e as Error).message, "error");
    }
    void this.renderFiles();
  }

  private async link(index: number): Promise<string> {
    const r = await this.app.rpc.call<{ url: string; expires: number }>("lixian.fileUrl", this.gid, index);
    return pageUrl(r.url);
  }

  private async download(index: number, name: string): Promise<void> {
    try {
      const a = h("a", { href: await this.link(index), download: name.split("/").pop() ?? name });
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }

  private async play(index: number, path: string): Promise<void> {
    try {
      const url = await this.link(index);
      const media = AUDIO.test(path)
        ? h("audio", { controls: true, preload: "auto", src: url })
        : h("video", { controls: true, preload: "auto", playsInline: true, src: url });
      media.addEventListener("error", () => toast("The browser cannot play this file (format or codec).", "error"));
      this.player.replaceChildren(h("div", { class: "player-head" }, h("strong", { text: path.split("/").pop() ?? path }),
        button("Close", () => { media.pause(); this.player.hidden = true; this.player.replaceChildren(); }, "ghost small")), media);
      this.player.hidden = false;
      void media.play().catch(() => {});
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }

  /** A hash computed here, and whether it matches the one the daemon recorded. */
  private hashView(digest: string, files: number): HTMLElement {
    const recorded = files === 1 ? this.task.lixian?.sha256 : undefined;
    const code = h("code", { class: "sha256", title: "SHA-256, computed in this browser from the daemon's bytes", text: digest });
    if (!recorded) return code;
    const same = recorded === digest;
    return h("span", { class: "hash-check" }, code,
      h("span", { class: same ? "ok" : "error", text: same ? " ✓ same as the daemon's record" : " ✗ differs from the daemon's record" }));
  }

  private async hash(index: number, btn: HTMLButtonElement, files: number): Promise<void> {
    btn.disabled = true;
    btn.classList.add("hashing");
    try {
      const digest = await sha256Url(await this.link(index), (n) => setText(btn, `Hashing… ${bytes(n)}`));
      this.hashes.set(index, digest);
      btn.replaceWith(this.hashView(digest, files));
    } catch (e) {
      toast(`Hashing failed: ${(e as Error).message}`, "error");
      btn.disabled = false;
      btn.classList.remove("hashing");
      setText(btn, "SHA-256");
    }
  }

  private async renderSources(): Promise<void> {
    const rpc = this.app.rpc;
    const parts: HTMLElement[] = [];
    const trackers = this.task.bittorrent?.announceList;
    if (trackers?.length) {
      parts.push(h("h4", { text: "Trackers" }), table(["Tier", "Tracker"], trackers.flatMap((tier, i) => tier.map((u) => [String(i + 1), u]))));
    }
    const [uris, servers] = await rpc.multicall<unknown>([["aria2.getUris", [this.gid]], ["aria2.getServers", [this.gid]]]);
    let list: Array<{ uri: string; status: string }> = uris.ok && Array.isArray(uris.value) ? (uris.value as Array<{ uri: string; status: string }>) : [];
    if (!list.length) {
      // aria2 answers getUris only while a download is in memory; a result keeps them in its files
      const page = await rpc.call<{ files: TaskFile[] }>("lixian.listFiles", this.gid, 0, 100).catch(() => ({ files: [] as TaskFile[] }));
      const seen = new Set<string>();
      list = page.files.flatMap((f) => f.uris).filter((u) => !seen.has(u.uri) && (seen.add(u.uri), true));
    }
    if (list.length) {
      parts.push(h("h4", { text: "URIs" }), table(["URI", "State"], list.map((u) => [u.uri, u.status === "used" ? "used" : u.status])));
    }
    if (servers.ok && Array.isArray(servers.value)) {
      const list = servers.value as Array<{ index: string; servers: Array<{ uri: string; currentUri: string; downloadSpeed: string }> }>;
      const rows = list.flatMap((f) => f.servers.map((s) => [f.index, s.currentUri || s.uri, speed(s.downloadSpeed)]));
      parts.push(h("h4", { text: "Connected servers" }), rows.length ? table(["File", "Server", "Speed"], rows) : h("p", { class: "muted", text: "None right now." }));
    }
    if (!parts.length) parts.push(h("p", { class: "muted", text: "No sources to show." }));
    if (!this.disposed && this.section === "sources") this.body.replaceChildren(...parts);
  }

  private async renderPeers(): Promise<void> {
    if (!this.task.bittorrent && !this.task.infoHash) {
      this.body.replaceChildren(h("p", { class: "muted", text: "Peers are for torrents; this download comes from servers (see Sources)." }));
      return;
    }
    let peers: Array<Record<string, string>>;
    try {
      peers = await this.app.rpc.call<Array<Record<string, string>>>("aria2.getPeers", this.gid);
    } catch (e) {
      this.body.replaceChildren(h("p", { class: "muted", text: (e as Error).message }));
      return;
    }
    const pieces = num(this.task.numPieces);
    const rows = peers.map((p) => [
      `${p.ip}:${p.port}`,
      clientName(p.peerId),
      p.bitfield && pieces ? pct(bitsIn(p.bitfield, pieces) / pieces) : "",
      speed(p.downloadSpeed),
      speed(p.uploadSpeed),
      p.seeder === "true" ? "yes" : "",
    ]);
    if (!this.disposed && this.section === "peers") {
      this.body.replaceChildren(rows.length ? table(["Peer", "Client", "Has", "↓", "↑", "Seeder"], rows, "peers-table") : h("p", { class: "muted", text: "No peers connected." }));
    }
  }

  private async renderOptions(): Promise<void> {
    const options = await this.app.rpc.call<Record<string, string | string[]>>("aria2.getOption", this.gid);
    const names = Object.keys(options).sort();
    const rows = names.map((name) => {
      const value = options[name];
      const text = Array.isArray(value) ? value.join("\n") : value;
      const multi = Array.isArray(value) || name === "header";
      const input = multi
        ? h("textarea", { value: text, rows: Math.min(4, text.split("\n").length + 1), attrs: { "aria-label": name } })
        : h("input", { type: "text", value: text, attrs: { "aria-label": name } });
      const save = button("Save", async () => {
        const v = input.value;
        const sent = multi ? v.split("\n").filter(Boolean) : v;
        try {
          await this.app.rpc.call("aria2.changeOption", this.gid, { [name]: sent });
          toast(`${name} changed`);
          save.hidden = true;
        } catch (e) {
          toast(`${name}: ${(e as Error).message}`, "error");
        }
      }, "small");
      save.hidden = true;
      input.addEventListener("input", () => { save.hidden = input.value === text; });
      return h("tr", null, h("th", { text: name }), h("td", null, input), h("td", null, save));
    });
    if (!this.disposed && this.section === "options") {
      this.body.replaceChildren(
        h("p", { class: "muted", text: "Options of this download. Some apply only before it starts; the daemon says so when a change is refused." }),
        h("table", { class: "grid options-table" }, h("tbody", null, ...rows)));
    }
  }
}

function relative(path: string, dir: string): string {
  if (dir && path.startsWith(dir + "/")) return path.slice(dir.length + 1);
  return path;
}

function bitsIn(hex: string, pieces: number): number {
  let n = 0;
  for (let i = 0; i < hex.length; i++) {
    let d = parseInt(hex[i], 16);
    while (d) {
      n += d & 1;
      d >>= 1;
    }
  }
  return Math.min(n, pieces);
}

/** "-qB4650-" style peer ids -> a client name, else "". */
function clientName(peerId: string | undefined): string {
  if (!peerId) return "";
  let id: string;
  try {
    id = decodeURIComponent(peerId);
  } catch {
    id = peerId;
  }
  const m = /^-([A-Za-z]{2})(\w{4})-/.exec(id);
  if (!m) return "";
  const names: Record<string, string> = { qB: "qBittorrent", TR: "Transmission", UT: "µTorrent", LT: "libtorrent", lt: "libTorrent", DE: "Deluge", AZ: "Vuze", A2: "aria2", BC: "BitComet", LX: "lixian" };
  return `${names[m[1]] ?? m[1]} ${m[2]}`;
}
