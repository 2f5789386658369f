/** Benchmark results → a Markdown report and one SVG chart of throughput by object size. */

import type { ScannerCostRow } from "./scanner-cost.ts";
import { type AuthorizationResult, renderAuthorization } from "./authorize.ts";

export interface LargeRow {
  location: string;
  size: number;
  concurrency: number;
  target: string;
  putMBps: number;
  getMBps: number;
}

export interface SmallRow {
  location: string;
  size: number;
  concurrency: number;
  op: string;
  target: string;
  opsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** Server CPU per request, µs (small objects only). */
  cpuPerOp?: number;
}

export interface Results {
  date: string;
  command: string;
  machine: string;
  notes: string[];
  encode: { shape: string; isalGBps: number; streamGBps: number }[];
  raw: { location: string; size: number; writeMBps: number; readMBps: number }[];
  objectLayer: {
    location: string;
    drives: number;
    shape: string;
    size: number;
    putMBps: number;
    getMBps: number;
  }[];
  large: LargeRow[];
  small: SmallRow[];
  list: SmallRow[];
  memory: { target: string; idle: number; peak: number; perConnection?: number }[];
  amplification: { target: string; factor: string }[];
  /** Foreground throughput with the background scanner off and always working (tmpfs). */
  scannerCost?: ScannerCostRow[];
  /** Policy evaluation and the decision cache, in process (bench/authorize.ts). */
  authorization?: AuthorizationResult;
}

const fmt = (n: number, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "–";
const ratio = (a: number, b: number | undefined) =>
  b && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : "–";
const size = (bytes: number) =>
  bytes >= 1 << 30
    ? `${bytes / (1 << 30)} GiB`
    : bytes >= 1 << 20
    ? `${bytes / (1 << 20)} MiB`
    : `${bytes / 1024} KiB`;
const mb = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;

function baseline<T extends { location: string; size: number }>(
  rows: T[],
  match: Partial<T>,
): T | undefined {
  return rows.find((r) => Object.entries(match).every(([k, v]) => r[k as keyof T] === v));
}

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  out.push(`# Flashstor benchmark — ${r.date}`, "");
  out.push(`Command: \`${r.command}\`  `, `Machine: ${r.machine}`, "");
  for (const note of r.notes) out.push(`- ${note}`);
  out.push("", "## ISA-L encode through FFI (one core, GB/s of object data)", "");
  out.push("| shape | ec_encode_data | encodeStream (null sinks) |", "|---|---|---|");
  for (const e of r.encode) {
    out.push(`| ${e.shape} | ${fmt(e.isalGBps, 1)} | ${fmt(e.streamGBps, 1)} |`);
  }

  out.push("", "## Object layer in process (no HTTP): one object, MB/s", "");
  out.push(
    "| drives on | drives | EC | size | PUT | GET | PUT / plain file write | GET / plain file read |",
    "|---|---|---|---|---|---|---|---|",
  );
  for (const o of r.objectLayer) {
    const raw = baseline(r.raw, { location: o.location, size: o.size });
    out.push(
      `| ${o.location} | ${o.drives} | ${o.shape} | ${size(o.size)} | ${fmt(o.putMBps)} | ${
        fmt(o.getMBps)
      } | ${ratio(o.putMBps, raw?.writeMBps)} | ${ratio(o.getMBps, raw?.readMBps)} |`,
    );
  }

  out.push("", "## Large objects over S3 (MB/s)", "");
  out.push(
    "| drives on | size | conc | target | PUT | GET | PUT / bare | GET / bare | PUT / raw disk | GET / raw disk | PUT / s3rver | GET / s3rver |",
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const row of r.large) {
    const bare = baseline(r.large, {
      location: row.location,
      size: row.size,
      concurrency: row.concurrency,
      target: "bare",
    });
    const s3rver = baseline(r.large, {
      location: row.location,
      size: row.size,
      concurrency: row.concurrency,
      target: "s3rver",
    });
    const raw = baseline(r.raw, { location: row.location, size: row.size });
    out.push(
      `| ${row.location} | ${size(row.size)} | ${row.concurrency} | ${row.target} | ${
        fmt(row.putMBps)
      } | ${fmt(row.getMBps)} | ${ratio(row.putMBps, bare?.putMBps)} | ${
        ratio(row.getMBps, bare?.getMBps)
      } | ${ratio(row.putMBps, raw?.writeMBps)} | ${ratio(row.getMBps, raw?.readMBps)} | ${
        ratio(row.putMBps, s3rver?.putMBps)
      } | ${ratio(row.getMBps, s3rver?.getMBps)} |`,
    );
  }
  out.push("", "Raw disk (one file, 1 MiB writes + fsync, 1 MiB reads):", "");
  out.push("| drives on | size | write MB/s | read MB/s |", "|---|---|---|---|");
  for (const raw of r.raw) {
    out.push(
      `| ${raw.location} | ${size(raw.size)} | ${fmt(raw.writeMBps)} | ${fmt(raw.readMBps)} |`,
    );
  }
  out.push("", "Write amplification of the layout (bytes written per byte stored):", "");
  for (const a of r.amplification) out.push(`- ${a.target}: ${a.factor}`);

  for (
    const [title, rows] of [["Small objects", r.small], [
      "LIST (1000 keys a page)",
      r.list,
    ]] as const
  ) {
    out.push("", `## ${title}`, "");
    out.push(
      "| drives on | size | conc | op | target | ops/s | p50 ms | p99 ms | failed requests | ops / s3rver | ops / bare | server CPU µs/op | s3rver CPU/op ÷ this |",
    );
    out.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const row of rows) {
      const of = (target: string) =>
        baseline(rows as SmallRow[], {
          location: row.location,
          size: row.size,
          concurrency: row.concurrency,
          op: row.op,
          target,
        });
      out.push(
        `| ${row.location} | ${
          row.size ? size(row.size) : "–"
        } | ${row.concurrency} | ${row.op} | ${row.target} | ${fmt(row.opsPerSecond)} | ${
          fmt(row.p50, 2)
        } | ${fmt(row.p99, 2)} | ${row.errors} | ${
          ratio(row.opsPerSecond, of("s3rver")?.opsPerSecond)
        } | ${ratio(row.opsPerSecond, of("bare")?.opsPerSecond)} | ${fmt(row.cpuPerOp ?? NaN)} | ${
          ratio(of("s3rver")?.cpuPerOp ?? NaN, row.cpuPerOp)
        } |`,
      );
    }
  }

  out.push(
    "",
    "## Memory (server RSS)",
    "",
    "| target | idle | peak under large-object load | per idle keep-alive connection |",
  );
  out.push("|---|---|---|---|");
  for (const m of r.memory) {
    out.push(
      `| ${m.target} | ${mb(m.idle)} | ${mb(m.peak)} | ${
        m.perConnection === undefined ? "–" : `${(m.perConnection / 1024).toFixed(1)} KiB`
      } |`,
    );
  }
  if (r.scannerCost) {
    out.push("", "## Background scanner's cost to foreground traffic (tmpfs, 2+2)", "");
    out.push("| case | scanner off | scanner always working | cost |", "|---|---|---|---|");
    for (const c of r.scannerCost) {
      const lost = c.lowerIsBetter ? c.with / c.without - 1 : 1 - c.with / c.without;
      const cost = c.without > 0 ? `${(100 * lost).toFixed(1)} %` : "–";
      out.push(`| ${c.case} | ${fmt(c.without)} ${c.unit} | ${fmt(c.with)} ${c.unit} | ${cost} |`);
    }
  }
  if (r.authorization) out.push(...renderAuthorization(r.authorization));
  return out.join("\n") + "\n";
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

/** Grouped bars (log scale): MB/s by object size, PUT and GET per target, on tmpfs. */
export function renderChart(r: Results, location: string): string {
  const points = new Map<string, Map<number, number>>();
  const add = (series: string, bytes: number, mbps: number) => {
    if (!Number.isFinite(mbps) || mbps <= 0) return;
    const m = points.get(series) ?? new Map<number, number>();
    m.set(bytes, Math.max(m.get(bytes) ?? 0, mbps));
    points.set(series, m);
  };
  for (const row of r.large.filter((x) => x.location === location)) {
    add(`${row.target} PUT`, row.size, row.putMBps);
    add(`${row.target} GET`, row.size, row.getMBps);
  }
  for (const row of r.small.filter((x) => x.location === location)) {
    if (row.op === "PUT" || row.op === "GET") {
      add(`${row.target} ${row.op}`, row.size, (row.opsPerSecond * row.size) / (1 << 20));
    }
  }
  const sizes = [...new Set([...points.values()].flatMap((m) => [...m.keys()]))].sort((a, b) =>
    a - b
  );
  const series = [...points.keys()].sort();
  const targets = [...new Set(series.map((name) => name.replace(/ (PUT|GET)$/, "")))];
  const color = (name: string) =>
    COLORS[targets.indexOf(name.replace(/ (PUT|GET)$/, "")) % COLORS.length];
  const width = 960, height = 420, left = 60, bottom = 60, top = 40;
  const plotW = width - left - 200, plotH = height - top - bottom;
  const max = Math.max(...[...points.values()].flatMap((m) => [...m.values()]), 10);
  const logMax = Math.ceil(Math.log10(max));
  const y = (v: number) => top + plotH - (Math.max(0, Math.log10(Math.max(v, 1))) / logMax) * plotH;
  const groupW = plotW / Math.max(sizes.length, 1);
  const barW = (groupW * 0.8) / Math.max(series.length, 1);
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="20" font-size="14">Throughput by object size (${location}, best concurrency), MB/s, log scale</text>`,
  ];
  for (let p = 0; p <= logMax; p++) {
    const yy = y(10 ** p);
    svg.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    svg.push(`<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${10 ** p}</text>`);
  }
  sizes.forEach((s, g) => {
    const gx = left + g * groupW + groupW * 0.1;
    series.forEach((name, i) => {
      const v = points.get(name)?.get(s);
      if (v === undefined) return;
      const yy = y(v);
      svg.push(
        `<rect x="${gx + i * barW}" y="${yy}" width="${barW - 1}" height="${
          top + plotH - yy
        }" fill="${color(name)}" opacity="${name.endsWith("GET") ? 0.6 : 1}"><title>${name} ${
          size(s)
        }: ${v.toFixed(0)} MB/s</title></rect>`,
      );
    });
    svg.push(
      `<text x="${gx + groupW * 0.4}" y="${top + plotH + 18}" text-anchor="middle">${
        size(s)
      }</text>`,
    );
  });
  series.forEach((name, i) => {
    const ly = top + i * 16;
    svg.push(
      `<rect x="${left + plotW + 20}" y="${ly}" width="10" height="10" fill="${
        color(name)
      }" opacity="${name.endsWith("GET") ? 0.6 : 1}"/>`,
      `<text x="${left + plotW + 36}" y="${ly + 9}">${name}</text>`,
    );
  });
  svg.push("</svg>");
  return svg.join("\n");
}
