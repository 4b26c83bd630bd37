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
  summarize,
  type Bar,
  type Cell,
  type Series,
} from '../report/index.js';
import type { TopLevelSpec } from 'vega-lite';
import { UPSTREAM_LR_PER_256, UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import {
  defineExperiment,
  describeData,
  describeOptim,
  openData,
  pct,
  signedPts,
  slug,
  smoothCurve,
  trainVariant,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
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

export const wsTable = defineExperiment<WsTableConfig, WsTableResults>({
  name: 'ws-table',
  title: '{BatchNorm, GroupNorm} x {plain, weight-standardized} convolutions at a large batch',
  echoes: "Kolesnikov et al. 2020 (BiT), the BN/GN x plain/WS table on the lecture's Weight Standardization slide",
  published: { markdown: publishedMarkdown(), data: WS_TABLE_PUBLISHED },
  configs: { full: FULL, quick: QUICK },
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
