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
  defineExperiment,
  describeData,
  describeOptim,
  openData,
  pct,
  slug,
  smoothCurve,
  trainVariant,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
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

/** The three networks: without normalization, with BatchNorm, with BatchNorm and injected noise. */
function noisyBnVariants(cfg: NoisyBnConfig): NormVariant[] {
  return [
    { label: 'Standard', norm: { kind: 'none' }, standardize: false },
    { label: 'Standard + BatchNorm', norm: { kind: 'batch' }, standardize: false },
    { label: 'Standard + "Noisy" BatchNorm', norm: { kind: 'batch', noise: cfg.noise }, standardize: false },
  ];
}

export const noisyBn = defineExperiment<NoisyBnConfig, NoisyBnResults>({
  name: 'noisy-bn',
  title: 'Standard network vs BatchNorm vs "noisy" BatchNorm (injected covariate shift)',
  echoes: 'Santurkar et al. 2018, Algorithm 1 and Figure 2 (the lecture\'s "Experiment: Input Distribution" slides)',
  published: {
    markdown: `${NOISY_BN_PUBLISHED.source}, with n_mu = ${SANTURKAR_NOISE.nMu}, n_sigma = ${SANTURKAR_NOISE.nSigma}, r_mu = ${SANTURKAR_NOISE.rMu}, r_sigma = ${SANTURKAR_NOISE.rSigma}: ${NOISY_BN_PUBLISHED.claim}\n`,
    data: NOISY_BN_PUBLISHED,
  },
  configs: { full: FULL, quick: QUICK },
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
        lineChart(lossSeries, {
          title: 'Training loss (smoothed)',
          xTitle: 'step',
          yTitle: 'training loss',
          markers: false,
          spread: 'band',
          width: PANEL_WIDTH,
          logY: true,
        }),
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
