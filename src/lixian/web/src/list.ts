// The task list: filter by status, search by name, sort, select many and act on them.
//
// Why it stays smooth at 10,000 tasks: the daemon filters, sorts and pages
// (lixian.subscribe takes lixian.listTasks' view), the page subscribes only to the rows
// around what is on screen, and only a fixed pool of row elements exists, moved as the
// list scrolls. The scroll height is the filter's whole count, so every task is
// reachable by scrolling; pushes carry only the fields that changed.
import type { App } from "./app";
import { button, h, setText, toast } from "./dom";
import { bytes, eta, num, pct, percent, speed } from "./format";
import type { Diff, Status, Task } from "./types";
import { STATUSES } from "./types";
import { STATUS_WORDS, plainError, statusWord } from "./words";
import { removeTasks, retryTasks } from "./actions";

const KEYS = [
  "status", "name", "totalLength", "completedLength", "downloadSpeed", "uploadSpeed",
  "connections", "numSeeders", "seeder", "errorCode", "errorMessage", "infoHash", "lixian",
];
const OVERSCAN = 4; // rows drawn beyond the screen's edges
const MAX_WINDOW = 1000; // the daemon's largest view

const SORTS: Array<[string, string]> = [
  ["", "Queue order"],
  ["-added", "Newest first"],
  ["added", "Oldest first"],
  ["name", "Name A→Z"],
  ["-name", "Name Z→A"],
  ["-size", "Largest first"],
  ["size", "Smallest first"],
  ["-progress", "Most done first"],
  ["progress", "Least done first"],
];

interface Row {
  el: HTMLElement;
  check: HTMLInputElement;
  name: HTMLAnchorElement;
  status: HTMLElement;
  fill: HTMLElement;
  size: HTMLElement;
  pct: HTMLElement;
  speed: HTMLElement;
  eta: HTMLElement;
  conn: HTMLElement;
  action: HTMLButtonElement;
  index: number;
  gid: string;
}

export class TaskList {
  readonly el: HTMLElement;
  private scroller: HTMLElement;
  private spacer: HTMLElement;
  private empty: HTMLElement;
  private tabs = new Map<string, HTMLButtonElement>();
  private countLabel: HTMLElement;
  private selBar: HTMLElement;
  private selLabel: HTMLElement;
  private allBox: HTMLInputElement;
  private search: HTMLInputElement;
  private sortSel: HTMLSelectElement;
  private rows: Row[] = [];
  private rowH = 56;

  private status: Status | "" = "";
  private needle = "";
  private sort = "";
  private winOffset = 0;
  private winLimit = 0;
  private order: string[] = [];
  private tasks = new Map<string, Task>();
  private total = 0;
  private loaded = false;
  private selected = new Set<string>();
  private resubTimer = 0;
  private subscribing = false;
  private again = false;
  private frame = 0;
  private active = false;

  constructor(private readonly app: App) {
    this.search = h("input", {
      type: "search", class: "search", placeholder: "Search by name", attrs: { "aria-label": "Search by name" },
      on: { input: () => this.debounceFilter() },
    });
    this.sortSel = h("select", { class: "sort", attrs: { "aria-label": "Sort" }, on: { change: () => this.setSort(this.sortSel.value) } },
      ...SORTS.map(([value, label]) => h("option", { value, text: label })));
    const tabBar = h("nav", { class: "tabs", attrs: { "aria-label": "Filter by status" } });
    for (const s of ["", ...STATUSES]) {
      const b = h("button", {
        type: "button", class: "tab", data: { status: s },
        on: { click: () => this.setStatus(s as Status | "") },
      }, h("span", { class: "tab-label", text: s ? STATUS_WORDS[s] : "All" }), h("span", { class: "tab-count", text: "0" }));
      this.tabs.set(s, b);
      tabBar.appendChild(b);
    }
    this.allBox = h("input", { type: "checkbox", class: "all", attrs: { "aria-label": "Select every task that matches" }, on: { change: () => void this.toggleAll() } });
    this.countLabel = h("span", { class: "count", attrs: { "aria-live": "polite" } });
    this.selLabel = h("span", { class: "sel-label" });
    this.selBar = h("div", { class: "selbar", hidden: true },
      this.selLabel,
      button("Pause", () => void this.bulk("pause")),
      button("Resume", () => void this.bulk("resume")),
      button("Retry", () => void this.bulk("retry")),
      button("Remove", () => void this.bulk("remove"), "danger"),
      button("Clear selection", () => this.clearSelection(), "ghost"),
    );
    const head = h("div", { class: "listhead" },
      h("label", { class: "allwrap" }, this.allBox),
      this.countLabel,
      h("span", { class: "grow" }),
      this.search,
      this.sortSel,
    );
    this.spacer = h("div", { class: "spacer" });
    this.empty = h("div", { class: "empty", hidden: true });
    this.scroller = h("div", { class: "scroller", attrs: { role: "list", "aria-label": "Downloads" } }, this.spacer, this.empty);
    this.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    window.addEventListener("resize", () => { if (this.active) this.layout(); });
    this.el = h("section", { class: "list view" }, tabBar, head, this.selBar, this.scroller);
    app.onGlobal.add(() => this.renderCounts());
  }

  show(): void {
    this.active = true;
    this.el.hidden = false;
    this.layout();
    void this.subscribe(true);
  }

  hide(): void {
    this.active = false;
    this.el.hidden = true;
  }

  /** How many row elements exist: bounded by the screen, whatever the task count. */
  get rowCount(): number {
    return this.rows.length;
  }

  private layout(): void {
    const probe = getComputedStyle(this.el).getPropertyValue("--row-h");
    this.rowH = parseInt(probe, 10) || 56;
    const visible = Math.ceil((this.scroller.clientHeight || window.innerHeight) / this.rowH) + 1;
    const want = visible + 2 * OVERSCAN;
    while (this.rows.length < want) this.rows.push(this.makeRow());
    while (this.rows.length > want) this.rows.pop()!.el.remove();
    this.render();
  }

  private makeRow(): Row {
    const check = h("input", { type: "checkbox", class: "sel", attrs: { "aria-label": "Select" } });
    const name = h("a", { class: "name" });
    const status = h("span", { class: "st" });
    const fill = h("div", { class: "fill" });
    const size = h("span", { class: "size" });
    const pctEl = h("span", { class: "pct" });
    const speedEl = h("span", { class: "speed" });
    const etaEl = h("span", { class: "eta" });
    const conn = h("span", { class: "conn" });
    const action = h("button", { type: "button", class: "act ghost" });
    const el = h("div", { class: "row", attrs: { role: "listitem" } },
      check,
      h("div", { class: "main" }, name, h("div", { class: "bar" }, fill), h("div", { class: "meta" }, status, size, pctEl)),
      speedEl, etaEl, conn, action);
    const row: Row = { el, check, name, status, fill, size, pct: pctEl, speed: speedEl, eta: etaEl, conn, action, index: -1, gid: "" };
    check.addEventListener("change", () => {
      if (!row.gid) return;
      if (check.checked) this.selected.add(row.gid);
      else this.selected.delete(row.gid);
      this.renderSelection();
    });
    action.addEventListener("click", () => void this.rowAction(row));
    this.scroller.appendChild(el);
    return row;
  }

  // ---- the view and its subscription ----

  private view(offset: number, limit: number) {
    return {
      ...(this.status ? { status: [this.status] } : {}),
      ...(this.needle ? { name: this.needle } : {}),
      ...(this.sort ? { sort: this.sort } : {}),
      offset,
      limit,
      keys: KEYS,
    };
  }

  /** The filter as lixian.listTasks takes it (for "select all"). */
  private filter(): Record<string, unknown> {
    return { ...(this.status ? { status: this.status } : {}), ...(this.needle ? { name: this.needle } : {}) };
  }

  private wanted(): [number, number] {
    const visible = Math.ceil((this.scroller.clientHeight || window.innerHeight) / this.rowH) + 1;
    const first = Math.floor(this.scroller.scrollTop / this.rowH);
    // a screen above and one below are kept live too, so scrolling rarely shows placeholders
    const offset = Math.max(0, first - visible);
    const limit = Math.min(MAX_WINDOW, visible * 3 + 2 * OVERSCAN);
    return [offset, limit];
  }

  private covered(): boolean {
    if (!this.loaded) return false;
    const visible = Math.ceil(this.scroller.clientHeight / this.rowH) + 1;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / this.rowH) - OVERSCAN);
    const last = Math.min(this.total, first + visible + 2 * OVERSCAN);
    return first >= this.winOffset && last <= this.winOffset + this.winLimit;
  }

  private async subscribe(force = false): Promise<void> {
    if (!this.active) return;
    if (!force && this.covered()) return;
    if (this.subscribing) {
      this.again = true;
      return;
    }
    this.subscribing = true;
    const [offset, limit] = this.wanted();
    this.pendingWindow = [offset, limit];
    try {
      await this.app.subscribe(this.view(offset, limit), (d) => this.onDiff(d));
    } catch (e) {
      toast(`Could not list the downloads: ${(e as Error).message}`, "error");
    } finally {
      this.subscribing = false;
    }
    if (this.again) {
      this.again = false;
      void this.subscribe(true);
    }
  }

  private pendingWindow: [number, number] = [0, 0];

  private onDiff(d: Diff): void {
    if (d.full) {
      [this.winOffset, this.winLimit] = this.pendingWindow;
      this.tasks.clear();
      this.loaded = true;
    }
    for (const change of d.changed) {
      const old = this.tasks.get(change.gid);
      if (old) Object.assign(old, change);
      else this.tasks.set(change.gid, { ...change });
    }
    for (const gid of d.removed) this.tasks.delete(gid);
    if (d.order) this.order = d.order;
    if (d.total !== undefined) this.total = d.total;
    this.render();
    if (d.full && !this.covered()) void this.subscribe();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
      if (!this.covered()) {
        clearTimeout(this.resubTimer);
        this.resubTimer = window.setTimeout(() => void this.subscribe(), 60);
      }
    });
  }

  private filterTimer = 0;
  private debounceFilter(): void {
    clearTimeout(this.filterTimer);
    this.filterTimer = window.setTimeout(() => {
      this.needle = this.search.value.trim();
      this.restart();
    }, 200);
  }

  setStatus(status: Status | ""): void {
    this.status = status;
    this.restart();
  }

  private setSort(sort: string): void {
    this.sort = sort;
    this.restart();
  }

  private restart(): void {
    this.scroller.scrollTop = 0;
    this.loaded = false;
    this.allBox.checked = false;
    this.renderCounts();
    void this.subscribe(true);
  }

  // ---- drawing ----

  private render(): void {
    this.spacer.style.height = `${this.total * this.rowH}px`;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / this.rowH) - OVERSCAN);
    for (let k = 0; k < this.rows.length; k++) {
      const index = first + k;
      const row = this.rows[k];
      if (index >= this.total) {
        row.el.hidden = true;
        row.gid = "";
        continue;
      }
      row.el.hidden = false;
      if (row.index !== index) {
        row.index = index;
        row.el.dataset.index = String(index);
        row.el.style.transform = `translateY(${index * this.rowH}px)`;
      }
      const gid = this.loaded ? this.order[index - this.winOffset] : undefined;
      const task = gid ? this.tasks.get(gid) : undefined;
      this.fill(row, task);
    }
    const n = this.total;
    setText(this.countLabel, this.loaded ? `${n.toLocaleString()} ${n === 1 ? "task" : "tasks"}` : "Loading…");
    this.empty.hidden = !(this.loaded && n === 0);
    if (!this.empty.hidden) {
      setText(this.empty, this.needle || this.status ? "No downloads match." : "No downloads yet. Add one with the + button, or drop a .torrent file here.");
    }
    this.renderCounts();
  }

  private fill(row: Row, task: Task | undefined): void {
    if (!task) {
      row.gid = "";
      row.el.classList.add("placeholder");
      setText(row.name, "…");
      row.name.removeAttribute("href");
      for (const e of [row.status, row.size, row.pct, row.speed, row.eta, row.conn]) setText(e, "");
      row.fill.style.transform = "scaleX(0)";
      row.check.checked = false;
      row.action.hidden = true;
      return;
    }
    row.el.classList.remove("placeholder");
    row.gid = task.gid;
    row.el.dataset.gid = task.gid;
    const status = task.status ?? "waiting";
    row.el.dataset.status = status;
    setText(row.name, task.name || task.gid);
    row.name.title = task.name || task.gid;
    const href = `#/task/${task.gid}`;
    if (row.name.getAttribute("href") !== href) row.name.setAttribute("href", href);
    const frac = percent(task.completedLength, task.totalLength);
    row.fill.style.transform = `scaleX(${status === "complete" ? 1 : frac})`;
    setText(row.status, statusWord(task));
    row.status.title = status === "error" ? plainError(task.errorCode, task.errorMessage) : task.lixian?.pausedReason ?? "";
    const verdict = task.lixian?.verdict;
    row.el.classList.toggle("suspect", !!verdict && !verdict.ok);
    const total = num(task.totalLength);
    setText(row.size, total > 0 ? `${bytes(task.completedLength)} / ${bytes(total)}` : bytes(task.completedLength));
    setText(row.pct, total > 0 ? pct(frac) : "");
    const up = num(task.uploadSpeed);
    setText(row.speed, status === "active" ? `↓ ${speed(task.downloadSpeed)}${up > 0 ? ` ↑ ${speed(up)}` : ""}` : "");
    setText(row.eta, status === "active" ? eta(task.totalLength, task.completedLength, task.downloadSpeed) : "");
    const conns = num(task.connections);
    const seeds = num(task.numSeeders);
    setText(row.conn, status === "active" ? `${conns} conn${seeds ? ` · ${seeds} seeds` : ""}` : "");
    row.check.checked = this.selected.has(task.gid);
    const label = status === "active" || status === "waiting" ? "Pause" : status === "paused" ? "Resume" : status === "error" || status === "removed" ? "Retry" : "";
    row.action.hidden = !label;
    setText(row.action, label);
    row.action.setAttribute("aria-label", `${label} ${task.name ?? task.gid}`);
  }

  private renderCounts(): void {
    const counts = this.app.counts;
    let all = 0;
    for (const s of STATUSES) all += counts[s] ?? 0;
    for (const [s, b] of this.tabs) {
      const n = s ? counts[s] ?? 0 : all;
      setText(b.lastElementChild as HTMLElement, n.toLocaleString());
      b.classList.toggle("on", s === this.status);
      b.setAttribute("aria-pressed", String(s === this.status));
    }
  }

  // ---- selection and actions ----

  private renderSelection(): void {
    const n = this.selected.size;
    this.selBar.hidden = n === 0;
    setText(this.selLabel, `${n.toLocaleString()} selected`);
    if (n === 0) this.allBox.checked = false;
  }

  private clearSelection(): void {
    this.selected.clear();
    this.allBox.checked = false;
    this.renderSelection();
    this.render();
  }

  private async toggleAll(): Promise<void> {
    if (!this.allBox.checked) {
      this.clearSelection();
      return;
    }
    // Every task matching the filter, not just those on screen: GIDs only.
    const page = await this.app.rpc.call<{ total: number; tasks: Array<{ gid: string }> }>(
      "lixian.listTasks", this.filter(), this.sort || null, 0, Math.max(this.total, 1), ["gid"]);
    for (const t of page.tasks) this.selected.add(t.gid);
    this.renderSelection();
    this.render();
  }

  private async bulk(kind: "pause" | "resume" | "remove" | "retry"): Promise<void> {
    const gids = [...this.selected];
    const rpc = this.app.rpc;
    let result: { done: number; failed: Array<[string, string]> };
    if (kind === "pause") result = await rpc.each("aria2.forcePause", gids);
    else if (kind === "resume") result = await rpc.each("aria2.unpause", gids);
    else if (kind === "remove") {
      if (gids.length > 1 && !confirm(`Remove ${gids.length.toLocaleString()} downloads? Their files stay on disk.`)) return;
      result = await removeTasks(rpc, gids);
      this.selected.clear();
    } else {
      result = await retryTasks(rpc, gids, this.app.has("lixian.retry"));
      this.selected.clear();
    }
    const verb = { pause: "Paused", resume: "Resumed", remove: "Removed", retry: "Retried" }[kind];
    const note = result.failed.length ? `; ${result.failed.length} could not be: ${result.failed[0][1]}` : "";
    toast(`${verb} ${result.done.toLocaleString()}${note}`, result.failed.length && !result.done ? "error" : "info");
    this.renderSelection();
    this.render();
  }

  private async rowAction(row: Row): Promise<void> {
    const task = this.tasks.get(row.gid);
    if (!task) return;
    const rpc = this.app.rpc;
    try {
      if (task.status === "active" || task.status === "waiting") await rpc.call("aria2.forcePause", task.gid);
      else if (task.status === "paused") await rpc.call("aria2.unpause", task.gid);
      else if (task.status === "error" || task.status === "removed") {
        const r = await retryTasks(rpc, [task.gid], this.app.has("lixian.retry"));
        if (r.failed.length) throw new Error(r.failed[0][1]);
      }
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }
}
