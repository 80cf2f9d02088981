// aria2's JSON-RPC over the daemon's WebSocket at ./jsonrpc (relative to the page, so a
// reverse proxy may mount the daemon under any path prefix).
//
// The secret travels only inside messages ("token:..." as each call's first parameter),
// never in a URL: it is kept in memory, and in localStorage only when the user ticks
// "remember" (auth.ts).

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
  get unauthorized(): boolean {
    return this.message === "Unauthorized";
  }
}

/** Thrown for calls that were lost with the connection. */
export const CONNECTION_LOST = -2;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: RpcError) => void;
  timer: number;
}

type Notify = (method: string, params: unknown[]) => void;

const NO_TOKEN = new Set(["system.multicall", "system.listMethods", "system.listNotifications"]);
const CALL_TIMEOUT_MS = 60_000;

export type Outcome<T = unknown> = { ok: true; value: T } | { ok: false; error: RpcError };

export function rpcUrl(path: string): string {
  const url = new URL(path, document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** A link the daemon gave as "/files/..." resolved under this page's own path prefix. */
export function pageUrl(path: string): string {
  return new URL(path.replace(/^\/+/, ""), document.baseURI).href;
}

export class Rpc {
  secret: string | null = null;
  onopen: () => void = () => {};
  onclose: (everOpened: boolean) => void = () => {};
  onnotify: Notify = () => {};

  private ws: WebSocket | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private outbox: string[] = [];
  private backoff = 250;
  private opened = false;
  private stopped = false;

  constructor(private readonly url: string) {}

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 250;
      this.opened = true;
      const queued = this.outbox;
      this.outbox = [];
      for (const text of queued) ws.send(text);
      this.onopen();
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message: unknown;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const m of Array.isArray(message) ? message : [message]) this.receive(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new RpcError(CONNECTION_LOST, "the connection to the daemon was lost"));
        this.pending.delete(id);
      }
      this.onclose(this.opened);
      if (!this.stopped) {
        setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 5000);
      }
    };
  }

  private receive(message: unknown): void {
    if (typeof message !== "object" || message === null) return;
    const m = message as { id?: unknown; result?: unknown; error?: { code: number; message: string }; method?: string; params?: unknown[] };
    if (typeof m.id === "number" && this.pending.has(m.id)) {
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new RpcError(m.error.code, m.error.message));
      else p.resolve(m.result);
    } else if (typeof m.method === "string") {
      this.onnotify(m.method, Array.isArray(m.params) ? m.params : []);
    }
  }

  private withToken(method: string, params: unknown[]): unknown[] {
    if (NO_TOKEN.has(method) || !this.secret) return params;
    return [`token:${this.secret}`, ...params];
  }

  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    while (params.length && params[params.length - 1] === undefined) params.pop();
    const id = this.nextId++;
    const text = JSON.stringify({ jsonrpc: "2.0", id, method, params: this.withToken(method, params) });
    return new Promise<T>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(-1, `${method}: no answer from the daemon`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (this.connected) this.ws!.send(text);
      else this.outbox.push(text);
    });
  }

  /** Many calls in one message (system.multicall); each carries its own token. */
  async multicall<T = unknown>(calls: Array<[string, unknown[]]>): Promise<Outcome<T>[]> {
    if (calls.length === 0) return [];
    const specs = calls.map(([methodName, params]) => ({
      methodName,
      params: this.withToken(methodName, params),
    }));
    const results = await this.call<unknown[]>("system.multicall", specs);
    return results.map((r) => {
      if (Array.isArray(r)) return { ok: true, value: r[0] as T };
      const e = r as { code?: number; message?: string };
      return { ok: false, error: new RpcError(e.code ?? 1, e.message ?? "failed") };
    });
  }

  /** The same call for many GIDs, in chunks, so 10,000 selected tasks don't make one huge message. */
  async each(method: string, gids: string[], chunk = 500): Promise<{ done: number; failed: Array<[string, string]> }> {
    let done = 0;
    const failed: Array<[string, string]> = [];
    for (let i = 0; i < gids.length; i += chunk) {
      const part = gids.slice(i, i + chunk);
      const results = await this.multicall(part.map((g) => [method, [g]]));
      results.forEach((r, j) => {
        if (r.ok) done += 1;
        else failed.push([part[j], r.error.message]);
      });
    }
    return { done, failed };
  }
}
