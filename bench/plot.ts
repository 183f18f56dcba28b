// A small SVG of latency distributions (log scale): per row, the 5th-95th
// percentile bar, the 1st-99th whiskers and the median tick.
import { percentile } from './stats.ts';

export function latencySvg(rows: { name: string; latencies: number[] }[], title: string): string {
  const width = 760;
  const left = 190;
  const rowH = 28;
  const top = 40;
  const height = top + rows.length * rowH + 40;
  const all = rows.flatMap((r) => r.latencies).filter((x) => x > 0);
  const lo = Math.log10(Math.max(0.05, Math.min(...all) * 0.8));
  const hi = Math.log10(Math.max(...all) * 1.2);
  const x = (ms: number): number => left + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * (width - left - 20);
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14">${esc(title)}</text>`,
  ];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const gx = x(10 ** e);
    parts.push(`<line x1="${gx}" y1="${top - 5}" x2="${gx}" y2="${height - 30}" stroke="#ddd"/>`, `<text x="${gx}" y="${height - 14}" text-anchor="middle">${10 ** e} ms</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const s = [...r.latencies].sort((a, b) => a - b);
    const [p1, p5, p50, p95, p99] = [1, 5, 50, 95, 99].map((p) => percentile(s, p)) as [number, number, number, number, number];
    parts.push(
      `<text x="${left - 10}" y="${y + 4}" text-anchor="end">${esc(r.name)}</text>`,
      `<line x1="${x(p1)}" y1="${y}" x2="${x(p99)}" y2="${y}" stroke="#555"/>`,
      `<rect x="${x(p5)}" y="${y - 7}" width="${Math.max(1, x(p95) - x(p5))}" height="14" fill="${r.name.startsWith('cellblock') ? '#2a7' : '#79b'}"/>`,
      `<line x1="${x(p50)}" y1="${y - 10}" x2="${x(p50)}" y2="${y + 10}" stroke="black" stroke-width="2"/>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
