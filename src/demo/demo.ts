// "BiT in miniature": the paper's claim on real data that can be had here.
//
//   1. upstream: pre-train a small BiT (GroupNorm + WS ResNet-v2) on MNIST with
//      BiT's upstream recipe, twice: on 100% and on 10% of the data (same
//      number of steps, so only the amount of upstream data differs);
//   2. downstream: transfer to UCI digits (8x8 scans, a dataset independent of
//      MNIST) with 1, 5, 10 and 25 examples per class, 3 seeds each, with the
//      closed-form linear evaluator and with BiT-HyperRule fine-tuning;
//   3. baseline: the same model from random initialisation on the same shots.
//
// Sized for a 2-core CPU: 32x32 inputs, and the fine-tuning schedule scaled
// down from the HyperRule's 500 steps at batch 512 (the scaled numbers are
// printed and recorded). Upstream checkpoints are cached in the output folder,
// so a second run only repeats the downstream part.
import * as path from 'node:path';
import { openDataset, parseDataSpec, type CropStyle } from '../data/index.js';
import { linearFewShot, type FewShotRow } from '../eval/fewshot.js';
import { finetuneFewShot } from '../eval/fewshot-finetune.js';
import { formatFewShot, saveFewShot, type FewShotCurve } from '../eval/fewshot-report.js';
import { runOnce } from '../eval/runs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { getModel, loadWeights } from '../models/index.js';
import * as T from '../tensor/index.js';
import { pretrain } from '../train/pretrain.js';
import type { RecipeOverrides } from '../train/recipes.js';
import { MODEL_FILE } from '../train/trainer.js';
import { RunProgress } from '../util/progress.js';

export interface DemoConfig {
  model: string;
  upstreamData: string;
  /** Fractions of the upstream training set, each pre-trained separately. */
  upstreamFractions: readonly number[];
  upstreamSteps: number;
  upstreamBatch: number;
  downstreamData: string;
  shots: readonly number[];
  seeds: number;
  /** Input resolution (crop) and resize size everywhere. */
  crop: number;
  precrop: number;
  /** The upstream crop style (the upstream recipe's default is BiT's Inception-style crop). */
  upstreamCrop: CropStyle;
  /** The HyperRule's fine-tuning schedule, scaled for a CPU. */
  finetune: RecipeOverrides;
}

/** The demo as README quotes it (about 10 minutes on 2 cores; the upstream part is cached). */
export const DEMO: DemoConfig = {
  model: 'BiT-Mini',
  upstreamData: 'mnist',
  upstreamFractions: [1, 0.1],
  upstreamSteps: 400,
  upstreamBatch: 128,
  downstreamData: 'digits',
  shots: [1, 5, 10, 25],
  seeds: 3,
  crop: 32,
  precrop: 36,
  // Resize then a random crop, not the Inception-style crop BiT uses upstream: MNIST digits are
  // centred 20x20 strokes on 28x28, and a window of 5% of the image holds a stroke or two of them.
  upstreamCrop: 'resize',
  // The HyperRule's 500 steps at batch 512, scaled to 100 steps at batch 32 (warm-up 20, /10 after
  // 40/60/80). The learning rate stays at the HyperRule's 0.003: its batch/512 scaling assumes the
  // full schedule, and with 5x fewer steps of a 16x smaller batch it underfits (measured here,
  // 10-shot digits from the MNIST-100% upstream, seed 0: 85.0% with lr 0.003 x 32/512, 90.0% with 0.003).
  finetune: { steps: 100, batch: 32, lr: 0.003 },
};

/** A few-minute version for tests; its 200 upstream steps are what it takes for transfer to beat scratch (the test checks it). */
export const QUICK_DEMO: DemoConfig = {
  ...DEMO,
  model: 'BiT-Tiny',
  upstreamSteps: 200,
  upstreamBatch: 32,
  shots: [1, 5],
  seeds: 2,
  crop: 16,
  precrop: 18,
  finetune: { steps: 10, batch: 16 },
};

export interface DemoResult {
  curves: FewShotCurve[];
  upstream: { label: string; fraction: number; top1: number | null; weights: string }[];
  verdict: string;
  files: string[];
  seconds: number;
}

function label(fraction: number, data: string): string {
  return `${data} ${Math.round(fraction * 100)}%`;
}

function meanAt(curve: FewShotCurve | undefined, shots: number): number {
  return curve?.rows.find((r) => r.shots === shots)?.mean ?? NaN;
}

/** One line: did transfer beat training from scratch with few examples? */
export function verdict(curves: readonly FewShotCurve[], full: string, small: string, lowShots: number, highShots: number): string {
  const parts: string[] = [];
  for (const method of ['linear', 'finetune'] as const) {
    const up = curves.find((c) => c.method === method && c.label === full);
    const scratch = curves.find((c) => c.method === method && c.label === 'from scratch');
    const tenth = curves.find((c) => c.method === method && c.label === small);
    if (!up || !scratch) continue;
    const gain = 100 * (meanAt(up, lowShots) - meanAt(scratch, lowShots));
    const dataLow = 100 * (meanAt(up, lowShots) - meanAt(tenth, lowShots));
    const dataHigh = 100 * (meanAt(up, highShots) - meanAt(tenth, highShots));
    parts.push(
      `${method}: transfer ${gain > 0 ? `beat scratch at ${lowShots}-shot by ${gain.toFixed(1)} points` : `did NOT beat scratch at ${lowShots}-shot (${gain.toFixed(1)} points)`}; ` +
        `100% vs 10% upstream: ${dataLow >= 0 ? '+' : ''}${dataLow.toFixed(1)} points at ${lowShots}-shot, ${dataHigh >= 0 ? '+' : ''}${dataHigh.toFixed(1)} at ${highShots}-shot`,
    );
  }
  return parts.join(' | ');
}

export async function runDemo(
  cfg: DemoConfig,
  out: string,
  opts: { workers?: number; signal?: AbortSignal; log?: (m: string) => void } = {},
): Promise<DemoResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const entry = getModel(cfg.model);
  const upstream: DemoResult['upstream'] = [];
  for (const fraction of cfg.upstreamFractions) {
    const dir = path.join(out, `upstream-${Math.round(fraction * 100)}pct`);
    const data = fraction < 1 ? `${cfg.upstreamData}?fraction=${fraction}&seed=0` : cfg.upstreamData;
    const name = label(fraction, cfg.upstreamData);
    const { metrics: m, reused } = await runOnce(dir, () => {
      log(`upstream ${name}: pre-training ${cfg.model} for ${cfg.upstreamSteps} steps at batch ${cfg.upstreamBatch}, ${cfg.crop}px`);
      return pretrain({
        model: cfg.model,
        data,
        out: dir,
        steps: cfg.upstreamSteps,
        batch: cfg.upstreamBatch,
        crop: cfg.crop,
        precrop: cfg.precrop,
        cropStyle: cfg.upstreamCrop,
        seed: 0,
        workers: opts.workers,
        signal: opts.signal,
      });
    });
    log(
      reused
        ? `upstream ${name}: cached in ${dir} (top-1 ${(100 * (m.top1 ?? 0)).toFixed(2)}%)`
        : `upstream ${name}: test top-1 ${(100 * (m.top1 ?? 0)).toFixed(2)}% after ${m.steps} steps (${m.images_per_s.toFixed(0)} img/s)`,
    );
    upstream.push({ label: label(fraction, cfg.upstreamData), fraction, top1: m.top1, weights: path.join(dir, MODEL_FILE) });
  }

  const spec = parseDataSpec(cfg.downstreamData);
  const train = await openDataset(spec, 'train');
  const test = await openDataset(spec, 'test');
  const curves: FewShotCurve[] = [];
  const sources = [...upstream.map((u) => ({ label: u.label, weights: u.weights as string | null })), { label: 'from scratch', weights: null }];
  // downstream: per source, the linear evaluator's fits, then a fine-tuning run per (shots, seed)
  const progress = new RunProgress(sources.length * (1 + cfg.shots.length * cfg.seeds), 'downstream', log);
  for (const s of sources) {
    progress.start(`${s.label}: the linear evaluator, ${cfg.shots.join('/')}-shot x ${cfg.seeds} draw(s)`);
    T.manualSeed(0);
    const model = entry.build({ headSize: 10 });
    try {
      if (s.weights) await loadWeights(model, s.weights);
      const rows: FewShotRow[] = await linearFewShot(model, train, test, { crop: cfg.crop, shots: cfg.shots, seeds: cfg.seeds, workers: opts.workers });
      curves.push({ label: s.label, method: 'linear', rows });
      progress.end();
      log(`linear   ${s.label.padEnd(13)} ${rows.map((r) => `${r.shots}-shot ${(100 * r.mean).toFixed(1)}%`).join('  ')}`);
    } finally {
      model.dispose();
    }
  }
  for (const s of sources) {
    const rows = await finetuneFewShot({
      model: cfg.model,
      weights: s.weights,
      data: cfg.downstreamData,
      out: path.join(out, 'downstream', s.label.replace(/[^A-Za-z0-9]+/g, '-')),
      shots: cfg.shots,
      seeds: cfg.seeds,
      overrides: { ...cfg.finetune, crop: cfg.crop, precrop: cfg.precrop },
      workers: opts.workers,
      signal: opts.signal,
      progress,
      label: s.label,
    });
    curves.push({ label: s.label, method: 'finetune', rows });
    log(`finetune ${s.label.padEnd(13)} ${rows.map((r) => `${r.shots}-shot ${(100 * r.mean).toFixed(1)}%`).join('  ')}`);
  }
  const full = label(cfg.upstreamFractions[0], cfg.upstreamData);
  const small = label(cfg.upstreamFractions[cfg.upstreamFractions.length - 1], cfg.upstreamData);
  const v = verdict(curves, full, small, cfg.shots[0], cfg.shots[cfg.shots.length - 1]);
  const seconds = (Date.now() - t0) / 1000;
  const files = await saveFewShot(
    curves,
    path.join(out, 'demo'),
    `BiT in miniature: ${cfg.model} pre-trained on ${cfg.upstreamData}, transferred to ${cfg.downstreamData}`,
    {
      config: cfg,
      upstream,
      verdict: v,
      seconds,
    },
  );
  await writeFileAtomic(path.join(out, 'demo-table.txt'), formatFewShot(curves) + '\n' + v + '\n');
  return { curves, upstream, verdict: v, files, seconds };
}
