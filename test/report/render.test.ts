// renderFigure / saveFigure: strict about warnings, inline data only, atomic output.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';

import { lineChart } from '../../src/report/charts.js';
import { renderFigure, saveFigure } from '../../src/report/render.js';
import { FIGURE_THEME } from '../../src/report/theme.js';
import { pngStats, svgSize } from './svg-inspect.js';

const SMALL = lineChart(
  [
    {
      name: 'GN+WS',
      points: [
        { x: 1, y: 30 },
        { x: 8, y: 24 },
        { x: 64, y: 23 },
      ],
    },
    {
      name: 'BN',
      points: [
        { x: 1, y: 45 },
        { x: 8, y: 26 },
        { x: 64, y: 23.5 },
      ],
    },
  ],
  { title: 'Error vs batch size', xTitle: 'Images per device', yTitle: 'Error (%)', logX: true, width: 200, height: 120 },
);

/** A bar mark with a shape encoding: vega-lite drops the channel and warns. */
const WARNS: TopLevelSpec = {
  config: FIGURE_THEME,
  title: 'Dropped channel',
  data: {
    values: [
      { a: 1, b: 2, c: 'x' },
      { a: 2, b: 3, c: 'x' },
    ],
  },
  mark: 'bar',
  encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' }, shape: { field: 'c', type: 'nominal' } },
};

let dir = '';
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bit-report-test-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('renderFigure', () => {
  it('renders the PNG at the requested scale', async () => {
    const one = await renderFigure(SMALL, { scale: 1 });
    const three = await renderFigure(SMALL, { scale: 3 });
    const size = svgSize(one.svg);
    const s1 = await pngStats(one.png);
    const s3 = await pngStats(three.png);
    assert.deepEqual([s1.width, s1.height], [size.width, size.height]);
    assert.deepEqual([s3.width, s3.height], [size.width * 3, size.height * 3]);
    await assert.rejects(renderFigure(SMALL, { scale: 0 }), /scale' must be a positive number, got 0/);
  });

  it('fails on vega-lite warnings by default, listing them, and renders anyway when not strict', async () => {
    await assert.rejects(
      renderFigure(WARNS),
      /renderFigure: 1 problem\(s\) rendering figure 'Dropped channel':\n {2}warning: shape dropped as it is incompatible with "bar"/,
    );
    const figure = await renderFigure(WARNS, { strict: false });
    assert.match(figure.svg, /<svg\b/);
  });

  it('draws text with a real font, not missing-glyph boxes', async () => {
    // With no usable font (no fontconfig configuration, no DejaVu) librsvg draws
    // every glyph as the same box, so a title of thin letters and one of wide
    // letters darken the same number of pixels. With DejaVu they differ a lot.
    const titleInk = async (title: string): Promise<number> => {
      const { png } = await renderFigure({ ...SMALL, title });
      return (await pngStats(png)).darkIn(0, 60);
    };
    const thin = await titleInk('iiiiiiiiiiii');
    const wide = await titleInk('MMMMMMMMMMMM');
    assert.ok(
      thin > 0 && wide > 2.5 * thin,
      `glyphs have their own shapes: 'M' x 12 darkens ${wide} pixels, 'i' x 12 ${thin}; install fonts-dejavu-core and fontconfig-config`,
    );
  });

  it('never loads data from a URL', async () => {
    const remote: TopLevelSpec = {
      data: { url: 'https://example.com/data.json' },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } },
    };
    await assert.rejects(renderFigure(remote), /must carry their data inline/);
  });
});

describe('saveFigure', () => {
  it('writes <base>.svg and <base>.png, creating the folder, and leaves no temporary file', async () => {
    const base = path.join(dir, 'figures', 'error-vs-batch');
    const paths = await saveFigure(SMALL, base);
    assert.deepEqual(paths, { svg: `${base}.svg`, png: `${base}.png` });
    assert.match(await fs.readFile(paths.svg, 'utf8'), /^<svg\b[\s\S]*Error vs batch size[\s\S]*<\/svg>$/);
    const meta = await sharp(paths.png).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual((await fs.readdir(path.dirname(base))).sort(), ['error-vs-batch.png', 'error-vs-batch.svg']);
  });

  it('writes nothing when rendering fails', async () => {
    const base = path.join(dir, 'failed', 'figure');
    await assert.rejects(saveFigure(WARNS, base), /problem\(s\) rendering figure/);
    await assert.rejects(fs.stat(path.dirname(base)), { code: 'ENOENT' });
  });
});
