// Few-shot transfer by fine-tuning: the BiT-HyperRule on each k-shot subset
// (the schedule follows the subset's size: a 10-shot 10-class task gets the
// 500-step schedule), evaluated on the full test split. Each (shots, seed)
// run has its own folder; a finished run is reused, an interrupted one resumes.
import * as path from 'node:path';
import type { RecipeOverrides, ResolutionRule } from '../train/recipes.js';
import { finetuneOnce } from './runs.js';
import { DEFAULT_SEEDS, DEFAULT_SHOTS, summarizeSeeds, type FewShotRow } from './fewshot.js';
import { InterruptedError } from '../util/errors.js';
import type { RunProgress } from '../util/progress.js';

export interface FinetuneFewShotOptions {
  model: string;
  /** Upstream weights; null: from scratch (the baseline). */
  weights: string | null;
  data: string;
  out: string;
  shots?: readonly number[];
  seeds?: number;
  overrides?: RecipeOverrides;
  resolutionRule?: ResolutionRule;
  workers?: number;
  signal?: AbortSignal;
  /** TensorBoard event files of each run, in <tensorboard>/<k>shot-seed<s>. */
  tensorboard?: string;
  /** Called after each run. */
  onRun?: (shots: number, seed: number, top1: number, reused: boolean) => void;
  /** Counts each run (made by the caller, sized for all of its runs); `label` names the curve in its lines. */
  progress?: RunProgress;
  label?: string;
}

export async function finetuneFewShot(o: FinetuneFewShotOptions): Promise<FewShotRow[]> {
  const rows: FewShotRow[] = [];
  for (const k of o.shots ?? DEFAULT_SHOTS) {
    const acc: number[] = [];
    for (let s = 0; s < (o.seeds ?? DEFAULT_SEEDS); s++) {
      if (o.signal?.aborted) throw new InterruptedError('few-shot fine-tuning interrupted; rerun the same command to continue');
      o.progress?.start(`${o.label ? `${o.label}: ` : ''}fine-tuning on ${k} example(s) per class, seed ${s}`);
      const { metrics, reused } = await finetuneOnce({
        model: o.model,
        weights: o.weights ?? undefined,
        data: o.data,
        out: path.join(o.out, `${k}shot-seed${s}`),
        shots: k,
        seed: s,
        overrides: o.overrides,
        resolutionRule: o.resolutionRule,
        workers: o.workers,
        signal: o.signal,
        quiet: true,
        tensorboard: o.tensorboard ? path.join(o.tensorboard, `${k}shot-seed${s}`) : undefined,
      });
      o.progress?.end(reused);
      acc.push(metrics.top1!);
      o.onRun?.(k, s, metrics.top1!, reused);
    }
    rows.push(summarizeSeeds(k, acc));
  }
  return rows;
}
