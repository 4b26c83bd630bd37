// The training metrics in TensorBoard: every metrics.jsonl row mirrored into
// an event file (src/report/tensorboard.ts) as scalars: train/loss, train/lr,
// train/images_per_s (and train/mixup_lambda under MixUp) per step;
// eval/top1, eval/top5, eval/loss per evaluation.
import { EventWriter } from '../report/tensorboard.js';

export class TensorBoardLog {
  private constructor(readonly writer: EventWriter) {}

  /** Opens a new event file in `dir` (created if missing). */
  static async open(dir: string): Promise<TensorBoardLog> {
    return new TensorBoardLog(await EventWriter.open(dir));
  }

  /** One metrics.jsonl row: a step's `{step, loss, lr, lambda, images_per_s, time}`, or an evaluation's `{step, eval: {top1, top5, loss}}`. */
  row(entry: Record<string, unknown>): void {
    const step = entry.step as number;
    const wallTime = typeof entry.time === 'number' ? entry.time : undefined;
    const ev = entry.eval as Record<string, number> | undefined;
    if (ev) {
      this.writer.scalars(step, { 'eval/top1': ev.top1, 'eval/top5': ev.top5, 'eval/loss': ev.loss }, wallTime);
      return;
    }
    const values: Record<string, number> = {
      'train/loss': entry.loss as number,
      'train/lr': entry.lr as number,
      'train/images_per_s': entry.images_per_s as number,
    };
    if (typeof entry.lambda === 'number' && entry.lambda < 1) values['train/mixup_lambda'] = entry.lambda;
    this.writer.scalars(step, values, wallTime);
  }

  /** A run that resumes after `step`: TensorBoard drops what an earlier attempt logged after it (as metrics.jsonl is truncated). */
  resumed(step: number): void {
    if (step > 0) this.writer.sessionStart(step + 1);
  }

  close(): void {
    this.writer.close();
  }
}
