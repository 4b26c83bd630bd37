// Figures and result tables: Vega-Lite specs built by typed builders, rendered
// server-side to SVG and PNG; Markdown and plain-text tables.
export {
  bandChart,
  groupedBarChart,
  hconcatFigures,
  heatmapWithPoints,
  lineChart,
  pointFromSeeds,
  toPanel,
  type BandChartOptions,
  type BandPoint,
  type BandSeries,
  type Bar,
  type ConcatOptions,
  type FigureOptions,
  type GroupedBarOptions,
  type HeatmapOptions,
  type HeatmapPanel,
  type LabelledPoint,
  type LineChartOptions,
  type PanelSpec,
  type ProbabilityGrid,
  type SeedSpread,
  type Series,
  type SeriesPoint,
  type SpreadStyle,
  type XYOptions,
} from './charts.js';
export { DEFAULT_PNG_SCALE, renderFigure, saveFigure, type RenderedFigure, type RenderOptions, type SavedFigure } from './render.js';
export { summarize, type SeedSummary } from './stats.js';
export { EventWriter, maskedCrc32c, tfRecord } from './tensorboard.js';
export {
  DEFAULT_DECIMALS,
  formatMeanStd,
  markdownTable,
  meanStd,
  MISSING,
  textTable,
  type Align,
  type Cell,
  type Column,
  type MeanSpread,
  type Table,
} from './table.js';
export { FIGURE_FONT, FIGURE_HEIGHT, FIGURE_THEME, FIGURE_WIDTH, PANEL_WIDTH } from './theme.js';
