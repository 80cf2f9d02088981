// Numbers as people read them. aria2 sends numbers as strings; these take either.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function num(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

export function bytes(value: unknown): string {
  let n = num(value);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${n.toFixed(digits)} ${UNITS[unit]}`;
}

export function speed(value: unknown): string {
  return num(value) > 0 ? `${bytes(value)}/s` : "–";
}

export function percent(done: unknown, total: unknown): number {
  const t = num(total);
  return t > 0 ? Math.min(1, num(done) / t) : 0;
}

export function pct(fraction: number): string {
  if (fraction >= 1) return "100%";
  return `${(Math.floor(fraction * 1000) / 10).toFixed(1)}%`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** Time left at the current speed, or "–" when it cannot be told. */
export function eta(total: unknown, done: unknown, rate: unknown): string {
  const left = num(total) - num(done);
  const r = num(rate);
  if (num(total) <= 0 || left <= 0 || r <= 0) return "–";
  return duration(left / r);
}

/** "1.5M" or "800K" (aria2's size syntax) from a byte count, for option fields. */
export function aria2Size(value: number): string {
  if (value <= 0) return "0";
  if (value % (1 << 20) === 0) return `${value >> 20}M`;
  if (value % 1024 === 0) return `${value >> 10}K`;
  return String(value);
}

/** aria2's size syntax ("1M", "800K", "1024") -> bytes, or null when not a size. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?B)?\s*$/.exec(text);
  if (!m) return null;
  const mult = { "": 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

export function shortTime(epochMs: number): string {
  const d = new Date(epochMs);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
