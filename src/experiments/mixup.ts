// mixup: Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization" (the
// lecture's mixup slides): ERM vs mixup (alpha 0.1, 0.2, 0.4) on a medium-sized
// task, mixing images and labels as the paper does (through the trainer's
// MixUp: one lambda ~ Beta(alpha, alpha) per step, each image mixed with a
// permutation of its batch); the "misses between training points" measure of
// their Figure 2(a) (at x = lam * x_i + (1 - lam) * x_j, a prediction is a miss
// if it is neither y_i nor y_j); and the 2-D toy problem of their Figure 1(b)
// (two classes in the plane, p(y = 1 | x) shaded, ERM vs mixup alpha = 1).
import { evalLoader, type Dataset } from '../data/index.js';
import { getModel, type ImageClassifier } from '../models/index.js';
import { Dense, Module, VarStore } from '../nn/index.js';
import {
  heatmapWithPoints,
  lineChart,
  markdownTable,
  meanStd,
  pointFromSeeds,
  summarize,
  type Cell,
  type HeatmapPanel,
  type LabelledPoint,
  type Series,
} from '../report/index.js';
import * as T from '../tensor/index.js';
import { rawImages, toModelInput } from '../train/batch.js';
import { mixupLambda } from '../train/mixup.js';
import { TrainStep } from '../train/step.js';
import { UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import {
  band,
  checkStop,
  defineExperiment,
  describeData,
  describeOptim,
  meanOrNull,
  openData,
  pct,
  seeded,
  signedPts,
  studyRecipe,
  trainRun,
  withModel,
  type DataConfig,
  type OptimConfig,
  type Outcome,
  type RunContext,
} from './common.js';

export interface ToyConfig {
  /** Points per class of the two interleaved half-moons. */
  perClass: number;
  /** Standard deviation of the Gaussian noise added to the points. */
  noise: number;
  hidden: number;
  steps: number;
  lr: number;
  /** mixup alpha of the toy's mixup panel (the paper: 1). */
  alpha: number;
  /** Cells per side of the p(y = 1 | x) grid. */
  grid: number;
  seed: number;
}

export interface MixupConfig {
  data: DataConfig;
  model: string;
  /** 0 = ERM. */
  alphas: number[];
  optim: OptimConfig;
  seeds: number[];
  /** Pairs of training images (different labels) the misses are counted on. */
  missPairs: number;
  /** Mixing weights of the miss measure. */
  missLambdas: number[];
  toy: ToyConfig;
}

/**
 * Zhang et al. 2018, Table 1 (the lecture's table): ILSVRC-2012 top-1 error (%)
 * of ERM vs mixup; and what their Figures 1(b) and 2(a) show.
 */
export const MIXUP_PUBLISHED = {
  source: 'Zhang et al. 2018, Table 1 (ILSVRC-2012 validation top-1 error %)',
  imagenet: [
    { model: 'ResNet-50', epochs: 90, erm: 23.5, mixup: 23.3, alpha: 0.2 },
    { model: 'ResNet-101', epochs: 90, erm: 22.1, mixup: 21.5, alpha: 0.2 },
    { model: 'ResNeXt-101 32*4d', epochs: 90, erm: 21.2, mixup: 20.7, alpha: 0.4 },
    { model: 'ResNeXt-101 64*4d', epochs: 90, erm: 20.4, mixup: 19.8, alpha: 0.4 },
    { model: 'ResNet-50', epochs: 200, erm: 23.6, mixup: 22.1, alpha: 0.2 },
    { model: 'ResNet-101', epochs: 200, erm: 22.0, mixup: 20.8, alpha: 0.2 },
    { model: 'ResNeXt-101 32*4d', epochs: 200, erm: 21.3, mixup: 20.1, alpha: 0.4 },
  ],
  misses: 'Figure 2(a): the model trained with mixup has fewer misses between training points than ERM.',
  toy: 'Figure 1(b): on a 2-D toy problem ERM draws a sharp boundary, mixup (alpha = 1) a smooth transition of p(y = 1 | x) between the classes.',
};

const FULL: MixupConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-16',
  alphas: [0, 0.1, 0.2, 0.4],
  // 3000 steps of 128: 6.4 epochs of Fashion-MNIST; the lr of the other ResNet-8-16 studies.
  optim: { batch: 128, lr: 0.1, steps: 3000, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0, 1],
  missPairs: 2000,
  missLambdas: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
  toy: { perClass: 60, noise: 0.12, hidden: 100, steps: 3000, lr: 0.1, alpha: 1, grid: 60, seed: 0 },
};

const QUICK: MixupConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-16',
  alphas: [0, 0.2],
  optim: { batch: 16, lr: 0.1, steps: 3, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
  missPairs: 64,
  missLambdas: [0.25, 0.5],
  toy: { perClass: 20, noise: 0.12, hidden: 16, steps: 20, lr: 0.1, alpha: 1, grid: 12, seed: 0 },
};

export interface MixupRun {
  alpha: number;
  seed: number;
  /** Test error in [0, 1]; null when the run diverged. */
  error: number | null;
  diverged: boolean;
  seconds: number;
  /** Miss rate at each of missLambdas (null when diverged). */
  missRates: number[] | null;
}

export interface ToyResult {
  points: { x: number; y: number; label: number }[];
  xs: number[];
  ys: number[];
  /** p(y = 1 | x) on the grid, p[j][i] at (xs[i], ys[j]), per method. */
  erm: number[][];
  mixup: number[][];
  ermTrainAccuracy: number;
  mixupTrainAccuracy: number;
}

export interface MixupResults {
  runs: MixupRun[];
  toy: ToyResult;
}

const methodName = (alpha: number) => (alpha === 0 ? 'ERM' : `mixup α=${alpha}`);

// ---------------------------------------------------------------------------
// misses between training points

interface PairImages {
  a: T.Tensor;
  b: T.Tensor;
  ya: Int32Array;
  yb: Int32Array;
}

/** `n` pairs of training images with different labels, drawn with libtorch's generator from `seed`, as model inputs (kept). */
async function drawPairs(train: Dataset, n: number, seed: number, workers: number | undefined): Promise<PairImages> {
  const labels = train.requireLabels('the miss measure');
  const [pa, pb] = seeded(seed, () => T.tidy(() => [T.randperm(train.length).toArray(), T.randperm(train.length).toArray()]));
  const ia: number[] = [];
  const ib: number[] = [];
  for (let k = 0; k < pa.length && ia.length < n; k++) {
    if (labels[pa[k]] !== labels[pb[k]]) {
      ia.push(pa[k]);
      ib.push(pb[k]);
    }
  }
  const load = async (idx: number[]): Promise<T.Tensor> => {
    const loader = evalLoader(train.subset(Int32Array.from(idx), `${train.name}[miss pairs]`), { batchSize: 500, crop: 28, workers });
    const parts: T.Tensor[] = [];
    try {
      for await (const b of loader) parts.push(T.keep(T.tidy(() => toModelInput(rawImages(b)))));
      return T.keep(T.tidy(() => T.cat(parts, 0)));
    } finally {
      T.dispose(parts);
      await loader.close();
    }
  };
  const a = await load(ia);
  const b = await load(ib);
  return { a, b, ya: Int32Array.from(ia, (i) => labels[i]), yb: Int32Array.from(ib, (i) => labels[i]) };
}

/** Fraction of lam * a + (1 - lam) * b predicted as neither label, per lam. */
function missRates(model: ImageClassifier, pairs: PairImages, lambdas: readonly number[]): number[] {
  const wasTraining = model.training;
  model.eval();
  try {
    return lambdas.map((lam) => {
      let misses = 0;
      const n = pairs.ya.length;
      for (let start = 0; start < n; start += 500) {
        const len = Math.min(500, n - start);
        const pred = T.tidy(() =>
          T.noGrad(() => {
            const x = pairs.a
              .narrow(0, start, len)
              .mul(lam)
              .add(pairs.b.narrow(0, start, len).mul(1 - lam));
            return model.forward(x).argmax(1).toArray();
          }),
        );
        pred.forEach((p, k) => {
          if (p !== pairs.ya[start + k] && p !== pairs.yb[start + k]) misses++;
        });
      }
      return misses / n;
    });
  } finally {
    model.train(wasTraining);
  }
}

// ---------------------------------------------------------------------------
// the 2-D toy problem

/** A small ReLU MLP on 2-D inputs, parameters in a VarStore like every model here. */
class ToyMlp extends Module {
  readonly store = new VarStore();
  readonly #layers: Dense[];
  constructor(hidden: number) {
    super();
    const r = this.store.root().sub('mlp');
    this.#layers = [new Dense(r.sub('fc1'), 2, hidden), new Dense(r.sub('fc2'), hidden, hidden), new Dense(r.sub('fc3'), hidden, 2)].map((l) => this.child(l));
  }
  forward(x: T.Tensor): T.Tensor {
    let h = x;
    this.#layers.forEach((l, i) => {
      h = l.forward(h);
      if (i < this.#layers.length - 1) h = h.relu();
    });
    return h;
  }
  override dispose(): void {
    super.dispose();
    this.store.dispose();
  }
}

/** Two interleaved half-moons (class 0 upper, class 1 lower), Gaussian noise, from libtorch's generator. */
function moons(cfg: ToyConfig): { x: number[]; y: number[]; label: number[] } {
  return seeded(cfg.seed, () =>
    T.tidy(() => {
      const n = cfg.perClass;
      const t0 = T.rand([n]).mul(Math.PI);
      const t1 = T.rand([n]).mul(Math.PI);
      const x = T.cat([t0.cos(), t1.cos().neg().add(1)]).add(T.randn([2 * n]).mul(cfg.noise));
      const y = T.cat([t0.sin(), t1.sin().neg().add(0.5)]).add(T.randn([2 * n]).mul(cfg.noise));
      return { x: x.toArray(), y: y.toArray(), label: [...Array<number>(n).fill(0), ...Array<number>(n).fill(1)] };
    }),
  );
}

/** Trains the toy MLP full-batch (mixup when alpha > 0: one lambda per step, a permutation as partners); returns p(y=1|x) on the grid and the training accuracy. */
function trainToy(
  cfg: ToyConfig,
  alpha: number,
  pts: { x: number[]; y: number[]; label: number[] },
  xs: number[],
  ys: number[],
): { p: number[][]; accuracy: number } {
  const mlp = seeded(cfg.seed, () => new ToyMlp(cfg.hidden));
  const trainStep = new TrainStep({ model: mlp, sgd: { momentum: 0.9, weightDecay: 0 } });
  try {
    const n = pts.label.length;
    const X = T.keep(
      T.tensor(
        pts.x.flatMap((v, i) => [v, pts.y[i]]),
        [n, 2],
      ),
    );
    const Y = T.keep(T.tidy(() => T.oneHot(T.tensor(pts.label, [n], 'int64'), 2).float()));
    T.manualSeed(cfg.seed + 1);
    for (let step = 0; step < cfg.steps; step++) {
      // mixup as the trainer's, with a permutation from libtorch's generator as the partners
      const mix = alpha > 0 ? { lam: mixupLambda(alpha, cfg.seed, step), partners: () => T.randperm(n) } : null;
      T.tidy(() => void trainStep.run({ images: X, labels: Y, lr: cfg.lr, mix }));
    }
    const result = T.tidy(() =>
      T.noGrad(() => {
        const grid = T.tensor(
          ys.flatMap((gy) => xs.flatMap((gx) => [gx, gy])),
          [xs.length * ys.length, 2],
        );
        const p1 = T.softmax(mlp.forward(grid), 1).select(1, 1).toArray();
        const pred = mlp.forward(X).argmax(1).toArray();
        return { p1, hits: pred.filter((c, i) => c === pts.label[i]).length };
      }),
    );
    X.dispose();
    Y.dispose();
    const p = ys.map((_, j) => xs.map((_, i) => Math.min(1, Math.max(0, result.p1[j * xs.length + i]))));
    return { p, accuracy: result.hits / n };
  } finally {
    trainStep.dispose();
    mlp.dispose();
  }
}

function runToy(cfg: ToyConfig): ToyResult {
  const pts = moons(cfg);
  const pad = 0.5;
  const axis = (v: number[]) => {
    const lo = Math.min(...v) - pad;
    const hi = Math.max(...v) + pad;
    return Array.from({ length: cfg.grid }, (_, i) => Number((lo + ((i + 0.5) * (hi - lo)) / cfg.grid).toFixed(4)));
  };
  const xs = axis(pts.x);
  const ys = axis(pts.y);
  const erm = trainToy(cfg, 0, pts, xs, ys);
  const mix = trainToy(cfg, cfg.alpha, pts, xs, ys);
  return {
    points: pts.label.map((label, i) => ({ x: Number(pts.x[i].toFixed(4)), y: Number(pts.y[i].toFixed(4)), label })),
    xs,
    ys,
    erm: erm.p.map((r) => r.map((v) => Number(v.toFixed(4)))),
    mixup: mix.p.map((r) => r.map((v) => Number(v.toFixed(4)))),
    ermTrainAccuracy: erm.accuracy,
    mixupTrainAccuracy: mix.accuracy,
  };
}

// ---------------------------------------------------------------------------

async function trainAll(cfg: MixupConfig, ctx: RunContext, train: Dataset, test: Dataset, pairs: PairImages): Promise<MixupRun[]> {
  const runs: MixupRun[] = [];
  for (const seed of cfg.seeds) {
    for (const alpha of cfg.alphas) {
      checkStop(ctx);
      runs.push(
        await withModel(
          () => seeded(seed, () => getModel(cfg.model).build({ headSize: train.numClasses })),
          async (model) => {
            const o = await trainRun(ctx, {
              name: `${alpha === 0 ? 'erm' : `mixup-${alpha}`}-seed-${seed}`,
              model,
              modelName: cfg.model,
              train,
              test,
              dataSpec: cfg.data.spec,
              recipe: studyRecipe(cfg.optim, { mixupAlpha: alpha }),
              seed,
            });
            return {
              alpha,
              seed,
              error: o.top1 === null ? null : 1 - o.top1,
              diverged: o.diverged,
              seconds: o.seconds,
              missRates: o.diverged ? null : missRates(model, pairs, cfg.missLambdas),
            };
          },
        ),
      );
    }
  }
  return runs;
}

/** The mean over seeds of `of` for the runs with `alpha`; null when one is missing. */
function alphaMean(r: MixupResults, alpha: number, of: (x: MixupRun) => number | null): number | null {
  return meanOrNull(r.runs.filter((x) => x.alpha === alpha).map(of));
}
const missMean = (x: MixupRun) => (x.missRates === null ? null : x.missRates.reduce((a, b) => a + b, 0) / x.missRates.length);
/** Both forms train α = 0.2 (the paper's for ResNet-50). */
const CHECKED_ALPHA = 0.2;

/** The results as checked numbers (docs/experiments.md; full bands around the 2-seed run there, quick bands around the quick form's value). */
const MIXUP_OUTCOMES: Outcome<MixupResults>[] = [
  {
    name: `ERM minus mixup α=${CHECKED_ALPHA}, misses between training images, mean over λ (points)`,
    measure: (r) => {
      const a = alphaMean(r, 0, missMean);
      const b = alphaMean(r, CHECKED_ALPHA, missMean);
      return a === null || b === null ? null : 100 * (a - b);
    },
    bands: { full: band(3, 8, '+5.29 (2 seeds, 2-core Xeon)') },
  },
  {
    name: `mixup α=${CHECKED_ALPHA} minus ERM, test error (points; published -0.2 at 90 epochs)`,
    measure: (r) => {
      const a = alphaMean(r, CHECKED_ALPHA, (x) => x.error);
      const b = alphaMean(r, 0, (x) => x.error);
      return a === null || b === null ? null : 100 * (a - b);
    },
    bands: { full: band(-0.5, 1, '+0.25 (2 seeds, 2-core Xeon)'), quick: band(1.5, 6.5, '+4.00 (quick form, seed 0, 2-core EPYC); 0 without mixing') },
  },
];

export const mixup = defineExperiment<MixupConfig, MixupResults>({
  name: 'mixup',
  title: 'ERM vs mixup: test error, misses between training points, the 2-D toy problem',
  echoes: "Zhang et al. 2018, Table 1 and Figures 1(b) and 2(a) (the lecture's mixup slides)",
  published: {
    markdown:
      `${MIXUP_PUBLISHED.source}:\n\n` +
      markdownTable({
        columns: ['model', 'epochs', { header: 'ERM', decimals: 1 }, { header: 'mixup', decimals: 1 }, { header: 'α', decimals: 1 }],
        rows: MIXUP_PUBLISHED.imagenet.map((r) => [r.model, r.epochs, r.erm, r.mixup, r.alpha]),
      }) +
      `\n${MIXUP_PUBLISHED.misses}\n\n${MIXUP_PUBLISHED.toy}\n`,
    data: MIXUP_PUBLISHED,
  },
  configs: { full: FULL, quick: QUICK },
  outcomes: MIXUP_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * c.alphas.length,
  expectedMinutes: 24,
  async run(cfg, ctx) {
    const { train, test } = await openData(cfg.data);
    const pairs = await drawPairs(train, cfg.missPairs, 12345, ctx.workers);
    let runs: MixupRun[];
    try {
      runs = await trainAll(cfg, ctx, train, test, pairs);
    } finally {
      T.dispose([pairs.a, pairs.b]);
    }
    ctx.log('  toy problem: ERM and mixup MLPs on two half-moons');
    const toy = runToy(cfg.toy);

    const rows: Cell[][] = cfg.alphas.map((alpha) => {
      const rs = runs.filter((r) => r.alpha === alpha);
      const ok = rs.every((r) => r.error !== null && r.missRates !== null);
      if (!ok) return [methodName(alpha), 'diverged', null, ...cfg.missLambdas.map(() => null)];
      return [
        methodName(alpha),
        meanStd(rs.map((r) => 100 * (r.error ?? 0))),
        meanStd(rs.map((r) => 100 * summarize(r.missRates ?? []).mean)),
        ...cfg.missLambdas.map((_, k) => summarize(rs.map((r) => 100 * (r.missRates ?? [])[k])).mean),
      ];
    });
    const table = markdownTable({
      columns: [
        'method',
        { header: 'test error (%)', decimals: 2 },
        { header: 'misses, mean over λ (%)', decimals: 2 },
        ...cfg.missLambdas.map((l) => ({ header: `λ=${l}`, decimals: 1 })),
      ],
      rows,
    });
    const missSeries: Series[] = cfg.alphas
      .map((alpha) => {
        const rs = runs.filter((r) => r.alpha === alpha && r.missRates !== null);
        return {
          name: methodName(alpha),
          points:
            rs.length === 0
              ? []
              : cfg.missLambdas.map((l, k) =>
                  pointFromSeeds(
                    l,
                    rs.map((r) => 100 * (r.missRates ?? [])[k]),
                  ),
                ),
        };
      })
      .filter((s) => s.points.length > 0);
    const missFigure = lineChart(missSeries, {
      title: 'Misses between training points',
      subtitle: `${cfg.model} on ${cfg.data.spec}: predictions at λ·x_i + (1−λ)·x_j that are neither y_i nor y_j (${cfg.missPairs} pairs, different labels)`,
      xTitle: 'λ',
      yTitle: 'miss rate (%)',
      xTicks: cfg.missLambdas,
      legendTitle: 'training',
    });
    const label = (c: number) => `class ${c}`;
    const pts: LabelledPoint[] = toy.points.map((p) => ({ x: p.x, y: p.y, label: label(p.label) }));
    const panels: HeatmapPanel[] = [
      { name: 'ERM', grid: { xs: toy.xs, ys: toy.ys, p: toy.erm }, points: pts },
      { name: `mixup α=${cfg.toy.alpha}`, grid: { xs: toy.xs, ys: toy.ys, p: toy.mixup }, points: pts },
    ];
    const toyFigure = heatmapWithPoints(panels, {
      title: 'Effect of mixup on a toy problem',
      subtitle: 'shading: p(y = 1 | x) of a 2-layer ReLU MLP',
      xTitle: 'x₁',
      yTitle: 'x₂',
      valueTitle: 'p(y=1|x)',
    });

    const findings: string[] = [];
    const meanErr = (alpha: number) => {
      const rs = runs.filter((r) => r.alpha === alpha);
      return rs.every((r) => r.error !== null) ? summarize(rs.map((r) => r.error ?? 0)).mean : null;
    };
    const meanMiss = (alpha: number) => {
      const rs = runs.filter((r) => r.alpha === alpha);
      return rs.every((r) => r.missRates !== null) ? summarize(rs.map((r) => summarize(r.missRates ?? []).mean)).mean : null;
    };
    const erm = meanErr(0);
    const ermMiss = meanMiss(0);
    for (const alpha of cfg.alphas.filter((a) => a > 0)) {
      const e = meanErr(alpha);
      const m = meanMiss(alpha);
      findings.push(
        `mixup α=${alpha}: test error ${e === null ? 'diverged' : `${pct(e)}%`}` +
          (e !== null && erm !== null ? ` (${signedPts(e - erm)} pts vs ERM's ${pct(erm)}%)` : '') +
          `; misses ${m === null ? 'n/a' : `${pct(m)}%`}` +
          (m !== null && ermMiss !== null ? ` (ERM ${pct(ermMiss)}%)` : '') +
          '.',
      );
    }
    findings.push(`Toy problem: training accuracy ERM ${pct(toy.ermTrainAccuracy, 1)}%, mixup α=${cfg.toy.alpha} ${pct(toy.mixupTrainAccuracy, 1)}%.`);
    return {
      results: { runs, toy },
      setup: [
        `model ${cfg.model} (classic ResNet with BatchNorm, 3 stages of 1 basic unit); ERM and mixup with α in {${cfg.alphas.filter((a) => a > 0).join(', ')}} (one λ ~ Beta(α, α) per step, each image mixed with a permutation of its batch, labels alike)`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)}; seeds ${cfg.seeds.join(', ')}`,
        `misses: ${cfg.missPairs} pairs of training images with different labels, mixed at λ in {${cfg.missLambdas.join(', ')}}; a miss is a prediction that is neither label`,
        `toy: two half-moons of ${cfg.toy.perClass} points per class (noise ${cfg.toy.noise}), MLP 2-${cfg.toy.hidden}-${cfg.toy.hidden}-2 with ReLU, full-batch SGD (momentum 0.9, lr ${cfg.toy.lr}) for ${cfg.toy.steps} steps, ERM vs mixup α=${cfg.toy.alpha}`,
      ],
      sections: [
        {
          heading: 'Measured',
          markdown: `${cfg.model} on ${cfg.data.spec}, mean ± std over ${cfg.seeds.length} seed(s); miss rates per λ are means over seeds:\n\n${table}`,
        },
      ],
      figures: [
        { file: 'mixup-misses', caption: 'Miss rate at interpolated training inputs, ERM vs mixup', spec: missFigure },
        { file: 'mixup-toy', caption: 'p(y = 1 | x) on the 2-D toy problem, ERM vs mixup α = 1', spec: toyFigure },
      ],
      findings,
    };
  },
});
