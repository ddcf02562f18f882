/**
 * The benchmark table: every figure beside its target and, where it is a ratio, what it was
 * measured against in the same run (the machines are shared and noisy: absolute times alone
 * mean little).
 */
export interface BenchRow {
  /** Budget line this row belongs to (DESIGN.md §10), e.g. "framing". */
  group: string;
  /** What was measured. */
  name: string;
  value: number;
  unit: string;
  /** Human-readable target, e.g. "≤ 2 %". Absent for context rows. */
  target?: string;
  /** Whether the target was met; absent for context rows. */
  pass?: boolean;
  /** How it was measured or what it was compared with. */
  note?: string;
}

/** Format a number for the table: integers with thousands separators, else 3 significant digits. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

/** The rows as a fixed-width text table. */
export function renderTable(rows: readonly BenchRow[]): string {
  const header = ['group', 'measure', 'value', 'target', 'result', 'note'];
  const body = rows.map((r) => [
    r.group,
    r.name,
    `${formatValue(r.value)} ${r.unit}`.trim(),
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS',
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
