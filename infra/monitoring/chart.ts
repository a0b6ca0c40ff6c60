// Draws the dashboard's panels as one SVG, from each query's result over a time range: the
// project's own picture of the data the Grafana panels show (npm run dashboard:png turns it into
// a PNG). Plain line charts, one per panel, two panels a row, as the dashboard lays them out.
import type { Panel } from "./panels";

/** One line: its legend text and its points (seconds since the epoch, value). */
export interface Line { name: string; points: [number, number][] }
export interface PanelData { panel: Panel; lines: Line[] }

const W = 620; // one panel
const H = 300;
const PAD = { left: 64, right: 16, top: 40, bottom: 28 };
const LEGEND_ROW = 16;
const COLORS = ["#3274d9", "#e02f44", "#37872d", "#ff9830", "#8f3bb8", "#1f9ca8", "#a16b38", "#6e7079"];
const FONT = "DejaVu Sans, Arial, sans-serif";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A legend template ("{{tool}}") filled from a series' labels. */
export function legendOf(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => labels[k] ?? "");
}

function formatValue(v: number, unit: Panel["unit"]): string {
  const n = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2);
  return unit === "ms" ? `${n} ms` : unit === "reqps" ? `${n}/s` : n;
}

function clock(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

function drawPanel(d: PanelData, x0: number, y0: number, range: [number, number], step: number): string {
  // Lines that stay at 0 the whole time only crowd the legend: they are counted, not drawn.
  // A quantile over a step with no requests is NaN: a gap in its line, as Grafana draws it.
  const lines = d.lines.map((l) => ({ ...l, points: l.points.filter(([, v]) => Number.isFinite(v)) }));
  const drawn = lines.filter((l) => l.points.some(([, v]) => v !== 0));
  const flat = lines.length - drawn.length;
  const legendRows = Math.ceil(drawn.length / 3);
  const plotH = H - PAD.top - PAD.bottom - legendRows * LEGEND_ROW;
  const plotW = W - PAD.left - PAD.right;
  const max = Math.max(0, ...drawn.flatMap((l) => l.points.map(([, v]) => v)));
  const top = max === 0 ? 1 : max * 1.1;
  const sx = (t: number) => x0 + PAD.left + ((t - range[0]) / Math.max(1, range[1] - range[0])) * plotW;
  const sy = (v: number) => y0 + PAD.top + plotH - (v / top) * plotH;
  const out: string[] = [
    `<rect x="${x0 + 4}" y="${y0 + 4}" width="${W - 8}" height="${H - 8}" rx="4" fill="#ffffff" stroke="#d8d9da"/>`,
    `<text x="${x0 + 14}" y="${y0 + 24}" font-size="14" font-weight="bold" fill="#202226">${esc(d.panel.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    out.push(`<line x1="${x0 + PAD.left}" x2="${x0 + PAD.left + plotW}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eeeeef"/>`,
      `<text x="${x0 + PAD.left - 6}" y="${sy(v) + 4}" font-size="10" text-anchor="end" fill="#6e7079">${esc(formatValue(v, d.panel.unit))}</text>`);
  }
  for (let i = 0; i <= 3; i++) {
    const t = range[0] + ((range[1] - range[0]) * i) / 3;
    const anchor = i === 0 ? "start" : i === 3 ? "end" : "middle";
    out.push(`<text x="${sx(t)}" y="${y0 + PAD.top + plotH + 14}" font-size="10" text-anchor="${anchor}" fill="#6e7079">${clock(t)}</text>`);
  }
  drawn.forEach((l, i) => {
    const color = COLORS[i % COLORS.length];
    const path = l.points.map(([t, v], j) => {
      const gap = j === 0 || t - l.points[j - 1][0] > 1.5 * step;
      return `${gap ? "M" : "L"}${sx(t).toFixed(1)},${sy(v).toFixed(1)}`;
    }).join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const lx = x0 + PAD.left + (i % 3) * (plotW / 3);
    const ly = y0 + PAD.top + plotH + 30 + Math.floor(i / 3) * LEGEND_ROW;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${ly - 3}" font-size="10" fill="#202226">${esc(l.name.slice(0, 34))}</text>`);
  });
  const note = drawn.length === 0 ? (lines.length === 0 ? "no data" : "all series at 0") : flat > 0 ? `+${flat} series at 0, not drawn` : "";
  if (note !== "") out.push(`<text x="${x0 + W - 14}" y="${y0 + 24}" font-size="10" text-anchor="end" fill="#6e7079">${esc(note)}</text>`);
  return out.join("\n");
}

/** The whole picture: a caption line, then the panels two a row. */
export function dashboardSvg(panels: PanelData[], range: [number, number], step: number, caption: string): string {
  const rows = Math.ceil(panels.length / 2);
  const width = 2 * W;
  const height = 36 + rows * H;
  const body = panels.map((d, i) => drawPanel(d, (i % 2) * W, 36 + Math.floor(i / 2) * H, range, step)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">
<rect width="${width}" height="${height}" fill="#f4f5f5"/>
<text x="12" y="24" font-size="13" fill="#202226">${esc(caption)}</text>
${body}
</svg>`;
}
