/**
 * Per-folder coverage of the unit tests, from c8's `json-summary` report (coverage-summary.json:
 * one entry per source file with covered/total statements, branches, functions and lines, plus
 * a `total`). c8 prints only one total or one line per file; this sums the per-file counts by
 * folder so a reader sees at a glance which part of the node the unit tests exercise:
 *
 *  - one row per top-level source folder (`consensus/`, `node/`, `p2p/`, `packages/`, `state/`);
 *  - one row per `packages/*` subfolder (`packages/client/`, `packages/health/`, ...), since
 *    `packages/` holds several independent libraries;
 *  - a last row with c8's own total.
 *
 * Percentages are covered/total of the summed counts (not an average of per-file percentages),
 * so a large file weighs more than a small one. Usage on its own:
 * `node test/coverage-summary.ts DIR/coverage-summary.json`.
 */
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';

const METRICS = ['statements', 'branches', 'functions', 'lines'] as const;
type Metric = (typeof METRICS)[number];
interface Count {
  total: number;
  covered: number;
}
type FileSummary = Record<Metric, Count>;

/** The folders a file counts toward: its top-level folder and, under packages/, its subfolder. */
export function foldersOf(file: string): string[] {
  const parts = file.split('/');
  if (parts.length < 2) return ['(root)'];
  const top = `${parts[0]}/`;
  return parts[0] === 'packages' && parts.length > 2 ? [top, `${top}${parts[1]}/`] : [top];
}

/** Width of one cell: `100.0% 12345/12345` with room to spare. */
const CELL = 22;

function pct(count: Count): string {
  return count.total === 0 ? '   n/a' : `${((100 * count.covered) / count.total).toFixed(1).padStart(5)}%`;
}

/** Sums c8's per-file counts by folder; `root` makes the absolute paths c8 writes relative. */
export function folderTotals(summary: Record<string, FileSummary>, root: string): Map<string, FileSummary> {
  const byFolder = new Map<string, FileSummary>();
  for (const [path, counts] of Object.entries(summary)) {
    if (path === 'total') continue;
    for (const folder of foldersOf(relative(root, path).split(sep).join('/'))) {
      const sum =
        byFolder.get(folder) ??
        (Object.fromEntries(METRICS.map((m) => [m, { total: 0, covered: 0 }])) as FileSummary);
      for (const m of METRICS) {
        sum[m].total += counts[m].total;
        sum[m].covered += counts[m].covered;
      }
      byFolder.set(folder, sum);
    }
  }
  return byFolder;
}

/** The table printed after the unit tests: one row per folder, then c8's total. */
export function formatCoverage(summary: Record<string, FileSummary>, root: string): string {
  const rows = [...folderTotals(summary, root)].sort(([a], [b]) => a.localeCompare(b));
  const total = summary.total;
  if (total !== undefined) rows.push(['total', total]);
  const width = Math.max(...rows.map(([folder]) => folder.length), 'folder'.length);
  const line = (name: string, cells: string[]) =>
    `  ${name.padEnd(width)}${cells.map((c) => c.padStart(CELL)).join('')}\n`;
  let out = line('folder', [...METRICS]);
  for (const [folder, counts] of rows)
    out += line(
      folder,
      METRICS.map((m) => `${pct(counts[m])} ${counts[m].covered}/${counts[m].total}`),
    );
  return out;
}

/** Reads the summary file c8 wrote and formats it. */
export function coverageTable(summaryFile: string, root: string): string {
  return formatCoverage(JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, FileSummary>, root);
}

if (import.meta.main) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node test/coverage-summary.ts DIR/coverage-summary.json\n');
    process.exit(2);
  }
  process.stdout.write(coverageTable(file, process.cwd()));
}
