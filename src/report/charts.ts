// Typed builders for the project's figures. Each returns a plain Vega-Lite
// spec (data inline, theme attached) that `renderFigure` / `saveFigure` draw,
// and that can be saved as JSON and opened in the Vega editor unchanged.
//
//   lineChart          one line per model / method, optional error bars or band (few-shot curves)
//   bandChart          min-max bands over x per series (loss landscape, gradient predictiveness)
//   heatmapWithPoints  p(y=1|x) over the plane with labelled points, one panel each (ERM vs mixup)
//   groupedBarChart    one bar per series within each group (error per normalization per batch size)
//   hconcatFigures     two or more of the above side by side (loss variation | gradient change)
import type { TopLevelSpec } from 'vega-lite';

import { summarize } from './stats.js';
import { BAND_OPACITY, FIGURE_HEIGHT, FIGURE_THEME, FIGURE_WIDTH, PANEL_WIDTH } from './theme.js';

const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** One row of inline data. Missing values are null (Vega-Lite treats null as invalid and skips it). */
type Row = Record<string, string | number | null>;

/** A spec that may sit inside a concat: a top-level spec less its top-level-only properties. */
export type PanelSpec = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number];

/** Options every builder shares. */
export interface FigureOptions {
  title: string;
  subtitle?: string;
  /** Plot-area width in CSS pixels (default {@link FIGURE_WIDTH}). */
  width?: number;
  /** Plot-area height in CSS pixels (default {@link FIGURE_HEIGHT}). */
  height?: number;
}

/** Options of charts with two quantitative axes. */
export interface XYOptions extends FigureOptions {
  xTitle: string;
  yTitle: string;
  /** Log-scale x axis (few-shot curves: shots 1, 5, 10, 25). Every x must be > 0. */
  logX?: boolean;
  /** Log-scale y axis. Every y (and lo / hi) must be > 0. */
  logY?: boolean;
  /** Explicit x tick values, e.g. the shot counts `[1, 5, 10, 25]`. */
  xTicks?: readonly number[];
  /** Fixed y domain, e.g. `[0, 100]` for accuracy in percent. Default: fit the data (zero not forced). */
  yDomain?: readonly [number, number];
  /** Legend title for the series (default: none). */
  legendTitle?: string;
}

// ---------------------------------------------------------------------------
// lineChart

/** One point of a line; `lo` / `hi` give its spread (min-max or mean ± std over seeds). */
export interface SeriesPoint {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

/** One line: a model or method. */
export interface Series {
  name: string;
  points: readonly SeriesPoint[];
}

/** What `lo` / `hi` of a point summarised over seeds show: the min and max run, or mean ± one sample std. */
export type SeedSpread = 'minmax' | 'std';

/** A line point at `x` from one value per seed: y is their mean, lo / hi their spread (`'minmax'` by default). */
export function pointFromSeeds(x: number, values: readonly number[], spread: SeedSpread = 'minmax'): SeriesPoint {
  const s = summarize(values, `pointFromSeeds values at x = ${x}`);
  return spread === 'minmax' ? { x, y: s.mean, lo: s.min, hi: s.max } : { x, y: s.mean, lo: s.mean - s.std, hi: s.mean + s.std };
}

/** How a line chart draws each point's `lo` / `hi`. */
export type SpreadStyle = 'none' | 'errorbar' | 'band';

export interface LineChartOptions extends XYOptions {
  /** Default: 'errorbar' when any point has `lo` / `hi`, else 'none'. */
  spread?: SpreadStyle;
  /** Point markers on the lines (default true). */
  markers?: boolean;
}

/**
 * Several series, one line each, with optional error bars or a shaded band per
 * point. Series keep their order in the legend and in the colour scale.
 */
export function lineChart(series: readonly Series[], options: LineChartOptions): TopLevelSpec {
  const op = 'lineChart';
  checkSeriesNames(
    op,
    series.map((s) => s.name),
  );
  const rows: Row[] = [];
  let hasSpread = false;
  for (const s of series) {
    checkNonEmpty(op, `series '${s.name}'`, s.points);
    s.points.forEach((p, i) => {
      const where = `series '${s.name}' point ${i}`;
      checkValue(op, where, 'x', p.x, options.logX);
      checkValue(op, where, 'y', p.y, options.logY);
      const spread = checkSpread(op, where, p, options.logY);
      hasSpread ||= spread !== null;
      rows.push({ series: s.name, x: p.x, y: p.y, lo: spread?.lo ?? null, hi: spread?.hi ?? null });
    });
  }
  const spread = options.spread ?? (hasSpread ? 'errorbar' : 'none');
  const x = xEncoding(options);
  const y = yEncoding(options, 'y');
  const color = seriesColor(
    series.map((s) => s.name),
    options.legendTitle,
  );
  const hasLoHi = { filter: 'isValid(datum.lo) && isValid(datum.hi)' };

  const layer: PanelLayer[] = [];
  if (spread === 'band') {
    layer.push({
      transform: [hasLoHi],
      mark: { type: 'area', opacity: BAND_OPACITY },
      encoding: { x, y: yEncoding(options, 'lo'), y2: { field: 'hi' }, color },
    });
  }
  layer.push({
    mark: { type: 'line', point: options.markers ?? true },
    encoding: { x, y, color },
  });
  if (spread === 'errorbar') {
    layer.push({
      transform: [hasLoHi],
      mark: { type: 'errorbar', ticks: { size: 8 }, thickness: 1.5 },
      encoding: { x, y: yEncoding(options, 'lo'), y2: { field: 'hi' }, color },
    });
  }
  return { ...header(options), data: { values: rows }, ...size(options), layer };
}

// ---------------------------------------------------------------------------
// bandChart

/** The range `[lo, hi]` at one x, and optionally a central value `y` drawn as a line. */
export interface BandPoint {
  x: number;
  lo: number;
  hi: number;
  y?: number;
}

export interface BandSeries {
  name: string;
  points: readonly BandPoint[];
}

export type BandChartOptions = XYOptions;

/**
 * Shaded min-max bands over x, one per series, with their edges drawn thin and
 * the central value (when given) drawn as a line: Santurkar et al.'s loss
 * landscape (range of the loss along the gradient vs training step) and
 * gradient predictiveness plots, with and without BatchNorm.
 */
export function bandChart(series: readonly BandSeries[], options: BandChartOptions): TopLevelSpec {
  const op = 'bandChart';
  checkSeriesNames(
    op,
    series.map((s) => s.name),
  );
  const rows: Row[] = [];
  let hasCentre = false;
  for (const s of series) {
    checkNonEmpty(op, `series '${s.name}'`, s.points);
    s.points.forEach((p, i) => {
      const where = `series '${s.name}' point ${i}`;
      checkValue(op, where, 'x', p.x, options.logX);
      checkSpread(op, where, p, options.logY);
      if (p.y !== undefined) {
        checkValue(op, where, 'y', p.y, options.logY);
        hasCentre = true;
      }
      rows.push({ series: s.name, x: p.x, lo: p.lo, hi: p.hi, y: p.y ?? null });
    });
  }
  const x = xEncoding(options);
  const color = seriesColor(
    series.map((s) => s.name),
    options.legendTitle,
  );
  const layer: PanelLayer[] = [
    {
      mark: { type: 'area', opacity: BAND_OPACITY },
      encoding: { x, y: yEncoding(options, 'lo'), y2: { field: 'hi' }, color },
    },
    { mark: { type: 'line', strokeWidth: 1 }, encoding: { x, y: yEncoding(options, 'lo'), color } },
    { mark: { type: 'line', strokeWidth: 1 }, encoding: { x, y: yEncoding(options, 'hi'), color } },
  ];
  if (hasCentre) {
    layer.push({
      transform: [{ filter: 'isValid(datum.y)' }],
      mark: { type: 'line', strokeWidth: 2 },
      encoding: { x, y: yEncoding(options, 'y'), color },
    });
  }
  return { ...header(options), data: { values: rows }, ...size(options), layer };
}

// ---------------------------------------------------------------------------
// heatmapWithPoints

/** Values in [0, 1] on a grid: `p[j][i]` is the value at `(xs[i], ys[j])`; `xs`, `ys` are cell centres, increasing. */
export interface ProbabilityGrid {
  xs: readonly number[];
  ys: readonly number[];
  p: readonly (readonly number[])[];
}

/** A training or test point drawn over the heatmap, coloured and shaped by its label. */
export interface LabelledPoint {
  x: number;
  y: number;
  label: string;
}

/** One panel: a named grid (e.g. 'ERM', 'mixup') and the points drawn over it. */
export interface HeatmapPanel {
  name: string;
  grid: ProbabilityGrid;
  points: readonly LabelledPoint[];
}

export interface HeatmapOptions extends FigureOptions {
  xTitle: string;
  yTitle: string;
  /** Title of the colour legend, e.g. 'p(y=1|x)'. */
  valueTitle: string;
  /** Title of the point legend (default 'label'). */
  labelTitle?: string;
}

/** Colours of point labels in order: dark blue and dark orange sit at the two ends of the 'blueorange' heatmap scheme. */
const POINT_COLOURS = ['#08306b', '#7f2704', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

/**
 * Panels side by side (a facet on the panel name), each a grid of values in
 * [0, 1] shaded on one shared colour scale, with labelled points on top.
 * Cell edges are the midpoints between neighbouring centres.
 */
export function heatmapWithPoints(panels: readonly HeatmapPanel[], options: HeatmapOptions): TopLevelSpec {
  const op = 'heatmapWithPoints';
  checkSeriesNames(
    op,
    panels.map((p) => p.name),
  );
  const rows: Row[] = [];
  const labels: string[] = [];
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const panel of panels) {
    const where = `panel '${panel.name}'`;
    const { xs, ys, p } = panel.grid;
    const xEdges = cellEdges(op, `${where} grid.xs`, xs);
    const yEdges = cellEdges(op, `${where} grid.ys`, ys);
    xMin = Math.min(xMin, xEdges[0]);
    xMax = Math.max(xMax, xEdges[xEdges.length - 1]);
    yMin = Math.min(yMin, yEdges[0]);
    yMax = Math.max(yMax, yEdges[yEdges.length - 1]);
    if (p.length !== ys.length) {
      throw new Error(`${op}: ${where} grid.p has ${p.length} rows, expected one per grid.ys entry (${ys.length})`);
    }
    p.forEach((row, j) => {
      if (row.length !== xs.length) {
        throw new Error(`${op}: ${where} grid.p[${j}] has ${row.length} values, expected one per grid.xs entry (${xs.length})`);
      }
      row.forEach((value, i) => {
        if (!(value >= 0 && value <= 1)) {
          throw new Error(`${op}: ${where} grid.p[${j}][${i}] = ${value}, expected a value in [0, 1]`);
        }
        rows.push({ panel: panel.name, kind: 'cell', x0: xEdges[i], x1: xEdges[i + 1], y0: yEdges[j], y1: yEdges[j + 1], p: value });
      });
    });
    panel.points.forEach((pt, i) => {
      checkValue(op, `${where} point ${i}`, 'x', pt.x, false);
      checkValue(op, `${where} point ${i}`, 'y', pt.y, false);
      if (!labels.includes(pt.label)) labels.push(pt.label);
      rows.push({ panel: panel.name, kind: 'point', x: pt.x, y: pt.y, label: pt.label });
    });
  }
  const xScale = { domain: [xMin, xMax], nice: false, zero: false };
  const yScale = { domain: [yMin, yMax], nice: false, zero: false };
  const width = options.width ?? (panels.length > 1 ? PANEL_WIDTH : FIGURE_WIDTH);
  const height = options.height ?? width;
  return {
    ...header(options),
    data: { values: rows },
    columns: panels.length,
    spacing: 36,
    facet: { field: 'panel', type: 'nominal', sort: panels.map((p) => p.name), title: null },
    spec: {
      width,
      height,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'cell'" }],
          // No per-cell aria-label: a 100 x 100 grid would otherwise carry 10,000 of them.
          mark: { type: 'rect', aria: false },
          encoding: {
            x: { field: 'x0', type: 'quantitative', scale: xScale, title: options.xTitle },
            x2: { field: 'x1' },
            y: { field: 'y0', type: 'quantitative', scale: yScale, title: options.yTitle },
            y2: { field: 'y1' },
            color: { field: 'p', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blueorange' }, title: options.valueTitle },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'point'" }],
          mark: { type: 'point', filled: true, size: 60, stroke: 'white', strokeWidth: 1, opacity: 1 },
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: xScale, title: options.xTitle },
            y: { field: 'y', type: 'quantitative', scale: yScale, title: options.yTitle },
            // `fill` has its own scale, apart from the heatmap's `color`, and merges with `shape` into one legend.
            fill: {
              field: 'label',
              type: 'nominal',
              scale: { domain: labels, range: labels.map((_, i) => POINT_COLOURS[i % POINT_COLOURS.length]) },
              title: options.labelTitle ?? 'label',
            },
            shape: { field: 'label', type: 'nominal', scale: { domain: labels }, title: options.labelTitle ?? 'label' },
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------
// groupedBarChart

/** One bar: its group on the x axis (e.g. batch size), its series (e.g. normalization), value and optional spread. */
export interface Bar {
  group: string | number;
  series: string;
  value: number;
  lo?: number;
  hi?: number;
}

export interface GroupedBarOptions extends FigureOptions {
  xTitle: string;
  yTitle: string;
  legendTitle?: string;
  /** Log-scale y axis (every value must be > 0). */
  logY?: boolean;
  yDomain?: readonly [number, number];
}

/**
 * Bars grouped along x (groups in first-seen order), one bar per series within
 * each group, with error bars where `lo` / `hi` are given. For a numeric x
 * with many values (e.g. error vs batch size on a log axis), a `lineChart`
 * with `logX` reads better.
 */
export function groupedBarChart(bars: readonly Bar[], options: GroupedBarOptions): TopLevelSpec {
  const op = 'groupedBarChart';
  checkNonEmpty(op, 'bars', bars);
  const groups: string[] = [];
  const seriesNames: string[] = [];
  const seen = new Set<string>();
  let hasSpread = false;
  const rows: Row[] = bars.map((bar, i) => {
    const group = String(bar.group);
    const where = `bar ${i} (group '${group}', series '${bar.series}')`;
    const key = JSON.stringify([group, bar.series]);
    if (seen.has(key)) throw new Error(`${op}: ${where} appears twice; each (group, series) pair takes one bar`);
    seen.add(key);
    if (!groups.includes(group)) groups.push(group);
    if (!seriesNames.includes(bar.series)) seriesNames.push(bar.series);
    checkValue(op, where, 'value', bar.value, options.logY);
    const spread = checkSpread(op, where, bar, options.logY);
    hasSpread ||= spread !== null;
    return { group, series: bar.series, value: bar.value, lo: spread?.lo ?? null, hi: spread?.hi ?? null };
  });
  const x: PositionDef = { field: 'group', type: 'nominal', sort: groups, title: options.xTitle, axis: { labelAngle: 0 } };
  const xOffset: OffsetDef = { field: 'series', type: 'nominal', sort: seriesNames };
  const color = seriesColor(seriesNames, options.legendTitle);
  // Bars start at zero on a linear axis, so the domain always includes it.
  const yOptions: YAxis = { yTitle: options.yTitle, logY: options.logY, yDomain: options.yDomain, yZero: true };
  const layer: PanelLayer[] = [{ mark: { type: 'bar' }, encoding: { x, xOffset, y: yEncoding(yOptions, 'value'), color } }];
  if (hasSpread) {
    layer.push({
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'errorbar', ticks: { size: 6 }, color: '#333333' },
      encoding: { x, xOffset, y: yEncoding(yOptions, 'lo'), y2: { field: 'hi' } },
    });
  }
  return { ...header(options), data: { values: rows }, ...size(options), layer };
}

// ---------------------------------------------------------------------------
// hconcatFigures

export interface ConcatOptions {
  title: string;
  subtitle?: string;
  /**
   * Whether panels share one colour scale and legend (default true: the same
   * series names get the same colour in every panel). Set false when panels
   * colour different things.
   */
  sharedColor?: boolean;
}

/**
 * Places figures built above side by side as the panels of one figure (e.g.
 * loss variation | gradient change). Each panel keeps its own title (set
 * `width` ~ {@link PANEL_WIDTH} on panels so the figure stays readable).
 */
export function hconcatFigures(panels: readonly TopLevelSpec[], options: ConcatOptions): TopLevelSpec {
  if (panels.length < 2) throw new Error(`hconcatFigures: expected at least 2 panels, got ${panels.length}`);
  return {
    ...header(options),
    hconcat: panels.map(toPanel),
    resolve: { scale: { color: options.sharedColor === false ? 'independent' : 'shared' } },
  };
}

/**
 * Drops the properties only a top-level spec may have (schema, config,
 * background, padding, autosize, datasets, usermeta). Top-level `params` cannot
 * move into a panel, so a spec with them is refused.
 */
export function toPanel(spec: TopLevelSpec): PanelSpec {
  // The top-level-only properties are destructured only to leave them out of `panel`.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { $schema: _s, config: _c, background: _b, padding: _p, autosize: _a, datasets: _d, usermeta: _u, params, ...panel } = spec;
  if (params !== undefined && params.length > 0) {
    throw new Error(`toPanel: spec has ${params.length} top-level params; a panel of a concatenated figure cannot carry them`);
  }
  return panel;
}

// ---------------------------------------------------------------------------
// shared pieces

/** A layer of a layered panel. */
type PanelLayer = Extract<PanelSpec, { layer: unknown }>['layer'][number];

/** A single-view layer, its encoding and the channel definitions the builders use. */
type UnitLayer = Extract<PanelLayer, { mark: unknown }>;
type LayerEncoding = NonNullable<UnitLayer['encoding']>;
type PositionDef = NonNullable<LayerEncoding['x']>;
type ColorDef = NonNullable<LayerEncoding['color']>;
type OffsetDef = NonNullable<LayerEncoding['xOffset']>;

/** The properties every figure starts with: schema, theme and title. */
function header(options: { title: string; subtitle?: string }): Pick<TopLevelSpec, '$schema' | 'config' | 'title'> {
  return { $schema: VEGA_LITE_SCHEMA, config: FIGURE_THEME, title: figureTitle(options) };
}

function figureTitle(options: { title: string; subtitle?: string }): { text: string; subtitle?: string } {
  return options.subtitle === undefined ? { text: options.title } : { text: options.title, subtitle: options.subtitle };
}

function size(options: FigureOptions): { width: number; height: number } {
  return { width: options.width ?? FIGURE_WIDTH, height: options.height ?? FIGURE_HEIGHT };
}

function xEncoding(options: XYOptions): PositionDef {
  return {
    field: 'x',
    type: 'quantitative',
    title: options.xTitle,
    scale: options.logX ? { type: 'log', nice: false } : { zero: false },
    axis: options.xTicks ? { values: [...options.xTicks] } : {},
  };
}

/** What a y encoding needs to know; `yZero` forces zero into a linear domain (default false: fit the data). */
interface YAxis {
  yTitle: string;
  logY?: boolean;
  yDomain?: readonly [number, number];
  yZero?: boolean;
}

function yEncoding(options: YAxis, field: string): PositionDef {
  return {
    field,
    type: 'quantitative',
    title: options.yTitle,
    scale: options.logY ? { type: 'log' } : options.yDomain ? { domain: [...options.yDomain] } : { zero: options.yZero ?? false },
  };
}

function seriesColor(names: readonly string[], legendTitle: string | undefined): ColorDef {
  return {
    field: 'series',
    type: 'nominal',
    scale: { domain: [...names] },
    sort: [...names],
    title: legendTitle ?? null,
    // Opaque legend symbols even where the first layer is a translucent band.
    legend: { symbolOpacity: 1 },
  };
}

function checkSeriesNames(op: string, names: readonly string[]): void {
  if (names.length === 0) throw new Error(`${op}: expected at least one series, got none`);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new Error(`${op}: series name '${name}' appears twice; names must be unique`);
    seen.add(name);
  }
}

function checkNonEmpty(op: string, what: string, items: readonly unknown[]): void {
  if (items.length === 0) throw new Error(`${op}: ${what} has no points`);
}

function checkValue(op: string, where: string, name: string, value: number, log: boolean | undefined): void {
  if (!Number.isFinite(value)) throw new Error(`${op}: ${where} has ${name} = ${value}, expected a finite number`);
  if (log && value <= 0) throw new Error(`${op}: ${where} has ${name} = ${value}, but a log axis needs ${name} > 0`);
}

/** Checks `lo` / `hi` are both given or both absent, finite and ordered; returns them or null. */
function checkSpread(op: string, where: string, p: { lo?: number; hi?: number }, log: boolean | undefined): { lo: number; hi: number } | null {
  if (p.lo === undefined && p.hi === undefined) return null;
  if (p.lo === undefined || p.hi === undefined) throw new Error(`${op}: ${where} has only one of lo / hi; give both or neither`);
  checkValue(op, where, 'lo', p.lo, log);
  checkValue(op, where, 'hi', p.hi, log);
  if (p.lo > p.hi) throw new Error(`${op}: ${where} has lo = ${p.lo} > hi = ${p.hi}`);
  return { lo: p.lo, hi: p.hi };
}

/** Cell edges for increasing cell centres: midpoints between neighbours, half a step beyond each end. */
function cellEdges(op: string, where: string, centres: readonly number[]): number[] {
  if (centres.length < 2) throw new Error(`${op}: ${where} has ${centres.length} values, expected at least 2`);
  for (let i = 0; i < centres.length; i++) {
    checkValue(op, where, `[${i}]`, centres[i], false);
    if (i > 0 && !(centres[i] > centres[i - 1])) throw new Error(`${op}: ${where} must be strictly increasing (index ${i})`);
  }
  const n = centres.length;
  const edges = [centres[0] - (centres[1] - centres[0]) / 2];
  for (let i = 1; i < n; i++) edges.push((centres[i - 1] + centres[i]) / 2);
  edges.push(centres[n - 1] + (centres[n - 1] - centres[n - 2]) / 2);
  return edges;
}
