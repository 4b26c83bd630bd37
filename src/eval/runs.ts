// Reuse of finished training runs: evaluators and the demo, which launch many
// runs, skip the ones whose metrics.json says they completed.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { finetune, type FinetuneOptions } from '../train/finetune.js';
import { METRICS_FILE, MODEL_FILE, type FinalMetrics } from '../train/trainer.js';
import { InterruptedError } from '../util/errors.js';

/** The metrics of a run folder whose run completed (metrics.json and model.npz written), else null. */
export function finishedRun(dir: string): FinalMetrics | null {
  const f = path.join(dir, METRICS_FILE);
  if (!existsSync(f) || !existsSync(path.join(dir, MODEL_FILE))) return null;
  const m = JSON.parse(readFileSync(f, 'utf8')) as FinalMetrics;
  return m.stopped_early || m.top1 === null ? null : m;
}

/** Runs `run` (a training run into `dir`) unless `dir` holds a finished run; an interrupted run resumes when run again. */
export async function runOnce(dir: string, run: () => Promise<FinalMetrics>): Promise<{ metrics: FinalMetrics; reused: boolean }> {
  const done = finishedRun(dir);
  if (done) return { metrics: done, reused: true };
  const metrics = await run();
  if (metrics.stopped_early) throw new InterruptedError(`interrupted; rerun the same command to continue (${dir} keeps the checkpoint)`);
  return { metrics, reused: false };
}

/** `finetune` into `o.out` unless it holds a finished run. */
export function finetuneOnce(o: FinetuneOptions): Promise<{ metrics: FinalMetrics; reused: boolean }> {
  return runOnce(o.out, () => finetune(o));
}
