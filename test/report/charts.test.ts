// Renders every builder with small, realistic data and checks the figure: the
// axis titles are drawn, one mark per data item, the PNG is the SVG at 2x,
// not blank, and its title is drawn in dark pixels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  bandChart,
  groupedBarChart,
  hconcatFigures,
  heatmapWithPoints,
  lineChart,
  pointFromSeeds,
  type BandSeries,
  type HeatmapPanel,
  type Series,
} from '../../src/report/charts.js';
import { DEFAULT_PNG_SCALE, renderFigure, type RenderedFigure } from '../../src/report/render.js';
import { FIGURE_FONT } from '../../src/report/theme.js';
import { markGroups, markItems, pngStats, svgSize, svgTexts } from './svg-inspect.js';

const SHOTS = [1, 5, 10, 25];

/** Few-shot accuracies (%) over 3 seeds, shaped like BiT's Figure 2 curves. */
function fewShotSeries(): Series[] {
  const models: [string, number][] = [
    ['BiT-S', 40],
    ['BiT-M', 48],
    ['BiT-L', 55],
  ];
  return models.map(([name, base]) => ({
    name,
    points: SHOTS.map((shots, i) =>
      pointFromSeeds(shots, [base + 10 * Math.log(shots) - 1.1, base + 10 * Math.log(shots) + 0.4, base + 10 * Math.log(shots) + 0.9 + i * 0.1]),
    ),
  }));
}

/** Loss ranges along the gradient per training step, wide without BatchNorm and narrow with it. */
function landscapeSeries(): BandSeries[] {
  const steps = Array.from({ length: 12 }, (_, i) => i * 500);
  const series = (name: string, width: number): BandSeries => ({
    name,
    points: steps.map((x, i) => {
      const y = 2.3 * Math.exp(-x / 2000) + 0.1;
      return { x, y, lo: y * (1 - 0.2 * width), hi: y * (1 + width * (0.6 + 0.3 * Math.sin(i))) };
    }),
  });
  return [series('Standard', 1), series('Standard + BatchNorm', 0.15)];
}

/** A logistic p(y=1|x) on a 5 x 4 grid, sharp for ERM and smooth for mixup, with 6 labelled points. */
function toyPanels(): HeatmapPanel[] {
  const xs = [-2, -1, 0, 1, 2];
  const ys = [-1.5, -0.5, 0.5, 1.5];
  const points = [
    { x: -1.5, y: -1, label: 'y=0' },
    { x: -0.7, y: 0.2, label: 'y=0' },
    { x: 0.3, y: -1.2, label: 'y=0' },
    { x: 1.2, y: 0.8, label: 'y=1' },
    { x: 0.4, y: 1.3, label: 'y=1' },
    { x: 1.8, y: -0.3, label: 'y=1' },
  ];
  const grid = (sharpness: number) => ({ xs, ys, p: ys.map((y) => xs.map((x) => 1 / (1 + Math.exp(-sharpness * (x + y))))) });
  return [
    { name: 'ERM', grid: grid(5), points },
    { name: 'mixup', grid: grid(1), points },
  ];
}

/** Checks what every rendered figure must satisfy and returns the drawn texts. */
async function checkFigure(figure: RenderedFigure, title: string): Promise<string[]> {
  assert.match(figure.svg, /^<svg\b/);
  assert.ok(figure.svg.trimEnd().endsWith('</svg>'), 'SVG is complete');
  const texts = svgTexts(figure.svg);
  assert.ok(figure.svg.includes(`font-family="${FIGURE_FONT}"`), 'text uses the theme font');
  assert.ok(texts.includes(title), `title '${title}' is drawn`);
  const size = svgSize(figure.svg);
  const stats = await pngStats(figure.png);
  assert.equal(stats.width, Math.round(size.width * DEFAULT_PNG_SCALE));
  assert.equal(stats.height, Math.round(size.height * DEFAULT_PNG_SCALE));
  assert.ok(stats.variance > 100, `PNG is not blank (luminance variance ${stats.variance})`);
  // The title sits in the top 30 CSS pixels (8 px padding, 16 px bold text); nothing else does.
  // Bold 16 px DejaVu at 2x darkens well over 100 pixels per glyph; a missing font or text would leave ~0.
  const titleDark = stats.darkIn(0, 30 * DEFAULT_PNG_SCALE);
  assert.ok(titleDark > 60 * title.length, `title region has dark (text) pixels: ${titleDark} for ${title.length} characters`);
  return texts;
}

describe('lineChart', () => {
  it('draws one line per series, a marker and an error bar per point, on a log x axis with the shot ticks', async () => {
    const spec = lineChart(fewShotSeries(), {
      title: 'Few-shot ImageNet accuracy',
      xTitle: 'Examples per class',
      yTitle: 'Top-1 accuracy (%)',
      logX: true,
      xTicks: SHOTS,
      legendTitle: 'Model',
    });
    const figure = await renderFigure(spec);
    const texts = await checkFigure(figure, 'Few-shot ImageNet accuracy');
    for (const text of ['Examples per class', 'Top-1 accuracy (%)', 'Model', 'BiT-S', 'BiT-M', 'BiT-L', '1', '5', '10', '25']) {
      assert.ok(texts.includes(text), `'${text}' is drawn`);
    }
    assert.equal(markGroups(figure.svg, 'line').length, 3, 'one line per series');
    assert.equal(markItems(figure.svg, 'line'), 3);
    assert.equal(markItems(figure.svg, 'symbol'), 12, 'a marker per point');
    assert.equal(markItems(figure.svg, 'rule'), 12, 'an error bar per point');
    assert.match(figure.svg, /X-axis titled 'Examples per class' for a log scale/);
  });

  it('draws a shaded band per series instead of error bars, and no markers when asked', async () => {
    const spec = lineChart(fewShotSeries(), {
      title: 'Few-shot accuracy, min-max over seeds',
      xTitle: 'Examples per class',
      yTitle: 'Top-1 accuracy (%)',
      logX: true,
      spread: 'band',
      markers: false,
    });
    const figure = await renderFigure(spec);
    await checkFigure(figure, 'Few-shot accuracy, min-max over seeds');
    assert.equal(markGroups(figure.svg, 'area').length, 3, 'one band per series');
    assert.equal(markGroups(figure.svg, 'line').length, 3);
    assert.equal(markItems(figure.svg, 'symbol'), 0);
    assert.equal(markItems(figure.svg, 'rule'), 0);
  });

  it('refuses data it cannot draw, naming the series and point', () => {
    const options = { title: 't', xTitle: 'x', yTitle: 'y', logX: true };
    assert.throws(() => lineChart([{ name: 'a', points: [{ x: 0, y: 1 }] }], options), /lineChart: series 'a' point 0 has x = 0, but a log axis needs x > 0/);
    assert.throws(
      () =>
        lineChart(
          [
            { name: 'a', points: [{ x: 1, y: 1 }] },
            { name: 'a', points: [{ x: 1, y: 2 }] },
          ],
          options,
        ),
      /series name 'a' appears twice/,
    );
    assert.throws(() => lineChart([{ name: 'a', points: [{ x: 1, y: 1, lo: 2, hi: 1 }] }], options), /point 0 has lo = 2 > hi = 1/);
    assert.throws(() => lineChart([{ name: 'a', points: [{ x: 1, y: Number.NaN }] }], options), /y = NaN, expected a finite number/);
    assert.throws(() => lineChart([], options), /expected at least one series/);
  });
});

describe('pointFromSeeds', () => {
  it('gives the mean with the min-max or mean ± std spread', () => {
    assert.deepEqual(pointFromSeeds(5, [1, 2, 6]), { x: 5, y: 3, lo: 1, hi: 6 });
    const p = pointFromSeeds(5, [1, 2, 6], 'std');
    assert.equal(p.y, 3);
    assert.ok(Math.abs((p.hi ?? 0) - 3 - Math.sqrt(7)) < 1e-12);
  });
});

describe('bandChart', () => {
  it('draws a band, its two edges and its central line per series', async () => {
    const spec = bandChart(landscapeSeries(), { title: 'Loss landscape', xTitle: 'Steps', yTitle: 'Loss', legendTitle: 'Network' });
    const figure = await renderFigure(spec);
    const texts = await checkFigure(figure, 'Loss landscape');
    for (const text of ['Steps', 'Loss', 'Network', 'Standard', 'Standard + BatchNorm']) assert.ok(texts.includes(text), `'${text}' is drawn`);
    assert.equal(markGroups(figure.svg, 'area').length, 2, 'one band per series');
    assert.equal(markGroups(figure.svg, 'line').length, 6, 'lo edge, hi edge and centre per series');
  });

  it('refuses a log axis with non-positive values', () => {
    assert.throws(
      () => bandChart([{ name: 's', points: [{ x: 1, lo: 0, hi: 1 }] }], { title: 't', xTitle: 'x', yTitle: 'y', logY: true }),
      /bandChart: series 's' point 0 has lo = 0, but a log axis needs lo > 0/,
    );
  });
});

describe('hconcatFigures', () => {
  it('puts two band charts side by side with one shared legend', async () => {
    const [standard, withBn] = landscapeSeries();
    const gradient: BandSeries[] = [standard, withBn].map((s) => ({ ...s, points: s.points.map((p) => ({ ...p, lo: p.lo * 0.5, hi: p.hi * 1.5 })) }));
    const spec = hconcatFigures(
      [
        bandChart([standard, withBn], { title: 'Loss landscape', xTitle: 'Steps', yTitle: 'Loss', width: 300 }),
        bandChart(gradient, { title: 'Gradient predictiveness', xTitle: 'Steps', yTitle: 'ℓ2 change in gradient', width: 300 }),
      ],
      { title: 'VGG on CIFAR-10, with and without BatchNorm' },
    );
    const figure = await renderFigure(spec);
    const texts = await checkFigure(figure, 'VGG on CIFAR-10, with and without BatchNorm');
    for (const text of ['Loss landscape', 'Gradient predictiveness', 'Loss', 'ℓ2 change in gradient']) assert.ok(texts.includes(text), `'${text}' is drawn`);
    assert.equal(markGroups(figure.svg, 'area', 'concat_0_').length, 2);
    assert.equal(markGroups(figure.svg, 'area', 'concat_1_').length, 2);
    assert.equal(texts.filter((t) => t === 'Standard + BatchNorm').length, 1, 'one shared legend');
    assert.ok(svgSize(figure.svg).width > 600, 'panels side by side');
  });

  it('needs at least two panels', () => {
    const one = bandChart(landscapeSeries(), { title: 't', xTitle: 'x', yTitle: 'y' });
    assert.throws(() => hconcatFigures([one], { title: 't' }), /hconcatFigures: expected at least 2 panels, got 1/);
  });
});

describe('heatmapWithPoints', () => {
  it('shades every grid cell and draws every point, one panel per grid', async () => {
    const spec = heatmapWithPoints(toyPanels(), {
      title: 'Toy problem: ERM vs mixup',
      xTitle: 'x1',
      yTitle: 'x2',
      valueTitle: 'p(y=1|x)',
      labelTitle: 'class',
    });
    const figure = await renderFigure(spec);
    const texts = await checkFigure(figure, 'Toy problem: ERM vs mixup');
    for (const text of ['ERM', 'mixup', 'x1', 'x2', 'p(y=1|x)', 'class', 'y=0', 'y=1']) assert.ok(texts.includes(text), `'${text}' is drawn`);
    const cells = markGroups(figure.svg, 'rect', 'child_layer_0_marks');
    assert.deepEqual(
      cells.map((g) => (g.match(/<path\b/g) ?? []).length),
      [20, 20],
      '5 x 4 cells in each of two panels',
    );
    assert.equal(markGroups(figure.svg, 'symbol', 'child_layer_1_marks').length, 2);
    assert.equal(markItems(figure.svg, 'symbol', 'child_layer_1_marks'), 12, '6 points in each panel');
    // Cells take the colours of the 'blueorange' scheme: several distinct fills.
    const fills = new Set([...cells.join('').matchAll(/fill="(rgb\([^)]*\)|#[0-9a-f]{6})"/g)].map((m) => m[1]));
    assert.ok(fills.size >= 8, `cells are shaded by value (${fills.size} distinct colours)`);
  });

  it('refuses values outside [0, 1] and a grid of the wrong shape', () => {
    const options = { title: 't', xTitle: 'x', yTitle: 'y', valueTitle: 'p' };
    const [erm] = toyPanels();
    assert.throws(
      () => heatmapWithPoints([{ ...erm, grid: { ...erm.grid, p: erm.grid.p.map((row) => row.map(() => 1.5)) } }], options),
      /heatmapWithPoints: panel 'ERM' grid.p\[0\]\[0\] = 1.5, expected a value in \[0, 1\]/,
    );
    assert.throws(
      () => heatmapWithPoints([{ ...erm, grid: { ...erm.grid, p: erm.grid.p.slice(1) } }], options),
      /grid.p has 3 rows, expected one per grid.ys entry \(4\)/,
    );
    assert.throws(() => heatmapWithPoints([{ ...erm, grid: { ...erm.grid, xs: [0, 2, 1, 3, 4] } }], options), /grid.xs must be strictly increasing/);
  });
});

describe('groupedBarChart', () => {
  it('draws one bar per (group, series) with error bars, groups in order', async () => {
    const norms = ['BatchNorm', 'GroupNorm', 'GroupNorm + WS'];
    const batchSizes = [2, 4, 8, 16, 32];
    const bars = batchSizes.flatMap((b) =>
      norms.map((series, k) => {
        const value = 24 - 2 * k + (series === 'BatchNorm' ? 40 / b : 0);
        return { group: b, series, value, lo: value - 0.8, hi: value + 0.9 };
      }),
    );
    const spec = groupedBarChart(bars, {
      title: 'Error by normalization',
      xTitle: 'Images per device',
      yTitle: 'Top-1 error (%)',
      legendTitle: 'Normalization',
    });
    const figure = await renderFigure(spec);
    const texts = await checkFigure(figure, 'Error by normalization');
    for (const text of ['Images per device', 'Top-1 error (%)', 'Normalization', ...norms]) assert.ok(texts.includes(text), `'${text}' is drawn`);
    assert.equal(markItems(figure.svg, 'rect', 'layer_0_marks'), 15, '5 groups x 3 bars');
    assert.equal(markItems(figure.svg, 'rule'), 15, 'an error bar per bar');
    assert.match(figure.svg, /X-axis titled 'Images per device' for a discrete scale with 5 values: 2, 4, 8, 16, 32/);
    assert.throws(() => groupedBarChart([...bars, bars[0]], { title: 't', xTitle: 'x', yTitle: 'y' }), /appears twice/);
  });
});
