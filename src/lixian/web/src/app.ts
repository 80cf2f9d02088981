// The page's shared state: the one RPC connection, its one subscription slot (the daemon
// keeps one view per socket), the global numbers every push carries, and the speed history.
import { Rpc, RpcError } from "./rpc";
import { SpeedHistory } from "./history";
import type { Diff, View } from "./types";
import { num } from "./format";

type DiffHandler = (diff: Diff) => void;

export class App {
  readonly history = new SpeedHistory();
  methods = new Set<string>();
  stats: Record<string, string> = {};
  counts: Record<string, number> = {};
  globalOptions: Record<string, string> = {};
  version = "";
  /** Called after any push: header speeds, filter counts. */
  readonly onGlobal = new Set<() => void>();

  private view: View | null = null;
  private handler: DiffHandler | null = null;
  private generation = 0;
  private accepting = false;

  constructor(readonly rpc: Rpc) {
    rpc.onnotify = (method, params) => {
      if (method === "lixian.onTaskDiff" && params.length) this.receive(params[0] as Diff);
    };
    window.setInterval(() => {
      if (this.rpc.connected) this.history.sample(num(this.stats.downloadSpeed), num(this.stats.uploadSpeed));
    }, 1000);
    document.addEventListener("visibilitychange", () => {
      // A hidden tab needs no pushes; its view comes back whole when it is shown again.
      if (document.hidden) {
        if (this.view) this.rpc.call("lixian.unsubscribe").catch(() => {});
        this.accepting = false;
      } else if (this.view) {
        void this.resubscribe();
      }
    });
  }

  has(method: string): boolean {
    return this.methods.has(method);
  }

  /** Show ``view``: its pushes go to ``handler`` from the first whole one on. */
  async subscribe(view: View, handler: DiffHandler): Promise<void> {
    this.view = view;
    this.handler = handler;
    await this.resubscribe();
  }

  async resubscribe(): Promise<void> {
    if (!this.view) return;
    const gen = ++this.generation;
    this.accepting = false; // pushes still on the wire belong to the previous view
    try {
      await this.rpc.call("lixian.subscribe", this.view);
    } catch (e) {
      if (gen === this.generation && !(e instanceof RpcError && e.code === -2)) throw e;
      return;
    }
    if (gen === this.generation && !document.hidden) this.accepting = true;
  }

  private receive(diff: Diff): void {
    if (diff.stats) Object.assign(this.stats, diff.stats);
    if (diff.counts) this.counts = diff.counts;
    for (const fn of this.onGlobal) fn();
    if (!this.accepting || !this.handler) return;
    this.handler(diff);
  }

  async loadGlobalOptions(): Promise<void> {
    this.globalOptions = await this.rpc.call<Record<string, string>>("aria2.getGlobalOption");
  }
}
