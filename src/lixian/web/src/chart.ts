// The speed chart: a canvas, redrawn on each sample (one a second).
import { h } from "./dom";
import { bytes } from "./format";
import { SECONDS, SpeedHistory } from "./history";

export function speedChart(history: SpeedHistory): { el: HTMLElement; dispose: () => void } {
  const canvas = h("canvas", { class: "chart", attrs: { role: "img", "aria-label": "Total speed over the last five minutes" } });
  const legend = h("div", { class: "chart-legend" });
  const el = h("div", { class: "chart-box" }, canvas, legend);
  const draw = () => {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600;
    const hgt = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(hgt * dpr);
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const style = getComputedStyle(canvas);
    const down = history.series("down");
    const up = history.series("up");
    const max = Math.max(1024, ...down, ...up) * 1.1;
    ctx.strokeStyle = style.getPropertyValue("--grid").trim() || "#8884";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 1; i < 4; i++) {
      const y = Math.round((hgt * i) / 4) + 0.5;
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
    }
    ctx.stroke();
    const line = (values: number[], color: string, fill: boolean) => {
      if (values.length < 2) return;
      // the window grows with the history, from one minute up to SECONDS
      const step = w / (Math.max(values.length, 60) - 1);
      const x0 = w - (values.length - 1) * step;
      ctx.beginPath();
      values.forEach((v, i) => {
        const x = x0 + i * step;
        const y = hgt - (v / max) * hgt;
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.stroke();
      if (fill) {
        ctx.lineTo(w, hgt);
        ctx.lineTo(x0, hgt);
        ctx.closePath();
        ctx.globalAlpha = 0.15;
        ctx.fillStyle = color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
    };
    line(down, style.getPropertyValue("--down").trim() || "#2a7", true);
    line(up, style.getPropertyValue("--up").trim() || "#c73", false);
    const peak = Math.max(0, ...down);
    legend.textContent = `↓ now ${bytes(down[down.length - 1] ?? 0)}/s · peak ${bytes(peak)}/s · ↑ now ${bytes(up[up.length - 1] ?? 0)}/s · scale ${bytes(max)}/s · last ${history.count >= SECONDS ? `${Math.round(SECONDS / 60)} minutes` : `${Math.max(1, Math.ceil(history.count / 60))} min (keeps ${Math.round(SECONDS / 60)})`}`;
  };
  history.listeners.add(draw);
  requestAnimationFrame(draw);
  return { el, dispose: () => history.listeners.delete(draw) };
}
