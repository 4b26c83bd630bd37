// Result tables: rows rendered as GitHub Markdown (for reports and READMEs) or
// as aligned plain text (for the terminal). Numeric columns are right-aligned
// with a fixed number of decimals per column; `meanStd(values)` makes a
// "mean ± std" cell.
import { summarize } from './stats.js';

export type Align = 'left' | 'right' | 'center';

/** A "mean ± spread" cell; `n` = 1 prints the mean alone (one run has no spread). */
export interface MeanSpread {
  mean: number;
  spread: number;
  n: number;
}

/** One table cell: text, a number, a mean ± spread, or null for a missing value (printed as {@link MISSING}). */
export type Cell = string | number | MeanSpread | null;

export interface Column {
  header: string;
  /** Default: 'right' when every present cell is numeric (a number or a mean ± spread), else 'left'. */
  align?: Align;
  /** Decimals for numbers and mean ± spread cells. Default: 0 when every number is an integer, else 2. */
  decimals?: number;
}

export interface Table {
  /** Columns, as full specs or just their headers. */
  columns: readonly (Column | string)[];
  rows: readonly (readonly Cell[])[];
}

/** How a missing value (null cell) is printed. */
export const MISSING = '—';

/** Decimals for non-integer numbers when the column does not say. */
export const DEFAULT_DECIMALS = 2;

/** A mean ± std cell from one value per run (sample std, see `summarize`). */
export function meanStd(values: readonly number[]): MeanSpread {
  const s = summarize(values, 'meanStd values');
  return { mean: s.mean, spread: s.std, n: s.n };
}

/** "mean ± std" of `values` with fixed decimals, e.g. `formatMeanStd([76.1, 76.5]) === '76.30 ± 0.28'`; one value prints alone. */
export function formatMeanStd(values: readonly number[], decimals = DEFAULT_DECIMALS): string {
  return formatMeanSpread(meanStd(values), decimals);
}

/** Renders `table` as a GitHub Markdown table, cells padded so the source reads as a table too. */
export function markdownTable(table: Table): string {
  const { headers, aligns, cells } = layout(table, (text) => text.replace(/\|/g, '\\|'));
  const widths = columnWidths(headers, cells, 3);
  const rule = aligns.map((align, c) => alignmentRule(align, widths[c]));
  const line = (parts: readonly string[]): string => `| ${parts.join(' | ')} |`;
  return (
    [
      line(headers.map((h, c) => pad(h, widths[c], aligns[c]))),
      line(rule),
      ...cells.map((row) => line(row.map((text, c) => pad(text, widths[c], aligns[c])))),
    ].join('\n') + '\n'
  );
}

/** Renders `table` as aligned plain text: columns two spaces apart, a dashed rule under the header. */
export function textTable(table: Table): string {
  const { headers, aligns, cells } = layout(table, (text) => text);
  const widths = columnWidths(headers, cells, 1);
  const line = (parts: readonly string[]): string => parts.join('  ').trimEnd();
  return (
    [
      line(headers.map((h, c) => pad(h, widths[c], aligns[c]))),
      line(widths.map((w) => '-'.repeat(w))),
      ...cells.map((row) => line(row.map((text, c) => pad(text, widths[c], aligns[c])))),
    ].join('\n') + '\n'
  );
}

interface Layout {
  headers: string[];
  aligns: Align[];
  cells: string[][];
}

function layout(table: Table, escape: (text: string) => string): Layout {
  const columns: Column[] = table.columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  if (columns.length === 0) throw new Error('table: expected at least one column');
  table.rows.forEach((row, r) => {
    if (row.length !== columns.length) {
      throw new Error(`table: row ${r} has ${row.length} cells, expected ${columns.length} (one per column: ${columns.map((c) => c.header).join(', ')})`);
    }
  });
  const aligns: Align[] = [];
  const decimals: number[] = [];
  columns.forEach((column, c) => {
    const present = table.rows.map((row) => row[c]).filter((cell): cell is Exclude<Cell, null> => cell !== null);
    const numeric = present.length > 0 && present.every((cell) => typeof cell !== 'string');
    aligns.push(column.align ?? (numeric ? 'right' : 'left'));
    const numericCells = present.filter((cell) => typeof cell !== 'string');
    const integersOnly = numericCells.length > 0 && numericCells.every((cell) => typeof cell === 'number' && Number.isInteger(cell));
    const d = column.decimals ?? (integersOnly ? 0 : DEFAULT_DECIMALS);
    if (!Number.isInteger(d) || d < 0 || d > 20) throw new Error(`table: column '${column.header}' has decimals = ${d}, expected an integer in [0, 20]`);
    decimals.push(d);
  });
  const cells = table.rows.map((row) => row.map((cell, c) => escape(formatCell(cell, decimals[c]))));
  return { headers: columns.map((c) => escape(c.header)), aligns, cells };
}

function formatCell(cell: Cell, decimals: number): string {
  if (cell === null) return MISSING;
  if (typeof cell === 'string') return cell;
  if (typeof cell === 'number') return formatNumber(cell, decimals);
  return formatMeanSpread(cell, decimals);
}

function formatMeanSpread(cell: MeanSpread, decimals: number): string {
  const mean = formatNumber(cell.mean, decimals);
  return cell.n > 1 ? `${mean} ± ${formatNumber(cell.spread, decimals)}` : mean;
}

/** Fixed decimals, without the "-0.00" that rounding a tiny negative gives. */
function formatNumber(value: number, decimals: number): string {
  const text = value.toFixed(decimals);
  return /^-0(\.0+)?$/.test(text) ? text.slice(1) : text;
}

function textWidth(text: string): number {
  return [...text].length;
}

function columnWidths(headers: readonly string[], cells: readonly (readonly string[])[], minimum: number): number[] {
  return headers.map((h, c) => Math.max(minimum, textWidth(h), ...cells.map((row) => textWidth(row[c]))));
}

function pad(text: string, width: number, align: Align): string {
  const gap = width - textWidth(text);
  if (align === 'right') return ' '.repeat(gap) + text;
  if (align === 'center') return ' '.repeat(Math.floor(gap / 2)) + text + ' '.repeat(gap - Math.floor(gap / 2));
  return text + ' '.repeat(gap);
}

function alignmentRule(align: Align, width: number): string {
  if (align === 'right') return '-'.repeat(width - 1) + ':';
  if (align === 'center') return ':' + '-'.repeat(width - 2) + ':';
  return ':' + '-'.repeat(width - 1);
}
