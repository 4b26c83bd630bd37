// The training metrics in TensorBoard, as trainer hooks beside metrics.jsonl:
// an event file (src/report/tensorboard.ts) with the scalars train/loss,
// train/lr, train/images_per_s (and train/mixup_lambda under MixUp) per step;
// eval/top1, eval/top5, eval/loss per evaluation.
import { EventWriter } from '../report/tensorboard.js';
import type { EvalRecord, StepRecord, TrainHooks } from './trainer.js';

export class TensorBoardLog implements TrainHooks {
  private constructor(readonly writer: EventWriter) {}

  /** Opens a new event file in `dir` (created if missing). */
  static async open(dir: string): Promise<TensorBoardLog> {
    return new TensorBoardLog(await EventWriter.open(dir));
  }

  onStep(r: StepRecord): void {
    const values: Record<string, number> = { 'train/loss': r.loss, 'train/lr': r.lr, 'train/images_per_s': r.imagesPerSecond };
    if (r.lambda < 1) values['train/mixup_lambda'] = r.lambda;
    this.writer.scalars(r.step, values, r.time);
  }

  onEval(r: EvalRecord): void {
    this.writer.scalars(r.step, { 'eval/top1': r.result.top1, 'eval/top5': r.result.top5, 'eval/loss': r.result.loss });
  }

  /** A run that resumes after `step`: TensorBoard drops what an earlier attempt logged after it (as metrics.jsonl is truncated). */
  resumed(step: number): void {
    if (step > 0) this.writer.sessionStart(step + 1);
  }

  close(): void {
    this.writer.close();
  }
}
