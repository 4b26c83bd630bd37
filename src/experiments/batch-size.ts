// batch-size: BatchNorm vs GroupNorm vs GroupNorm + Weight Standardization at
// several per-device batch sizes (Wu & He 2018, Figure 1 and Table 3; the
// lecture's "Group Normalization: better than BN?" figure).
//
// Wu & He vary the images per GPU on 8 GPUs (so the total batch varies too,
// with the learning rate scaled linearly). Here the effective batch is fixed
// and split into micro-batches of 2..64 images, each normalized on its own as
// on one device (the trainer's batch split): the optimization is the same for
// every setting and only the images BatchNorm sees per "device" change.
// GroupNorm normalizes each image alone, so its runs differ only by
// floating-point summation order; they are run anyway, as a check.
import { markdownTable, lineChart, pointFromSeeds, summarize, type Cell, type Series } from '../report/index.js';
import { UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import {
  band,
  defineExperiment,
  describeData,
  describeOptim,
  openData,
  pct,
  signedPts,
  slug,
  trainVariant,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
  type Outcome,
} from './common.js';

export interface BatchSizeConfig {
  data: DataConfig;
  model: string;
  variants: NormVariant[];
  /** Images per device (micro-batch), each a divisor of optim.batch. */
  perDevice: number[];
  optim: OptimConfig;
  seeds: number[];
}

/** GroupNorm groups for ResNet-8-16 (widths 16/32/64): 2 to 8 channels per group, like Wu & He's 32 groups on 64..2048 channels. */
const GROUPS = 8;

const VARIANTS: NormVariant[] = [
  { label: 'BN', norm: { kind: 'batch' }, standardize: false },
  { label: 'GN', norm: { kind: 'group', groups: GROUPS }, standardize: false },
  { label: 'GN+WS', norm: { kind: 'group', groups: GROUPS }, standardize: true },
];

/**
 * Wu & He 2018, Table 3 (= Figure 1): ResNet-50 ImageNet validation error (%)
 * with 32, 16, 8, 4, 2 images per GPU on 8 GPUs. Qiao et al. 2019 (the lecture's
 * WS slide) train GN+WS with 1 image per GPU and beat large-batch BN.
 */
export const BATCH_SIZE_PUBLISHED = {
  imagesPerGpu: [32, 16, 8, 4, 2],
  BN: [23.6, 23.7, 24.8, 27.3, 34.7],
  GN: [24.1, 24.2, 24.0, 24.2, 24.1],
  source: 'Wu & He 2018, Table 3 / Figure 1 (ResNet-50, ImageNet val error %, 8 GPUs)',
};

const FULL: BatchSizeConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-16',
  variants: VARIANTS,
  perDevice: [64, 32, 16, 8, 4, 2],
  // lr 0.1 per 256 images (Goyal et al. 2017, used by Wu & He) at batch 64 would be 0.025;
  // this short run uses 0.1 (chosen once here for every variant, not tuned per variant).
  optim: { batch: 64, lr: 0.1, steps: 600, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0, 1],
};

const QUICK: BatchSizeConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-16',
  variants: VARIANTS,
  perDevice: [16, 4],
  optim: { batch: 16, lr: 0.1, steps: 4, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
};

export interface BatchSizeRun {
  variant: string;
  perDevice: number;
  seed: number;
  /** Test error in [0, 1]; null when the run diverged. */
  error: number | null;
  diverged: boolean;
  seconds: number;
}

export interface BatchSizeCell {
  variant: string;
  perDevice: number;
  /** Mean, std, min and max of the test error over seeds (null when a seed diverged). */
  error: { mean: number; std: number; min: number; max: number } | null;
}

export interface BatchSizeResults {
  runs: BatchSizeRun[];
  cells: BatchSizeCell[];
}

function publishedMarkdown(): string {
  const p = BATCH_SIZE_PUBLISHED;
  const rows: Cell[][] = [
    ['BN', ...p.BN],
    ['GN', ...p.GN],
    ['BN − GN', ...p.BN.map((b, i) => Number((b - p.GN[i]).toFixed(1)))],
  ];
  return (
    `${p.source}:\n\n` +
    markdownTable({ columns: ['images per GPU', ...p.imagesPerGpu.map(String)].map((h) => ({ header: h, decimals: 1 })), rows }) +
    "\nQiao et al. 2019 (the lecture's Weight Standardization slide): with 1 image per GPU, GN+WS outperforms BN trained with large batches.\n"
  );
}

/** The test error (points) of a variant at an images-per-device setting, mean over seeds. */
function errorAt(r: BatchSizeResults, variant: string, perDevice: number): number | null {
  const c = r.cells.find((x) => x.variant === variant && x.perDevice === perDevice);
  return c?.error ? 100 * c.error.mean : null;
}
const smallest = (r: BatchSizeResults) => Math.min(...r.cells.map((c) => c.perDevice));
const largest = (r: BatchSizeResults) => Math.max(...r.cells.map((c) => c.perDevice));
const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

/** The results as checked numbers (docs/experiments.md; full bands around the 2-seed run there, quick bands around the quick form's value). */
const BATCH_SIZE_OUTCOMES: Outcome<BatchSizeResults>[] = [
  {
    name: 'BN test error at the fewest minus the most images per device (points)',
    measure: (r) => diff(errorAt(r, 'BN', smallest(r)), errorAt(r, 'BN', largest(r))),
    bands: {
      full: band(0.5, 2.5, '+1.46 (2 vs 64 images, 2 seeds, 2-core Xeon)'),
      quick: band(-4.5, -0.5, '-2.00 (quick form, seed 0, 2-core EPYC); 0 if the micro-batches shared statistics'),
    },
  },
  {
    name: 'GN+WS test error at the fewest minus the most images per device (points)',
    measure: (r) => diff(errorAt(r, 'GN+WS', smallest(r)), errorAt(r, 'GN+WS', largest(r))),
    bands: {
      full: band(-0.8, 0.8, '-0.22 (2 vs 64 images, 2 seeds, 2-core Xeon)'),
      quick: band(-0.5, 0.5, '0.00 (quick form, seed 0, 2-core EPYC): GroupNorm does not depend on the micro-batch'),
    },
  },
  {
    name: 'GN+WS minus GN test error at the most images per device (points)',
    measure: (r) => diff(errorAt(r, 'GN+WS', largest(r)), errorAt(r, 'GN', largest(r))),
    bands: {
      full: band(-3, -0.8, '-1.79 (64 images, 2 seeds, 2-core Xeon)'),
      quick: band(1, 5, '+3.00 (quick form, seed 0, 2-core EPYC); 0 without weight standardization'),
    },
  },
];

export const batchSize = defineExperiment<BatchSizeConfig, BatchSizeResults>({
  name: 'batch-size',
  title: 'BatchNorm vs GroupNorm vs GroupNorm+WS across per-device batch sizes',
  echoes: 'Wu & He 2018, Figure 1 / Table 3 (the lecture\'s "Group Normalization: better than BN?" figure)',
  published: { markdown: publishedMarkdown(), data: BATCH_SIZE_PUBLISHED },
  configs: { full: FULL, quick: QUICK },
  outcomes: BATCH_SIZE_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * c.variants.length * c.perDevice.length,
  expectedMinutes: 40,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    const { train, test } = data;
    for (const b of cfg.perDevice) {
      if (cfg.optim.batch % b !== 0) throw new Error(`batch-size: ${b} images per device do not divide the batch of ${cfg.optim.batch}`);
    }
    const runs: BatchSizeRun[] = [];
    for (const seed of cfg.seeds) {
      for (const v of cfg.variants) {
        for (const b of cfg.perDevice) {
          const outcome = await trainVariant(ctx, cfg, data, v, seed, `${slug(v.label)}-per-device-${b}-seed-${seed}`, { batchSplit: cfg.optim.batch / b });
          runs.push({
            variant: v.label,
            perDevice: b,
            seed,
            error: outcome.top1 === null ? null : 1 - outcome.top1,
            diverged: outcome.diverged,
            seconds: outcome.seconds,
          });
        }
      }
    }
    const cells: BatchSizeCell[] = [];
    for (const v of cfg.variants) {
      for (const b of cfg.perDevice) {
        const errs = runs.filter((r) => r.variant === v.label && r.perDevice === b).map((r) => r.error);
        const ok = errs.filter((e): e is number => e !== null);
        const s = ok.length === errs.length ? summarize(ok) : null;
        cells.push({ variant: v.label, perDevice: b, error: s && { mean: s.mean, std: s.std, min: s.min, max: s.max } });
      }
    }
    const cell = (v: string, b: number) => cells.find((c) => c.variant === v && c.perDevice === b)?.error ?? null;
    const errCell = (v: string, b: number): Cell => {
      const e = cell(v, b);
      return e === null ? 'diverged' : { mean: 100 * e.mean, spread: 100 * e.std, n: cfg.seeds.length };
    };
    const rows: Cell[][] = cfg.variants.map((v) => [v.label, ...cfg.perDevice.map((b) => errCell(v.label, b))]);
    const bn = cfg.variants.find((v) => v.norm.kind === 'batch');
    const gn = cfg.variants.find((v) => v.norm.kind === 'group' && !v.standardize);
    if (bn && gn) {
      rows.push([
        `${bn.label} − ${gn.label}`,
        ...cfg.perDevice.map((b) => {
          const x = cell(bn.label, b);
          const y = cell(gn.label, b);
          return x && y ? 100 * (x.mean - y.mean) : null;
        }),
      ]);
    }
    const table = markdownTable({ columns: [{ header: 'images per device' }, ...cfg.perDevice.map((b) => ({ header: String(b), decimals: 2 }))], rows });

    const series: Series[] = cfg.variants
      .map((v) => ({
        name: v.label,
        points: cfg.perDevice
          .map((b) => ({ b, errs: runs.filter((r) => r.variant === v.label && r.perDevice === b).map((r) => r.error) }))
          .filter(({ errs }) => errs.every((e) => e !== null))
          .map(({ b, errs }) =>
            pointFromSeeds(
              b,
              errs.map((e) => 100 * (e ?? 0)),
            ),
          ),
      }))
      .filter((s) => s.points.length > 0);
    const sizes = [...cfg.perDevice].sort((a, b) => a - b);
    const figure = lineChart(series, {
      title: 'Test error vs images per device',
      subtitle: `${cfg.model} on ${cfg.data.spec}, effective batch ${cfg.optim.batch}; ${cfg.seeds.length > 1 ? 'bars: min-max over seeds' : 'one seed'}`,
      xTitle: 'images per device (BatchNorm batch)',
      yTitle: 'test error (%)',
      logX: true,
      xTicks: sizes,
      legendTitle: 'normalization',
    });

    const findings: string[] = [];
    const lo = sizes[0];
    const hi = sizes[sizes.length - 1];
    for (const v of cfg.variants) {
      const a = cell(v.label, lo);
      const z = cell(v.label, hi);
      const all = cfg.perDevice.map((b) => cell(v.label, b));
      if (a && z && all.every((c) => c !== null)) {
        const means = all.map((c) => c?.mean ?? 0);
        findings.push(
          `${v.label}: error ${pct(a.mean)}% at ${lo} images per device vs ${pct(z.mean)}% at ${hi} (${signedPts(a.mean - z.mean)} pts); spread over all sizes ${pct(Math.max(...means) - Math.min(...means))} pts.`,
        );
      } else {
        findings.push(`${v.label}: at least one run diverged (see the table).`);
      }
    }
    const p = BATCH_SIZE_PUBLISHED;
    findings.push(
      `Published (ResNet-50, ImageNet): BN goes from ${p.BN[0]}% at 32 images/GPU to ${p.BN[4]}% at 2 (+${(p.BN[4] - p.BN[0]).toFixed(1)} pts); GN stays within ${(Math.max(...p.GN) - Math.min(...p.GN)).toFixed(1)} pts.`,
    );
    return {
      results: { runs, cells },
      setup: [
        `model ${cfg.model} (classic ResNet, 3 stages of 1 basic unit); variants ${cfg.variants.map((v) => v.label).join(', ')} (GN with ${GROUPS} groups)`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)}; the batch is split into micro-batches of ${cfg.perDevice.join(', ')} images, each normalized on its own (BatchNorm statistics per micro-batch, as per device); gradients are summed over the micro-batches`,
        `seeds ${cfg.seeds.join(', ')} (initialization, data order)`,
      ],
      sections: [
        { heading: 'Measured: test error (%)', markdown: `${cfg.model} on ${cfg.data.spec}, mean ± std over ${cfg.seeds.length} seed(s):\n\n${table}` },
      ],
      figures: [
        { file: 'batch-size', caption: 'Test error vs images per device for BN, GN and GN+WS (the lecture\'s "GN better than BN?" figure)', spec: figure },
      ],
      findings,
    };
  },
});
