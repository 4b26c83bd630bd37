// ws-table: the 2x2 table {BatchNorm, GroupNorm} x {plain conv, weight-
// standardized conv} at a large effective batch (Kolesnikov et al. 2020, the
// BiT ablation shown on the lecture's Weight Standardization slide: BiT-S
// ResNet-50 on ILSVRC-2012 at batch 4096).
//
// BiT trains at batch 4096 on 512 chips, 8 images per chip, so BatchNorm sees
// 8 images at a time. Here the model is BiT's own ResNet-v2 in miniature
// (BiT-Tiny), the effective batch is built from micro-batches of the same 8
// images (BatchNorm statistics per micro-batch, as per chip), and the
// recipe is BiT's upstream one: lr 0.03 x batch / 256, weight decay 1e-4,
// momentum 0.9, its warm-up and decay shape.
import {
  groupedBarChart,
  hconcatFigures,
  lineChart,
  markdownTable,
  PANEL_WIDTH,
  meanStd,
  pointFromSeeds,
  summarize,
  type Bar,
  type Cell,
  type Series,
} from '../report/index.js';
import type { TopLevelSpec } from 'vega-lite';
import { UPSTREAM_LR_PER_256, UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import {
  band,
  defineExperiment,
  describeData,
  describeOptim,
  meanOrNull,
  openData,
  pct,
  signedPts,
  slug,
  smoothCurve,
  trainVariant,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
  type Outcome,
} from './common.js';

export interface WsTableConfig {
  data: DataConfig;
  model: string;
  /** GroupNorm groups (BiT-Tiny's narrowest layers have 16 channels). */
  groups: number;
  /** Images per micro-batch ("per chip"); a divisor of optim.batch. */
  perDevice: number;
  optim: OptimConfig;
  seeds: number[];
}

/** Kolesnikov et al. 2020 (BiT), the normalization ablation the lecture shows: top-1 (%) of BiT-S ResNet-50 trained from scratch on ILSVRC-2012, batch 4096. */
export const WS_TABLE_PUBLISHED = {
  BN: { plain: 75.6, ws: 75.8 },
  GN: { plain: 70.2, ws: 76.0 },
  source: 'Kolesnikov et al. 2020 (BiT-S ResNet-50, ILSVRC-2012 top-1 %, batch 4096, 8 images per chip)',
};

/** BiT's upstream batch per chip (the lecture's upstream table: batch 4096, 8 images per chip). */
const BIT_IMAGES_PER_CHIP = 8;

const FULL_BATCH = 512;
const FULL: WsTableConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'BiT-Tiny',
  groups: 8,
  perDevice: BIT_IMAGES_PER_CHIP,
  // 2 epochs of Fashion-MNIST (60,000 / 512 = 117 steps per epoch) at BiT's lr rule.
  optim: { batch: FULL_BATCH, lr: (UPSTREAM_LR_PER_256 * FULL_BATCH) / 256, steps: 234, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
};

const QUICK: WsTableConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'BiT-Tiny',
  groups: 8,
  perDevice: 8,
  optim: { batch: 32, lr: (UPSTREAM_LR_PER_256 * 32) / 256, steps: 3, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
};

export interface WsTableRun {
  norm: 'BN' | 'GN';
  ws: boolean;
  seed: number;
  /** Test top-1 in [0, 1]; null when the run diverged. */
  top1: number | null;
  diverged: boolean;
  seconds: number;
  /** Smoothed training loss as [step, loss]. */
  lossCurve: [number, number][];
}

export interface WsTableResults {
  runs: WsTableRun[];
  /** Mean test top-1 over seeds per cell (null when a seed diverged). */
  table: { norm: 'BN' | 'GN'; plain: number | null; ws: number | null }[];
}

function publishedMarkdown(): string {
  const p = WS_TABLE_PUBLISHED;
  return (
    `${p.source}:\n\n` +
    markdownTable({
      columns: ['', { header: 'Plain Conv', decimals: 1 }, { header: 'Weight Std.', decimals: 1 }],
      rows: [
        ['Batch Norm.', p.BN.plain, p.BN.ws],
        ['Group Norm.', p.GN.plain, p.GN.ws],
      ],
    })
  );
}

const NORM_NAME = { BN: 'Batch Norm.', GN: 'Group Norm.' } as const;

/** The table's four cells: BatchNorm and GroupNorm, each with plain and weight-standardized convolutions. */
function wsCells(cfg: WsTableConfig): { norm: 'BN' | 'GN'; ws: boolean; variant: NormVariant }[] {
  return (['BN', 'GN'] as const).flatMap((norm) =>
    [false, true].map((ws) => ({
      norm,
      ws,
      variant: {
        label: `${norm}${ws ? '+WS' : ''}`,
        norm: norm === 'BN' ? ({ kind: 'batch' } as const) : ({ kind: 'group', groups: cfg.groups } as const),
        standardize: ws,
      },
    })),
  );
}

/** Mean test top-1 over seeds of a cell; null when a seed diverged. */
function meanTop1(runs: readonly WsTableRun[], norm: 'BN' | 'GN', ws: boolean): number | null {
  const xs = runs.filter((r) => r.norm === norm && r.ws === ws).map((r) => r.top1);
  return xs.length > 0 && xs.every((x): x is number => x !== null) ? summarize(xs as number[]).mean : null;
}

/** The figure: the 2x2 test errors as bars (errors, so that zero-based bars show the differences) beside the training loss of each cell. */
export function wsTableFigure(cfg: WsTableConfig, runs: readonly WsTableRun[]): TopLevelSpec {
  const bars: Bar[] = [];
  const curves: Series[] = [];
  for (const norm of ['BN', 'GN'] as const) {
    for (const ws of [false, true]) {
      const m = meanTop1(runs, norm, ws);
      if (m !== null) bars.push({ group: ws ? 'Weight Std.' : 'Plain Conv', series: NORM_NAME[norm], value: 100 * (1 - m) });
      const r = runs.find((x) => x.norm === norm && x.ws === ws);
      if (r && r.lossCurve.length > 0) curves.push({ name: `${norm}${ws ? '+WS' : ''}`, points: r.lossCurve.map(([x, y]) => ({ x, y })) });
    }
  }
  const panels: TopLevelSpec[] = [];
  if (bars.length > 0) {
    panels.push(groupedBarChart(bars, { title: 'Test error (%)', xTitle: 'convolution', yTitle: 'test error (%)', legendTitle: 'norm', width: 300 }));
  }
  if (curves.length > 0) {
    panels.push(
      lineChart(curves, {
        title: `Training loss (seed ${cfg.seeds[0]}, smoothed)`,
        xTitle: 'step',
        yTitle: 'training loss',
        markers: false,
        width: PANEL_WIDTH,
        logY: true,
      }),
    );
  }
  if (panels.length === 0) throw new Error('ws-table: every run diverged; nothing to plot');
  return panels.length > 1
    ? hconcatFigures(panels, { title: `BN / GN x plain / WS: ${cfg.model}, batch ${cfg.optim.batch} in micro-batches of ${cfg.perDevice}`, sharedColor: false })
    : panels[0];
}

/** A cell of the table (mean test top-1 in points), or null when a seed diverged. */
function cellPts(r: WsTableResults, norm: 'BN' | 'GN', ws: boolean): number | null {
  const row = r.table.find((x) => x.norm === norm);
  const v = row ? (ws ? row.ws : row.plain) : null;
  return v === null || v === undefined ? null : 100 * v;
}
const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

/** The results as checked numbers (docs/experiments.md; full bands around the run there, quick bands around the quick form's value). */
const WS_TABLE_OUTCOMES: Outcome<WsTableResults>[] = [
  {
    name: 'GN+WS minus GN, test top-1 (points; published +5.8)',
    measure: (r) => minus(cellPts(r, 'GN', true), cellPts(r, 'GN', false)),
    bands: {
      full: band(-1, 1, '-0.11 (1 seed, 2-core Xeon)'),
      quick: band(3.5, 9.5, '+6.50 (quick form, seed 0, 2-core EPYC); 0 without weight standardization'),
    },
  },
  {
    name: 'GN minus BN (plain convolutions), test top-1 (points; published -5.4)',
    measure: (r) => minus(cellPts(r, 'GN', false), cellPts(r, 'BN', false)),
    bands: { full: band(0, 2.2, '+1.03 (1 seed, 2-core Xeon)'), quick: band(-12, -6, '-9.00 (quick form, seed 0, 2-core EPYC)') },
  },
];

export const wsTable = defineExperiment<WsTableConfig, WsTableResults>({
  name: 'ws-table',
  title: '{BatchNorm, GroupNorm} x {plain, weight-standardized} convolutions at a large batch',
  echoes: "Kolesnikov et al. 2020 (BiT), the BN/GN x plain/WS table on the lecture's Weight Standardization slide",
  published: { markdown: publishedMarkdown(), data: WS_TABLE_PUBLISHED },
  configs: { full: FULL, quick: QUICK },
  outcomes: WS_TABLE_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * wsCells(c).length,
  expectedMinutes: 25,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    const { train, test } = data;
    if (cfg.optim.batch % cfg.perDevice !== 0) throw new Error(`ws-table: ${cfg.perDevice} images per device do not divide the batch of ${cfg.optim.batch}`);
    const cells = wsCells(cfg);
    const runs: WsTableRun[] = [];
    for (const seed of cfg.seeds) {
      for (const c of cells) {
        const o = await trainVariant(ctx, cfg, data, c.variant, seed, `${slug(c.variant.label)}-seed-${seed}`, { batchSplit: cfg.optim.batch / cfg.perDevice });
        runs.push({
          norm: c.norm,
          ws: c.ws,
          seed,
          top1: o.top1,
          diverged: o.diverged,
          seconds: o.seconds,
          lossCurve: smoothCurve(o.losses, Math.max(1, Math.floor(o.losses.length / 60)), 0.9),
        });
      }
    }
    const cellMean = (norm: 'BN' | 'GN', ws: boolean) => meanTop1(runs, norm, ws);
    const cellStd = (norm: 'BN' | 'GN', ws: boolean): Cell => {
      const xs = runs.filter((r) => r.norm === norm && r.ws === ws).map((r) => r.top1);
      if (!xs.every((x): x is number => x !== null)) return 'diverged';
      return meanStd((xs as number[]).map((x) => 100 * x));
    };
    const table = (['BN', 'GN'] as const).map((norm) => ({ norm, plain: cellMean(norm, false), ws: cellMean(norm, true) }));
    const p = WS_TABLE_PUBLISHED;
    const measured = markdownTable({
      columns: [
        '',
        { header: 'Plain Conv', decimals: 2 },
        { header: 'Weight Std.', decimals: 2 },
        { header: 'published plain', decimals: 1 },
        { header: 'published WS', decimals: 1 },
      ],
      rows: [
        ['Batch Norm.', cellStd('BN', false), cellStd('BN', true), p.BN.plain, p.BN.ws],
        ['Group Norm.', cellStd('GN', false), cellStd('GN', true), p.GN.plain, p.GN.ws],
      ],
    });

    const figure = wsTableFigure(cfg, runs);

    const findings: string[] = [];
    const f = (x: number | null) => (x === null ? 'diverged' : `${pct(x)}%`);
    const gain = (a: number | null, b: number | null) => (a !== null && b !== null ? `${signedPts(b - a)} pts` : 'n/a');
    const [bn, gn] = table;
    findings.push(`BN: ${f(bn.plain)} plain, ${f(bn.ws)} with WS (WS ${gain(bn.plain, bn.ws)}; published ${signedPts((p.BN.ws - p.BN.plain) / 100, 1)}).`);
    findings.push(`GN: ${f(gn.plain)} plain, ${f(gn.ws)} with WS (WS ${gain(gn.plain, gn.ws)}; published ${signedPts((p.GN.ws - p.GN.plain) / 100, 1)}).`);
    findings.push(
      `GN+WS vs BN (plain): ${gain(bn.plain, gn.ws)} (published ${signedPts((p.GN.ws - p.BN.plain) / 100, 1)}); GN plain vs BN plain: ${gain(bn.plain, gn.plain)} (published ${signedPts((p.GN.plain - p.BN.plain) / 100, 1)}).`,
    );
    return {
      results: { runs, table },
      setup: [
        `model ${cfg.model} (BiT's ResNet-v2, pre-activation bottlenecks) with BatchNorm or GroupNorm(${cfg.groups}), plain or weight-standardized convolutions`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)}; the batch is built from micro-batches of ${cfg.perDevice} images (BiT: 8 per chip), BatchNorm statistics per micro-batch`,
        `seeds ${cfg.seeds.join(', ')}`,
      ],
      sections: [
        {
          heading: 'Measured: test top-1 (%)',
          markdown: `${cfg.model} on ${cfg.data.spec} (mean ± std over ${cfg.seeds.length} seed(s)), beside the published BiT-S ResNet-50 numbers:\n\n${measured}`,
        },
      ],
      figures: [{ file: 'ws-table', caption: 'Test error (100 − top-1) of the 2x2 table and the training loss of each cell', spec: figure }],
      findings,
    };
  },
});

// ---------------------------------------------------------------------------
// ws-lr: the same four models over a learning-rate sweep at one large batch.
//
// BiT's claim is about a regime: at batch 4096 and lr 0.48 plain GroupNorm
// falls behind and weight standardization recovers it. ws-table runs one
// learning rate; this sweep adds the axis that carries the claim (issue 15):
// the batch built from micro-batches of 8 as before, the learning rate from
// BiT's rule (0.03 x 512 / 256 = 0.06) up by factors of 4, several seeds, and
// reports each model's final accuracy and its highest stable learning rate.

export interface WsLrConfig {
  data: DataConfig;
  model: string;
  groups: number;
  perDevice: number;
  /** The optimizer settings; `lr` is replaced by each of `lrs`. */
  optim: OptimConfig;
  lrs: number[];
  seeds: number[];
  /** A run is stable when its loss stayed finite and its final test top-1 reached this. */
  stableTop1: number;
}

const LR_SWEEP_BATCH = 512;
const WS_LR_FULL: WsLrConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'BiT-Tiny',
  groups: 8,
  perDevice: BIT_IMAGES_PER_CHIP,
  // 40 steps (a third of an epoch): the divergence BiT's claim is about happens in the warm-up and at the peak.
  optim: {
    batch: LR_SWEEP_BATCH,
    lr: (UPSTREAM_LR_PER_256 * LR_SWEEP_BATCH) / 256,
    steps: 40,
    momentum: UPSTREAM_MOMENTUM,
    weightDecay: UPSTREAM_WEIGHT_DECAY,
  },
  // BiT's rule at this batch (0.06), then doubling up to 8x: BiT's own 0.48 at batch 4096 is 8x its rule.
  lrs: [0.06, 0.12, 0.24, 0.48],
  seeds: [0, 1],
  stableTop1: 0.5,
};

const WS_LR_QUICK: WsLrConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'BiT-Tiny',
  groups: 8,
  perDevice: 8,
  optim: { batch: 32, lr: 0.06, steps: 3, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  lrs: [0.06, 3.84],
  seeds: [0],
  stableTop1: 0.1,
};

export interface WsLrRun extends WsTableRun {
  lr: number;
  /** The last training loss (NaN-free steps only); null when no step was finite. */
  finalLoss: number | null;
}

export interface WsLrResults {
  runs: WsLrRun[];
  /** Per model: the highest learning rate at which every seed was stable (null: none was). */
  highestStableLr: { model: string; lr: number | null }[];
}

const modelLabel = (norm: 'BN' | 'GN', ws: boolean) => `${norm}${ws ? '+WS' : ''}`;

/** The highest learning rate of `lrs` at which every seed of the model finished with a finite loss and at least `stableTop1`. */
export function highestStableLr(runs: readonly WsLrRun[], norm: 'BN' | 'GN', ws: boolean, lrs: readonly number[], stableTop1: number): number | null {
  const stable = lrs.filter((lr) => {
    const rs = runs.filter((r) => r.norm === norm && r.ws === ws && r.lr === lr);
    return rs.length > 0 && rs.every((r) => !r.diverged && r.top1 !== null && r.top1 >= stableTop1);
  });
  return stable.length > 0 ? Math.max(...stable) : null;
}

/** Final test top-1 vs learning rate per model (seed min-max), beside the training loss of each model at each learning rate (first seed). */
export function wsLrFigure(cfg: WsLrConfig, runs: readonly WsLrRun[]): TopLevelSpec {
  const models = (['BN', 'GN'] as const).flatMap((norm) => [false, true].map((ws) => ({ norm, ws, name: modelLabel(norm, ws) })));
  const acc: Series[] = models.map((m) => ({
    name: m.name,
    points: cfg.lrs.flatMap((lr) => {
      const xs = runs.filter((r) => r.norm === m.norm && r.ws === m.ws && r.lr === lr && r.top1 !== null).map((r) => 100 * (r.top1 as number));
      return xs.length > 0 ? [pointFromSeeds(lr, xs)] : [];
    }),
  }));
  const panels: TopLevelSpec[] = [
    lineChart(
      acc.filter((s) => s.points.length > 0),
      { title: 'Final test top-1 (diverged runs left out)', xTitle: 'peak learning rate', yTitle: 'test top-1 (%)', logX: true, xTicks: cfg.lrs, width: 260 },
    ),
  ];
  for (const lr of cfg.lrs) {
    const curves: Series[] = models
      .map((m) => {
        const r = runs.find((x) => x.norm === m.norm && x.ws === m.ws && x.lr === lr);
        return { name: m.name, points: (r?.lossCurve ?? []).filter(([, y]) => Number.isFinite(y) && y > 0).map(([x, y]) => ({ x, y })) };
      })
      .filter((s) => s.points.length > 0);
    if (curves.length > 0) {
      panels.push(lineChart(curves, { title: `Training loss, lr ${lr}`, xTitle: 'step', yTitle: 'training loss', markers: false, width: 200, logY: true }));
    }
  }
  return hconcatFigures(panels, {
    title: `BN / GN x plain / WS over the learning rate: ${cfg.model}, batch ${cfg.optim.batch} in micro-batches of ${cfg.perDevice}`,
    subtitle: `bars: min-max over ${cfg.seeds.length} seed(s); loss curves: seed ${cfg.seeds[0]}, smoothed`,
  });
}

/** The highest stable learning rate of a model, log2 (so that factors of 2 read as steps); -1 below the lowest tried. */
function log2Stable(r: WsLrResults, model: string, lrs: readonly number[]): number | null {
  const h = r.highestStableLr.find((x) => x.model === model);
  if (!h) return null;
  return h.lr === null ? Math.log2(Math.min(...lrs)) - 1 : Math.log2(h.lr);
}
const runLrs = (r: WsLrResults) => [...new Set(r.runs.map((x) => x.lr))];
/** GN+WS minus GN, mean final test top-1 (points) at learning rate `lr`. */
function gnWsGain(r: WsLrResults, lr: number): number | null {
  const at = (ws: boolean) => meanOrNull(r.runs.filter((x) => x.norm === 'GN' && x.ws === ws && x.lr === lr).map((x) => x.top1));
  return minus(at(true), at(false)) === null ? null : 100 * (minus(at(true), at(false)) as number);
}

const WS_LR_OUTCOMES: Outcome<WsLrResults>[] = [
  {
    name: 'GN+WS minus GN, highest stable learning rate (log2; BiT: WS keeps GN stable where plain GN is not)',
    measure: (r) => minus(log2Stable(r, 'GN+WS', runLrs(r)), log2Stable(r, 'GN', runLrs(r))),
    bands: { full: band(-1, 1, '0: both 0.06 (2 seeds, 2-core EPYC); BiT: GN+WS stable where GN is not') },
  },
  {
    name: 'BN minus GN, highest stable learning rate (log2)',
    measure: (r) => minus(log2Stable(r, 'BN', runLrs(r)), log2Stable(r, 'GN', runLrs(r))),
    bands: { full: band(2, 4, '+3: 0.48 vs 0.06 (2 seeds, 2-core EPYC)') },
  },
  {
    name: 'GN+WS minus GN, final test top-1 at twice the lowest learning rate (points)',
    measure: (r) => {
      const lrs = runLrs(r).sort((a, b) => a - b);
      return lrs.length < 2 ? null : gnWsGain(r, lrs[1]);
    },
    bands: { full: band(8, 35, '+21.30 (55.94 vs 34.64 at lr 0.12, 2 seeds, 2-core EPYC)') },
  },
  {
    name: 'GN+WS minus GN, final test top-1 at the lowest learning rate (points)',
    measure: (r) => gnWsGain(r, Math.min(...runLrs(r))),
    bands: {
      full: band(2, 12, '+7.14 (73.33 vs 66.19 at lr 0.06, 2 seeds, 2-core EPYC)'),
      quick: band(2.5, 8.5, '+5.50 (quick form, seed 0, 2-core EPYC); 0 without weight standardization'),
    },
  },
];

export const wsLr = defineExperiment<WsLrConfig, WsLrResults>({
  name: 'ws-lr',
  title: '{BatchNorm, GroupNorm} x {plain, weight-standardized} over a learning-rate sweep at a large batch',
  echoes: "Kolesnikov et al. 2020 (BiT): the regime (batch 4096, lr 0.48) in which the lecture's BN/GN x plain/WS table was measured",
  published: { markdown: publishedMarkdown(), data: WS_TABLE_PUBLISHED },
  configs: { full: WS_LR_FULL, quick: WS_LR_QUICK },
  outcomes: WS_LR_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * c.lrs.length * 4,
  expectedMinutes: 15,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    if (cfg.optim.batch % cfg.perDevice !== 0) throw new Error(`ws-lr: ${cfg.perDevice} images per device do not divide the batch of ${cfg.optim.batch}`);
    const cells = wsCells(cfg);
    const runs: WsLrRun[] = [];
    for (const lr of cfg.lrs) {
      for (const seed of cfg.seeds) {
        for (const c of cells) {
          const setup = { ...cfg, optim: { ...cfg.optim, lr } };
          const o = await trainVariant(ctx, setup, data, c.variant, seed, `${slug(c.variant.label)}-lr-${lr}-seed-${seed}`, {
            batchSplit: cfg.optim.batch / cfg.perDevice,
          });
          const finite = o.losses.filter((x) => Number.isFinite(x));
          runs.push({
            norm: c.norm,
            ws: c.ws,
            seed,
            lr,
            top1: o.top1,
            diverged: o.diverged,
            seconds: o.seconds,
            finalLoss: finite.length > 0 ? finite[finite.length - 1] : null,
            lossCurve: smoothCurve(finite, Math.max(1, Math.floor(finite.length / 40)), 0.7),
          });
        }
      }
    }
    const models = cells.map((c) => ({ norm: c.norm, ws: c.ws, name: modelLabel(c.norm, c.ws) }));
    const highest = models.map((m) => ({ model: m.name, lr: highestStableLr(runs, m.norm, m.ws, cfg.lrs, cfg.stableTop1) }));
    const cell = (m: (typeof models)[number], lr: number): Cell => {
      const rs = runs.filter((r) => r.norm === m.norm && r.ws === m.ws && r.lr === lr);
      const ok = rs.filter((r) => r.top1 !== null).map((r) => 100 * (r.top1 as number));
      if (ok.length === 0) return 'diverged';
      return ok.length === rs.length ? meanStd(ok) : `${meanStd(ok).mean.toFixed(2)} (${rs.length - ok.length} diverged)`;
    };
    const table = markdownTable({
      columns: ['model', ...cfg.lrs.map((lr) => ({ header: `lr ${lr}`, decimals: 2 })), 'highest stable lr'],
      rows: models.map((m, i) => [m.name, ...cfg.lrs.map((lr) => cell(m, lr)), highest[i].lr === null ? 'none' : String(highest[i].lr)]),
    });
    const lrOf = (name: string) => highest.find((h) => h.model === name)?.lr ?? null;
    const findings = highest.map((h) => `${h.model}: highest stable learning rate ${h.lr === null ? 'none of those tried' : h.lr}.`);
    const gnPlain = lrOf('GN');
    const gnWs = lrOf('GN+WS');
    findings.push(
      gnWs !== null && (gnPlain === null || gnWs > gnPlain)
        ? `WS widens GroupNorm's stable range here (${gnPlain ?? 'none'} -> ${gnWs}).`
        : `WS does not widen GroupNorm's stable range here (${gnPlain ?? 'none'} plain, ${gnWs ?? 'none'} with WS).`,
    );
    return {
      results: { runs, highestStableLr: highest },
      setup: [
        `model ${cfg.model} with BatchNorm or GroupNorm(${cfg.groups}), plain or weight-standardized convolutions`,
        describeData(cfg.data, data.train, data.test),
        `${describeOptim(cfg.optim)}, peak lr each of ${cfg.lrs.join(', ')}; the batch is built from micro-batches of ${cfg.perDevice} images, BatchNorm statistics per micro-batch`,
        `stable: the loss stayed finite and the final test top-1 reached ${pct(cfg.stableTop1, 0)}% for every seed`,
        `seeds ${cfg.seeds.join(', ')}`,
      ],
      sections: [
        {
          heading: 'Measured: final test top-1 (%) per peak learning rate',
          markdown: `${cfg.model} on ${cfg.data.spec}, mean ± std over ${cfg.seeds.length} seed(s):\n\n${table}`,
        },
      ],
      figures: [
        {
          file: 'ws-lr',
          caption: 'Final test top-1 against the peak learning rate, and the training loss of each model at each learning rate',
          spec: wsLrFigure(cfg, runs),
        },
      ],
      findings,
    };
  },
});
