// Global: the speed chart, speed limits, concurrent downloads, trackers, free space,
// and whole-queue actions.
import type { App } from "./app";
import { button, h, setText, toast } from "./dom";
import { bytes, num, parseSize, speed } from "./format";
import { speedChart } from "./chart";

export class GlobalPage {
  readonly el: HTMLElement;
  private chart: { el: HTMLElement; dispose: () => void };
  private statsEl = h("dl", { class: "facts" });
  private space = h("p", { class: "space" });
  private onStats = () => this.renderStats();
  private down = h("input", { type: "text", class: "limit-down", placeholder: "0 = no limit", attrs: { "aria-label": "Download limit" } });
  private up = h("input", { type: "text", class: "limit-up", placeholder: "0 = no limit", attrs: { "aria-label": "Upload limit" } });
  private concurrent = h("input", { type: "number", min: "1", max: "1000", class: "max-concurrent", attrs: { "aria-label": "Downloads at once" } });
  private trackers = h("textarea", { rows: 4, class: "trackers", placeholder: "udp://tracker.example:1337/announce\n(one per line; added to every torrent)", attrs: { "aria-label": "Extra trackers" } });

  constructor(private readonly app: App) {
    this.chart = speedChart(app.history);
    const form = h("form", { class: "settings", on: { submit: (e) => { e.preventDefault(); void this.save(); } } },
      h("label", { class: "field" }, h("span", { text: "Download limit (per second, e.g. 5M)" }), this.down),
      h("label", { class: "field" }, h("span", { text: "Upload limit (per second)" }), this.up),
      h("label", { class: "field" }, h("span", { text: "Downloads at once" }), this.concurrent),
      h("label", { class: "field" }, h("span", { text: "Extra trackers" }), this.trackers),
      h("div", { class: "row-buttons" }, h("button", { type: "submit", class: "primary", text: "Save settings" })));
    this.el = h("section", { class: "global view" },
      h("div", { class: "task-head" }, h("a", { class: "back", href: "#/", text: "← Downloads" }), h("h2", { text: "Speed and settings" })),
      this.chart.el,
      this.statsEl,
      this.space,
      h("div", { class: "row-buttons" },
        button("Pause all", () => void this.all("aria2.forcePauseAll", "Paused everything")),
        button("Resume all", () => void this.all("aria2.unpauseAll", "Resumed everything")),
        button("Clear finished", () => void this.all("aria2.purgeDownloadResult", "Finished and failed results cleared"), "ghost")),
      h("h3", { text: "Settings" }),
      form);
  }

  async start(): Promise<void> {
    this.app.onGlobal.add(this.onStats);
    // A view with no rows: the pushes still carry the global numbers (and count tasks).
    await this.app.subscribe({ limit: 0 }, () => {});
    await this.app.loadGlobalOptions();
    const o = this.app.globalOptions;
    this.down.value = o["max-overall-download-limit"] ?? "0";
    this.up.value = o["max-overall-upload-limit"] ?? "0";
    this.concurrent.value = o["max-concurrent-downloads"] ?? "5";
    this.trackers.value = (o["bt-tracker"] ?? "").split(",").filter(Boolean).join("\n");
    this.renderStats();
    await this.renderSpace();
  }

  dispose(): void {
    this.chart.dispose();
    this.app.onGlobal.delete(this.onStats);
  }

  private renderStats(): void {
    const s = this.app.stats;
    const rows: Array<[string, string]> = [
      ["Download speed", speed(s.downloadSpeed)],
      ["Upload speed", speed(s.uploadSpeed)],
      ["Active", String(num(s.numActive))],
      ["Waiting", String(num(s.numWaiting))],
      ["Finished or failed", String(num(s.numStoppedTotal))],
    ];
    if (this.app.version) rows.push(["Daemon", this.app.version]);
    const next = rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]);
    if (this.statsEl.textContent !== next.map((e) => e.textContent).join("")) this.statsEl.replaceChildren(...next);
  }

  /** Free space where the daemon reports it (a lixian.* method or a stats field). */
  private async renderSpace(): Promise<void> {
    const s = this.app.stats as Record<string, string>;
    let free: number | null = s.freeSpace !== undefined ? num(s.freeSpace) : null;
    let total: number | null = s.totalSpace !== undefined ? num(s.totalSpace) : null;
    for (const method of ["lixian.diskSpace", "lixian.freeSpace"]) {
      if (free !== null || !this.app.has(method)) continue;
      try {
        const answer = await this.app.rpc.call<unknown>(method);
        const r = (Array.isArray(answer) ? answer[0] : answer) as Record<string, unknown>;
        free = num(r.free ?? r.freeSpace);
        total = r.total !== undefined ? num(r.total) : null;
      } catch {
        free = null;
      }
    }
    const dir = this.app.globalOptions.dir ?? "";
    setText(this.space, free === null
      ? `Free space in ${dir || "the download folder"}: not reported by this daemon.`
      : `Free space in ${dir}: ${bytes(free)}${total ? ` of ${bytes(total)}` : ""}`);
  }

  private async all(method: string, done: string): Promise<void> {
    try {
      await this.app.rpc.call(method);
      toast(done);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }

  private async save(): Promise<void> {
    const changes: Record<string, string> = {};
    for (const [name, input] of [["max-overall-download-limit", this.down], ["max-overall-upload-limit", this.up]] as const) {
      const size = parseSize(input.value || "0");
      if (size === null) {
        toast(`${input.getAttribute("aria-label")}: write a size such as 500K or 5M`, "error");
        return;
      }
      changes[name] = input.value.trim() || "0";
    }
    changes["max-concurrent-downloads"] = String(Math.max(1, parseInt(this.concurrent.value, 10) || 1));
    changes["bt-tracker"] = this.trackers.value.split(/\s+/).filter(Boolean).join(",");
    const o = this.app.globalOptions;
    const diff = Object.fromEntries(Object.entries(changes).filter(([k, v]) => (o[k] ?? "") !== v && !(k === "bt-tracker" && !v && !o[k])));
    if (!Object.keys(diff).length) {
      toast("Nothing changed");
      return;
    }
    try {
      await this.app.rpc.call("aria2.changeGlobalOption", diff);
      await this.app.loadGlobalOptions();
      toast("Settings saved");
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }
}
