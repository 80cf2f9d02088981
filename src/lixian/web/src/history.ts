// The total speed over the last minutes, sampled once a second from the global stats
// that every lixian.onTaskDiff push carries (no polling of its own).

export const SECONDS = 300;

export class SpeedHistory {
  readonly down = new Float64Array(SECONDS);
  readonly up = new Float64Array(SECONDS);
  head = 0; // index of the next sample
  count = 0;
  lastAt = 0;
  listeners = new Set<() => void>();

  sample(down: number, up: number, now = Date.now()): void {
    this.down[this.head] = down;
    this.up[this.head] = up;
    this.head = (this.head + 1) % SECONDS;
    this.count = Math.min(this.count + 1, SECONDS);
    this.lastAt = now;
    for (const fn of this.listeners) fn();
  }

  /** Oldest first. */
  series(which: "down" | "up"): number[] {
    const src = which === "down" ? this.down : this.up;
    const out: number[] = [];
    for (let i = this.count; i > 0; i--) out.push(src[(this.head - i + SECONDS) % SECONDS]);
    return out;
  }
}
