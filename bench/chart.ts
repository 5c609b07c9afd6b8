/**
 * The sweep's chart as a self-contained SVG: p50 and p99 submit-to-commit latency (log scale)
 * against committed throughput, one point per offered rate, with the target region (at least
 * `targetTps` committed, p99 under `targetP99Ms`) shaded. No dependencies; opens in any browser.
 * `node bench/chart.ts SWEEP.json` draws it again from a sweep's JSON (`--help` says more).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchCommand, parseCommandLine, usageError } from './command-line.ts';

export interface ChartPoint {
  readonly offeredTps: number;
  readonly committedTps: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface ChartOptions {
  readonly title: string;
  readonly subtitle: string;
  readonly targetTps: number;
  readonly targetP99Ms: number;
}

const W = 860;
const H = 540;
const M = { left: 80, right: 30, top: 78, bottom: 70 };

/** `commit 1234abc (+ local changes); ` for chart subtitles, or nothing outside a git checkout. */
export function versionLabel(info: Record<string, unknown> | undefined): string {
  const commit = info?.commit;
  if (typeof commit !== 'string') return '';
  const extra =
    typeof info?.experiment === 'string'
      ? ` + ${info.experiment}`
      : info?.dirty === true
        ? ' + local changes'
        : '';
  return `commit ${commit.slice(0, 7)}${extra}; `;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A long subtitle on two lines, split at the "; " nearest its middle. */
function subtitleLines(text: string): string[] {
  if (text.length <= 120) return [text];
  let best = -1;
  for (let i = text.indexOf('; '); i >= 0; i = text.indexOf('; ', i + 1))
    if (best < 0 || Math.abs(i - text.length / 2) < Math.abs(best - text.length / 2)) best = i;
  return best < 0 ? [text] : [text.slice(0, best + 1), text.slice(best + 2)];
}

function niceStep(max: number): number {
  const raw = max / 8;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

export function sweepSvg(points: readonly ChartPoint[], opts: ChartOptions): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const lat = points.flatMap((p) => [p.p50Ms, p.p99Ms]).filter((v): v is number => v !== null && v > 0);
  const xMax = Math.max(opts.targetTps * 1.25, ...points.map((p) => p.committedTps)) * 1.08;
  const yLo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(100, ...lat))));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(opts.targetP99Ms * 2, ...lat)));
  const x = (v: number): number => M.left + (v / xMax) * plotW;
  const y = (v: number): number =>
    M.top +
    plotH -
    ((Math.log10(Math.max(v, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    // The chart's name for screen readers and file browsers (and Biome's a11y rule).
    `<title>${esc(opts.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(opts.title)}</text>`,
    ...subtitleLines(opts.subtitle).map(
      (line, i) =>
        `<text x="${W / 2}" y="${42 + 15 * i}" text-anchor="middle" fill="#555" font-size="11">${esc(line)}</text>`,
    ),
  );
  // Target region: throughput at least the target, p99 under the bound.
  const tx = x(opts.targetTps);
  const ty = y(opts.targetP99Ms);
  out.push(
    `<rect x="${tx}" y="${ty}" width="${M.left + plotW - tx}" height="${M.top + plotH - ty}" fill="#2e7d32" fill-opacity="0.08" stroke="#2e7d32" stroke-dasharray="4 3"/>`,
    `<text x="${M.left + plotW - 6}" y="${ty + 16}" text-anchor="end" fill="#2e7d32">target: ≥ ${opts.targetTps} tx/s with p99 &lt; ${opts.targetP99Ms / 1000} s</text>`,
  );
  // Grid and axes.
  const step = niceStep(xMax);
  for (let v = 0; v <= xMax; v += step) {
    out.push(
      `<line x1="${x(v)}" y1="${M.top}" x2="${x(v)}" y2="${M.top + plotH}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${M.top + plotH + 18}" text-anchor="middle">${v}</text>`,
    );
  }
  for (let decade = yLo; decade <= yHi; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > yHi) break;
      const label = v >= 1000 ? `${v / 1000} s` : `${v} ms`;
      out.push(
        `<line x1="${M.left}" y1="${y(v)}" x2="${M.left + plotW}" y2="${y(v)}" stroke="${m === 1 ? '#ddd' : '#f2f2f2'}"/>`,
        `<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${label}</text>`,
      );
    }
  }
  out.push(
    `<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="black"/>`,
    `<text x="${M.left + plotW / 2}" y="${H - 22}" text-anchor="middle" font-size="13">committed throughput (tx/s, measured window)</text>`,
    `<text transform="translate(20 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13">submit-to-commit latency (log scale)</text>`,
  );
  const series = (key: 'p50Ms' | 'p99Ms', color: string, label: string, dy: number): void => {
    const pts = points.filter((p) => p[key] !== null);
    if (pts.length > 1) {
      const d = pts.map(
        (p, i) => `${i === 0 ? 'M' : 'L'}${x(p.committedTps).toFixed(1)},${y(p[key]!).toFixed(1)}`,
      );
      out.push(`<path d="${d.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    for (const p of pts) {
      out.push(
        `<circle cx="${x(p.committedTps)}" cy="${y(p[key]!)}" r="4" fill="${color}"><title>${label}: ${Math.round(p[key]!)} ms at ${Math.round(p.committedTps)} tx/s committed (offered ${p.offeredTps}/s)</title></circle>`,
      );
      if (key === 'p99Ms')
        out.push(
          `<text x="${x(p.committedTps) + 6}" y="${y(p[key]!) + dy}" fill="#666" font-size="10">offered ${p.offeredTps}</text>`,
        );
    }
  };
  series('p50Ms', '#1565c0', 'p50', 0);
  series('p99Ms', '#c62828', 'p99', -8);
  // Legend, top right: the data of a struggling node sits top left, the target bottom right.
  const lx = M.left + plotW - 142;
  const ly = M.top + 14;
  out.push(
    `<rect x="${lx - 8}" y="${ly - 12}" width="150" height="44" fill="white" stroke="#ccc"/>`,
    `<circle cx="${lx}" cy="${ly}" r="4" fill="#1565c0"/><text x="${lx + 10}" y="${ly + 4}">p50 latency</text>`,
    `<circle cx="${lx}" cy="${ly + 20}" r="4" fill="#c62828"/><text x="${lx + 10}" y="${ly + 24}">p99 latency</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

const COMMAND = {
  name: 'bench:chart',
  command: 'npx node bench/chart.ts',
  usage: `Usage: npx node bench/chart.ts SWEEP.json

Draws again the chart of a throughput sweep (npm run bench -- --sweep writes
bench/results/throughput-sweep-<time>.json): p50 and p99 latency against committed tx/s, one
point per offered rate, the target region shaded. Writes the SVG beside the JSON (same name,
.svg) and prints its path.

Options:
  -h, --help        show this help
`,
  options: {},
  positionals: { min: 1, max: 1, synopsis: 'one SWEEP.json' },
} as const satisfies BenchCommand;

/** The parts of a sweep's JSON (bench/run.ts) that the chart reads. */
interface SweepJson {
  startedAt: string;
  git?: Record<string, unknown>;
  options: { validators: number; txBytes: number; warmupSeconds: number; durationSeconds: number };
  verifyRate: { perCore: number; cores: number };
  target: { committedTps: number; p99Ms: number };
  steps: { rate: number; committedTps: number; latencyMs: { p50: number | null; p99: number | null } }[];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = parseCommandLine(COMMAND).positionals[0]!;
  if (!file.endsWith('.json')) usageError(COMMAND, `expects a sweep's .json, got "${file}"`);
  let sweep: SweepJson;
  try {
    sweep = JSON.parse(readFileSync(file, 'utf8')) as SweepJson;
  } catch (err) {
    usageError(COMMAND, `${file}: not a readable JSON file (${(err as Error).message})`);
  }
  if (!Array.isArray(sweep?.steps) || typeof sweep.options !== 'object' || sweep.options === null)
    usageError(COMMAND, `${file}: not a sweep's JSON (no steps or options)`);
  const o = sweep.options;
  const out = file.replace(/\.json$/, '.svg');
  writeFileSync(
    out,
    sweepSvg(
      sweep.steps.map((r) => ({
        offeredTps: r.rate,
        committedTps: r.committedTps,
        p50Ms: r.latencyMs.p50,
        p99Ms: r.latencyMs.p99,
      })),
      {
        title: `CareLedger: latency against committed throughput (${o.validators} validators, ${o.txBytes}-byte txs)`,
        subtitle: `${sweep.verifyRate.cores} cores, ${sweep.verifyRate.perCore} ed25519 verifies/s per core; ${o.warmupSeconds} s warm-up + ${o.durationSeconds} s per step, fresh consortium per step; ${versionLabel(sweep.git)}${sweep.startedAt.slice(0, 16)}`,
        targetTps: sweep.target.committedTps,
        targetP99Ms: sweep.target.p99Ms,
      },
    ),
  );
  process.stdout.write(`wrote ${out}\n`);
}
