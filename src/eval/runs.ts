// Reuse of finished fine-tuning runs: evaluators that launch many runs skip
// the ones whose metrics.json says they completed.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { finetune, type FinetuneOptions } from '../train/finetune.js';
import { METRICS_FILE, type FinalMetrics } from '../train/trainer.js';
import { InterruptedError } from '../util/errors.js';

/** The metrics of a run folder whose run completed, else null. */
export function finishedRun(dir: string): FinalMetrics | null {
  const f = path.join(dir, METRICS_FILE);
  if (!existsSync(f)) return null;
  const m = JSON.parse(readFileSync(f, 'utf8')) as FinalMetrics;
  return m.stopped_early || m.top1 === null ? null : m;
}

/** Runs `finetune` unless `o.out` holds a finished run; an interrupted run resumes. */
export async function finetuneOnce(o: FinetuneOptions): Promise<{ metrics: FinalMetrics; reused: boolean }> {
  const done = finishedRun(o.out);
  if (done) return { metrics: done, reused: true };
  const metrics = await finetune(o);
  if (metrics.stopped_early) throw new InterruptedError(`interrupted; rerun the same command to continue (${o.out} keeps the checkpoint)`);
  return { metrics, reused: false };
}
