// The one look shared by every figure of the project: fonts, sizes, colours.
// Builders attach it as the spec's `config`, so a spec saved as JSON renders the
// same in the Vega editor as it does here.
import type { Config } from 'vega-lite';

/**
 * Font stack for every text mark. DejaVu Sans is what the set-up installs
 * (Debian `fonts-dejavu-core`); librsvg (through sharp) resolves it with
 * fontconfig. `sans-serif` is the fallback elsewhere.
 */
export const FIGURE_FONT = 'DejaVu Sans, sans-serif';

/** Plot-area width of one panel, in CSS pixels (the PNG is `scale` times larger). */
export const FIGURE_WIDTH = 520;

/** Plot-area height of one panel, in CSS pixels. */
export const FIGURE_HEIGHT = 320;

/** Width of one panel when two sit side by side, so the figure stays about as wide as one chart plus legend. */
export const PANEL_WIDTH = 360;

/** Opacity of a shaded min-max band. */
export const BAND_OPACITY = 0.25;

/** Shared Vega-Lite config: readable sizes, white background, Tableau-10 colours (distinct in print and on screen). */
export const FIGURE_THEME: Config = {
  background: 'white',
  font: FIGURE_FONT,
  padding: 8,
  view: { stroke: '#bbbbbb' },
  title: { fontSize: 16, fontWeight: 'bold', anchor: 'middle', offset: 10 },
  axis: {
    titleFontSize: 13,
    titleFontWeight: 'normal',
    labelFontSize: 12,
    labelLimit: 320,
    gridColor: '#e6e6e6',
    tickColor: '#888888',
    domainColor: '#888888',
  },
  // Without a canvas vega estimates text widths (generously), so label limits are raised to avoid truncation.
  legend: { titleFontSize: 13, titleFontWeight: 'normal', labelFontSize: 12, symbolSize: 90, labelLimit: 320, titleLimit: 320 },
  header: { titleFontSize: 14, labelFontSize: 14, labelFontWeight: 'bold' },
  range: { category: { scheme: 'tableau10' } },
  line: { strokeWidth: 2 },
  point: { size: 45, filled: true },
};
