// noisy-bn: Santurkar et al. 2018, "How Does Batch Normalization Help
// Optimization?", Section 2.1, Algorithm 1 and Figure 2 (the lecture's
// "Experiment: Input Distribution" slides). A network without normalization,
// the same network with BatchNorm, and with "noisy" BatchNorm: after each
// BatchNorm, per unit and sample, a ~ s * a + m with s ~ N(sigma, r_sigma),
// m ~ U(mu - r_mu, mu + r_mu), and mu ~ U(-n_mu, n_mu), sigma ~ U(1, n_sigma)
// drawn per step and layer. The noise injects a covariate shift larger than
// the plain network's; if BatchNorm helped by reducing internal covariate
// shift, noisy BatchNorm would lose the benefit. The noise is an option of
// the model zoo's BatchNorm ({kind: 'batch', noise: SANTURKAR_NOISE}).
import type { TopLevelSpec } from 'vega-lite';
import { SANTURKAR_NOISE, type NoiseSpec } from '../nn/index.js';
import {
  hconcatFigures,
  lineChart,
  markdownTable,
  PANEL_WIDTH,
  meanStd,
  pointFromSeeds,
  summarize,
  type Cell,
  type Series,
  type SeriesPoint,
} from '../report/index.js';
import { UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
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

export interface NoisyBnConfig {
  data: DataConfig;
  model: string;
  /** Santurkar et al.'s constants n_mu, n_sigma, r_mu, r_sigma. */
  noise: NoiseSpec;
  optim: OptimConfig;
  /** Test evaluations every N steps (the curves). */
  evalEvery: number;
  /** Test accuracy that "time to accuracy" refers to. */
  targetTop1: number;
  seeds: number[];
}

/** Santurkar et al. 2018, Section 2.1 / Figure 2 (VGG on CIFAR-10): what they report, in words (the figure has no table). */
export const NOISY_BN_PUBLISHED = {
  source: 'Santurkar et al. 2018, Algorithm 1 and Figure 2 (VGG on CIFAR-10)',
  noise: SANTURKAR_NOISE,
  claim:
    'The network with "noisy" BatchNorm trains about as fast as the one with BatchNorm and clearly faster than the standard network, although the noise makes the distribution of its layer inputs far less stable than in either: BatchNorm\'s benefit does not come from reducing internal covariate shift.',
};

const FULL: NoisyBnConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-16',
  noise: SANTURKAR_NOISE,
  // One learning rate for all three networks (as Santurkar et al.), the one the batch-size study uses.
  optim: { batch: 128, lr: 0.1, steps: 1500, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  evalEvery: 100,
  targetTop1: 0.85,
  seeds: [0, 1, 2],
};

const QUICK: NoisyBnConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-16',
  noise: SANTURKAR_NOISE,
  optim: { batch: 16, lr: 0.1, steps: 4, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  evalEvery: 2,
  targetTop1: 0.85,
  seeds: [0],
};

export interface NoisyBnRun {
  variant: string;
  seed: number;
  /** Final test top-1 in [0, 1]; null when the run diverged. */
  top1: number | null;
  diverged: boolean;
  seconds: number;
  /** Smoothed training loss as [step, loss]. */
  lossCurve: [number, number][];
  /** Test top-1 during training as [step, top1]. */
  testCurve: [number, number][];
  /** First evaluated step reaching targetTop1; null if never. */
  stepsToTarget: number | null;
}

export interface NoisyBnResults {
  runs: NoisyBnRun[];
}

/** Points of a curve averaged over seeds at the steps every seed has, spread min-max. */
function seedBand(curves: readonly (readonly [number, number][])[], scale = 1): SeriesPoint[] {
  if (curves.length === 0) return [];
  const steps = curves[0].map(([s]) => s).filter((s) => curves.every((c) => c.some(([x]) => x === s)));
  return steps.map((s) =>
    pointFromSeeds(
      s,
      curves.map((c) => scale * (c.find(([x]) => x === s)?.[1] ?? NaN)),
    ),
  );
}

/** Smoothed training-loss curves with their seed bands, log scale (noisy-bn and noisy-scale). */
function trainingLossPanel(series: Series[]): TopLevelSpec {
  return lineChart(series, {
    title: 'Training loss (smoothed)',
    xTitle: 'step',
    yTitle: 'training loss',
    markers: false,
    spread: 'band',
    width: PANEL_WIDTH,
    logY: true,
  });
}

/** The three networks: without normalization, with BatchNorm, with BatchNorm and injected noise. */
function noisyBnVariants(cfg: NoisyBnConfig): NormVariant[] {
  return [
    { label: 'Standard', norm: { kind: 'none' }, standardize: false },
    { label: 'Standard + BatchNorm', norm: { kind: 'batch' }, standardize: false },
    { label: 'Standard + "Noisy" BatchNorm', norm: { kind: 'batch', noise: cfg.noise }, standardize: false },
  ];
}

/** Mean final test top-1 (points) of a network over seeds; null when a seed diverged. */
function top1Pts(r: NoisyBnResults, variant: string): number | null {
  const m = meanOrNull(r.runs.filter((x) => x.variant === variant).map((x) => x.top1));
  return m === null ? null : 100 * m;
}
const gainOver = (r: NoisyBnResults, variant: string) => {
  const a = top1Pts(r, variant);
  const b = top1Pts(r, 'Standard');
  return a === null || b === null ? null : a - b;
};

/** The results as checked numbers (docs/experiments.md; full bands around the 3-seed run there, quick bands around the quick form's value). */
const NOISY_BN_OUTCOMES: Outcome<NoisyBnResults>[] = [
  {
    name: 'BatchNorm minus standard, final test top-1 (points)',
    measure: (r) => gainOver(r, 'Standard + BatchNorm'),
    bands: { full: band(1, 3, '+1.96 (3 seeds, 2-core Xeon)'), quick: band(7.5, 13.5, '+10.50 (quick form, seed 0, 2-core EPYC)') },
  },
  {
    name: "noisy BatchNorm minus standard, final test top-1 (points; the paper: about BatchNorm's gain)",
    measure: (r) => gainOver(r, 'Standard + "Noisy" BatchNorm'),
    bands: { full: band(-1, 1.2, '+0.09 (3 seeds, 2-core Xeon)'), quick: band(-4, 2, '-1.00 (quick form, seed 0, 2-core EPYC); +10.50 without the noise') },
  },
];

/** What Santurkar et al. report, with their noise constants (noisy-bn and noisy-scale). */
function noisyPublished(): { markdown: string; data: object } {
  const n = SANTURKAR_NOISE;
  return {
    markdown: `${NOISY_BN_PUBLISHED.source}, with n_mu = ${n.nMu}, n_sigma = ${n.nSigma}, r_mu = ${n.rMu}, r_sigma = ${n.rSigma}: ${NOISY_BN_PUBLISHED.claim}\n`,
    data: NOISY_BN_PUBLISHED,
  };
}

export const noisyBn = defineExperiment<NoisyBnConfig, NoisyBnResults>({
  name: 'noisy-bn',
  title: 'Standard network vs BatchNorm vs "noisy" BatchNorm (injected covariate shift)',
  echoes: 'Santurkar et al. 2018, Algorithm 1 and Figure 2 (the lecture\'s "Experiment: Input Distribution" slides)',
  published: noisyPublished(),
  configs: { full: FULL, quick: QUICK },
  outcomes: NOISY_BN_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * noisyBnVariants(c).length,
  expectedMinutes: 25,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    const { train, test } = data;
    const variants = noisyBnVariants(cfg);
    const runs: NoisyBnRun[] = [];
    for (const seed of cfg.seeds) {
      for (const v of variants) {
        const o = await trainVariant(ctx, cfg, data, v, seed, `${slug(v.label)}-seed-${seed}`, { evalEvery: cfg.evalEvery });
        const testCurve = o.evals.map((e): [number, number] => [e.step, e.top1]);
        runs.push({
          variant: v.label,
          seed,
          top1: o.top1,
          diverged: o.diverged,
          seconds: o.seconds,
          lossCurve: smoothCurve(o.losses, Math.max(1, Math.floor(cfg.optim.steps / 75)), 0.9),
          testCurve,
          stepsToTarget: testCurve.find(([, t]) => t >= cfg.targetTop1)?.[0] ?? null,
        });
      }
    }
    const byVariant = (label: string) => runs.filter((r) => r.variant === label);
    const rows: Cell[][] = variants.map((v) => {
      const rs = byVariant(v.label);
      const ok = rs.filter((r) => r.top1 !== null);
      const acc: Cell = ok.length === rs.length ? meanStd(ok.map((r) => 100 * (r.top1 ?? 0))) : `${rs.length - ok.length} of ${rs.length} diverged`;
      const finalLoss: Cell =
        ok.length === rs.length && rs.every((r) => r.lossCurve.length > 0) ? meanStd(rs.map((r) => r.lossCurve[r.lossCurve.length - 1][1])) : null;
      const reached = rs.map((r) => r.stepsToTarget).filter((s): s is number => s !== null);
      const toTarget: Cell = reached.length === rs.length ? meanStd(reached) : `${reached.length} of ${rs.length} runs reached it`;
      return [v.label, acc, finalLoss, toTarget];
    });
    const table = markdownTable({
      columns: [
        'network',
        { header: 'final test top-1 (%)', decimals: 2 },
        { header: 'final training loss (smoothed)', decimals: 3 },
        { header: `steps to ${pct(cfg.targetTop1, 0)}% test top-1`, decimals: 0 },
      ],
      rows,
    });
    const lossSeries: Series[] = variants
      .map((v) => ({
        name: v.label,
        points: seedBand(
          byVariant(v.label)
            .filter((r) => !r.diverged)
            .map((r) => r.lossCurve),
        ),
      }))
      .filter((s) => s.points.length > 0);
    const testSeries: Series[] = variants
      .map((v) => ({
        name: v.label,
        points: seedBand(
          byVariant(v.label)
            .filter((r) => !r.diverged)
            .map((r) => r.testCurve),
          100,
        ),
      }))
      .filter((s) => s.points.length > 0);
    const band = cfg.seeds.length > 1 ? `; bands: min-max over ${cfg.seeds.length} seeds` : '';
    const figure = hconcatFigures(
      [
        trainingLossPanel(lossSeries),
        lineChart(testSeries, { title: 'Test accuracy', xTitle: 'step', yTitle: 'test top-1 (%)', markers: false, spread: 'band', width: PANEL_WIDTH }),
      ],
      {
        title: `Standard vs BatchNorm vs "noisy" BatchNorm: ${cfg.model} on ${cfg.data.spec}`,
        subtitle: `lr ${cfg.optim.lr}, batch ${cfg.optim.batch}${band}`,
      },
    );
    const findings: string[] = [];
    const meanTop1 = (label: string) => {
      const rs = byVariant(label);
      return rs.every((r) => r.top1 !== null) ? summarize(rs.map((r) => r.top1 ?? 0)).mean : null;
    };
    const [std, bn, noisy] = variants.map((v) => meanTop1(v.label));
    const f = (x: number | null) => (x === null ? 'diverged' : `${pct(x)}%`);
    findings.push(`Final test top-1: standard ${f(std)}, BatchNorm ${f(bn)}, noisy BatchNorm ${f(noisy)}.`);
    for (const v of variants) {
      const reached = byVariant(v.label).map((r) => r.stepsToTarget);
      findings.push(
        `${v.label}: reached ${pct(cfg.targetTop1, 0)}% test top-1 at step ${reached.map((s) => (s === null ? 'never' : String(s))).join(' / ')} (per seed).`,
      );
    }
    return {
      results: { runs },
      setup: [
        `model ${cfg.model} (classic ResNet, 3 stages of 1 basic unit) without normalization ("standard"), with BatchNorm, and with noisy BatchNorm (n_mu ${cfg.noise.nMu}, n_sigma ${cfg.noise.nSigma}, r_mu ${cfg.noise.rMu}, r_sigma ${cfg.noise.rSigma}; noise in training only)`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)}; test accuracy every ${cfg.evalEvery} steps`,
        `seeds ${cfg.seeds.join(', ')}`,
      ],
      sections: [{ heading: 'Measured', markdown: `${cfg.model} on ${cfg.data.spec}, mean ± std over ${cfg.seeds.length} seed(s):\n\n${table}` }],
      figures: [
        { file: 'noisy-bn', caption: 'Training loss and test accuracy of the standard network, with BatchNorm and with noisy BatchNorm', spec: figure },
      ],
      findings,
    };
  },
});

// ---------------------------------------------------------------------------
// noisy-scale: the noise magnitude. Santurkar et al.'s point is that
// BatchNorm's benefit survives the injected shift; noisy-bn runs one
// magnitude (theirs), this sweep scales every constant of it by s (n_mu and
// r_mu, r_sigma by s; n_sigma - 1 by s): s = 0 is plain BatchNorm, s = 1 the
// paper's, s > 1 beyond it, to show where the benefit is lost.

export interface NoisyScaleConfig {
  data: DataConfig;
  model: string;
  optim: OptimConfig;
  /** Multiples of the paper's noise; 0 is BatchNorm without noise. */
  scales: number[];
  seeds: number[];
}

/** Santurkar et al.'s noise scaled by `s` (n_sigma - 1 scales, so s = 0 injects nothing). */
export function scaledNoise(s: number): NoiseSpec {
  const p = SANTURKAR_NOISE;
  return { nMu: s * p.nMu, nSigma: 1 + s * (p.nSigma - 1), rMu: s * p.rMu, rSigma: s * p.rSigma };
}

const NOISY_SCALE_FULL: NoisyScaleConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-16',
  // noisy-bn's settings, 1000 of its 1500 steps (2.1 epochs; sized to the time there was)
  optim: { batch: 128, lr: 0.1, steps: 1000, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  scales: [0, 0.25, 0.5, 1, 2, 4],
  seeds: [0, 1, 2],
};

const NOISY_SCALE_QUICK: NoisyScaleConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-16',
  optim: { batch: 16, lr: 0.1, steps: 4, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  scales: [0, 4],
  seeds: [0],
};

export interface NoisyScaleRun {
  /** Noise scale; null for the standard network (no normalization). */
  scale: number | null;
  seed: number;
  top1: number | null;
  diverged: boolean;
  /** Mean training loss over the last 10% of the steps. */
  finalLoss: number | null;
  seconds: number;
  lossCurve: [number, number][];
}

export interface NoisyScaleResults {
  runs: NoisyScaleRun[];
  /** Per scale: mean final test top-1 minus the standard network's (points / 100). */
  benefit: { scale: number; top1Gain: number | null }[];
}

function noisyScaleVariants(cfg: NoisyScaleConfig): { scale: number | null; variant: NormVariant }[] {
  return [
    { scale: null, variant: { label: 'Standard', norm: { kind: 'none' }, standardize: false } },
    ...cfg.scales.map((s) => ({
      scale: s,
      variant: {
        label: s === 0 ? 'BatchNorm' : `noisy BN x${s}`,
        norm: s === 0 ? ({ kind: 'batch' } as const) : ({ kind: 'batch', noise: scaledNoise(s) } as const),
        standardize: false,
      },
    })),
  ];
}

const meanOf = (xs: readonly (number | null)[]): number | null =>
  xs.length > 0 && xs.every((x): x is number => x !== null) ? summarize(xs as number[]).mean : null;

/** The gain over the standard network (points) at noise scale `s`. */
function gainAt(r: NoisyScaleResults, s: number): number | null {
  const g = r.benefit.find((b) => b.scale === s)?.top1Gain ?? null;
  return g === null ? null : 100 * g;
}
const lastScale = (r: NoisyScaleResults) => Math.max(...r.benefit.map((b) => b.scale));

const NOISY_SCALE_OUTCOMES: Outcome<NoisyScaleResults>[] = [
  {
    name: "BatchNorm with the paper's noise (1x) minus standard, final test top-1 (points; the paper: about BatchNorm's gain)",
    measure: (r) => gainAt(r, 1),
    bands: { full: band(-1, 1, '-0.11 (3 seeds, 2-core EPYC)') },
  },
  {
    name: 'BatchNorm (no noise) minus standard, final test top-1 (points)',
    measure: (r) => gainAt(r, 0),
    bands: { full: band(1, 3, '+1.91 (3 seeds, 2-core EPYC)'), quick: band(7.5, 13.5, '+10.50 (quick form, seed 0, 2-core EPYC)') },
  },
  {
    name: 'BatchNorm with the largest noise minus standard, final test top-1 (points)',
    measure: (r) => gainAt(r, lastScale(r)),
    bands: {
      full: band(-45, -10, '-25.14 at 4x (3 seeds, std 9.8, 2-core EPYC)'),
      quick: band(-0.5, 5.5, '+2.50 (quick form, seed 0, 2-core EPYC); +10.50 without the noise'),
    },
  },
];

export const noisyScale = defineExperiment<NoisyScaleConfig, NoisyScaleResults>({
  name: 'noisy-scale',
  title: "BatchNorm's benefit against the magnitude of the injected noise (0 = BatchNorm, 1 = Santurkar et al.'s, up to 4x)",
  echoes: 'Santurkar et al. 2018, Algorithm 1 and Figure 2, over the noise magnitude',
  published: noisyPublished(),
  configs: { full: NOISY_SCALE_FULL, quick: NOISY_SCALE_QUICK },
  outcomes: NOISY_SCALE_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * (c.scales.length + 1),
  expectedMinutes: 10,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    const variants = noisyScaleVariants(cfg);
    const runs: NoisyScaleRun[] = [];
    for (const seed of cfg.seeds) {
      for (const v of variants) {
        const o = await trainVariant(ctx, cfg, data, v.variant, seed, `${slug(v.variant.label)}-seed-${seed}`);
        const tail = o.losses.slice(-Math.max(1, Math.floor(o.losses.length / 10)));
        runs.push({
          scale: v.scale,
          seed,
          top1: o.top1,
          diverged: o.diverged,
          finalLoss: o.diverged ? null : summarize(tail).mean,
          seconds: o.seconds,
          lossCurve: smoothCurve(o.losses, Math.max(1, Math.floor(cfg.optim.steps / 60)), 0.9),
        });
      }
    }
    const of = (scale: number | null) => runs.filter((r) => r.scale === scale);
    const standard = meanOf(of(null).map((r) => r.top1));
    const benefit = cfg.scales.map((s) => {
      const m = meanOf(of(s).map((r) => r.top1));
      return { scale: s, top1Gain: m !== null && standard !== null ? m - standard : null };
    });
    const table = markdownTable({
      columns: [
        'network',
        { header: 'noise scale', decimals: 2 },
        { header: 'final test top-1 (%)', decimals: 2 },
        { header: 'gain over standard (pts)', decimals: 2 },
        { header: 'final training loss', decimals: 3 },
      ],
      rows: variants.map((v) => {
        const rs = of(v.scale);
        const ok = rs.every((r) => r.top1 !== null);
        const gain = v.scale === null ? null : (benefit.find((b) => b.scale === v.scale)?.top1Gain ?? null);
        return [
          v.variant.label,
          v.scale === null ? '—' : v.scale,
          ok ? meanStd(rs.map((r) => 100 * (r.top1 as number))) : 'diverged',
          gain === null ? '—' : 100 * gain,
          ok ? meanStd(rs.map((r) => r.finalLoss as number)) : null,
        ];
      }),
    });
    const accSeries: Series[] = [
      {
        name: 'BatchNorm with noise',
        points: cfg.scales.flatMap((s) => {
          const xs = of(s).filter((r) => r.top1 !== null);
          return xs.length > 0
            ? [
                pointFromSeeds(
                  s,
                  xs.map((r) => 100 * (r.top1 as number)),
                ),
              ]
            : [];
        }),
      },
    ];
    const std = of(null).filter((r) => r.top1 !== null);
    if (std.length > 0) {
      const sv = std.map((r) => 100 * (r.top1 as number));
      accSeries.push({ name: 'Standard (no norm)', points: [pointFromSeeds(cfg.scales[0], sv), pointFromSeeds(cfg.scales[cfg.scales.length - 1], sv)] });
    }
    const lossSeries: Series[] = variants
      .map((v) => ({
        name: v.variant.label,
        points: seedBand(
          of(v.scale)
            .filter((r) => !r.diverged)
            .map((r) => r.lossCurve),
        ),
      }))
      .filter((s) => s.points.length > 0);
    const figure = hconcatFigures(
      [
        lineChart(accSeries, {
          title: 'Final test top-1 against the noise scale',
          xTitle: 'noise scale (1 = Santurkar et al.)',
          yTitle: 'test top-1 (%)',
          xTicks: cfg.scales,
          width: PANEL_WIDTH,
        }),
        trainingLossPanel(lossSeries),
      ],
      {
        title: `BatchNorm's benefit against the injected noise: ${cfg.model} on ${cfg.data.spec}`,
        subtitle: `lr ${cfg.optim.lr}, batch ${cfg.optim.batch}; min-max over ${cfg.seeds.length} seed(s)`,
        sharedColor: false,
      },
    );
    const findings: string[] = [];
    const f = (x: number | null) => (x === null ? 'n/a' : `${signedPts(x)} pts`);
    findings.push(`Gain of BatchNorm over the standard network by noise scale: ${benefit.map((b) => `x${b.scale}: ${f(b.top1Gain)}`).join(', ')}.`);
    const bnGain = benefit.find((b) => b.scale === 0)?.top1Gain ?? null;
    const lost = benefit.find((b) => b.scale > 0 && b.top1Gain !== null && bnGain !== null && b.top1Gain < bnGain / 2);
    findings.push(
      lost
        ? `Half of BatchNorm's gain is lost from noise scale ${lost.scale} (${lost.scale === 1 ? "the paper's magnitude" : lost.scale < 1 ? "below the paper's magnitude" : "beyond the paper's magnitude"}).`
        : `BatchNorm keeps at least half of its gain at every noise scale tried (up to ${cfg.scales[cfg.scales.length - 1]}x the paper's).`,
    );
    return {
      results: { runs, benefit },
      setup: [
        `model ${cfg.model} without normalization ("standard") and with BatchNorm carrying Santurkar et al.'s noise scaled by s in {${cfg.scales.join(', ')}} (n_mu, r_mu, r_sigma and n_sigma - 1 times s; s = 0 is plain BatchNorm; noise in training only)`,
        describeData(cfg.data, data.train, data.test),
        describeOptim(cfg.optim),
        `seeds ${cfg.seeds.join(', ')}`,
      ],
      sections: [{ heading: 'Measured', markdown: `${cfg.model} on ${cfg.data.spec}, mean ± std over ${cfg.seeds.length} seed(s):\n\n${table}` }],
      figures: [
        {
          file: 'noisy-scale',
          caption: 'Final test top-1 against the noise scale (the standard network as reference), and the training loss of each',
          spec: figure,
        },
      ],
      findings,
    };
  },
});
