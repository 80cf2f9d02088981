// The segment/piece map drawn from tellStatus' ``bitfield`` (hex, piece 0 is the high bit
// of the first digit). Many pieces are grouped into cells, shaded by how many are done.
import { h } from "./dom";

export function countBits(hex: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const digit = parseInt(hex[i >> 2] ?? "0", 16);
    if (digit & (8 >> (i & 3))) n++;
  }
  return n;
}

export class PieceMap {
  readonly canvas = h("canvas", { class: "pieces", attrs: { role: "img", "aria-label": "Piece map" } });
  private last = "";

  draw(hex: string | undefined, pieces: number, complete: boolean): void {
    const width = this.canvas.clientWidth || 600;
    const key = `${hex}|${pieces}|${complete}|${width}`;
    if (key === this.last) return;
    this.last = key;
    const cell = 10;
    const cols = Math.max(1, Math.floor(width / cell));
    const cells = Math.max(1, Math.min(pieces || 1, cols * 8));
    const rows = Math.ceil(cells / cols);
    const dpr = window.devicePixelRatio || 1;
    const heightCss = rows * cell;
    this.canvas.style.height = `${heightCss}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(heightCss * dpr);
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const style = getComputedStyle(this.canvas);
    const on = style.getPropertyValue("--down").trim() || "#2a7";
    const off = style.getPropertyValue("--track").trim() || "#8883";
    const per = (pieces || 1) / cells;
    this.canvas.setAttribute("aria-label", `Piece map: ${pieces} pieces`);
    for (let c = 0; c < cells; c++) {
      const a = Math.floor(c * per);
      const b = Math.max(a + 1, Math.floor((c + 1) * per));
      const frac = complete ? 1 : hex ? countBits(hex, a, b) / (b - a) : 0;
      const x = (c % cols) * cell;
      const y = Math.floor(c / cols) * cell;
      ctx.globalAlpha = 1;
      ctx.fillStyle = off;
      ctx.fillRect(x, y, cell - 1, cell - 1);
      if (frac > 0) {
        ctx.globalAlpha = 0.25 + 0.75 * frac;
        ctx.fillStyle = on;
        ctx.fillRect(x, y, cell - 1, cell - 1);
      }
    }
    ctx.globalAlpha = 1;
  }
}
