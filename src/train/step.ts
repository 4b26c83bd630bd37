// The training step, the only one in the project: forward and loss over
// `microBatches` equal slices of the batch (views, no copies; gradients
// accumulate, each loss scaled by 1/microBatches), MixUp, gradient averaging
// over ranks, the divergence check, an after-backward hook, and the SGD
// update (gradients dropped after it). The trainer (trainer.ts), the
// benchmark (bench/workload.ts) and the studies (experiments/landscape.ts,
// experiments/mixup.ts) all run it, so `bit bench` times the step users run.
import type { Module, VarStore } from '../nn/index.js';
import * as T from '../tensor/index.js';
import type { Collective } from './collective.js';
import { mixImages, type MixUp } from './mixup.js';
import { SGD, type SgdOptions } from './optim.js';

/** Softmax cross-entropy (one label per image) or sigmoid cross-entropy (multi-label). */
export type LossKind = 'softmax' | 'sigmoid';

/**
 * The training loss of a batch: softmax cross-entropy against int64 labels
 * [n] or class probabilities [n, C]; sigmoid cross-entropy summed over
 * classes and averaged over images (the scale of the softmax loss).
 */
export function lossOf(kind: LossKind, logits: T.Tensor, y: T.Tensor): T.Tensor {
  return kind === 'softmax' ? T.crossEntropy(logits, y) : T.bceWithLogits(logits, y, 'sum').div(logits.shape[0]);
}

/** What a step trains: a module whose parameters live in a VarStore (every model here). */
export type TrainableModule = Module & { readonly store: VarStore };

/** One step's work. */
export interface StepInput {
  /** The batch's images: model inputs, or what the step's `input` turns into them. */
  images: T.Tensor;
  /** Labels as `lossOf` takes them. */
  labels: T.Tensor;
  /** The learning rate of this step's update. */
  lr: number;
  /** MixUp of this step (null or omitted: none). */
  mix?: MixUp | null;
  /** This rank wants to stop after the step (a signal): with a collective, any rank's wish stops them all. */
  stop?: boolean;
}

export interface StepHooks {
  /**
   * After the gradients of every micro-batch are accumulated (and averaged
   * over ranks), before the update; only when the loss is finite. The
   * parameters' `.grad` hold the step's gradient.
   */
  afterBackward?(loss: number, input: StepInput): void;
}

export interface StepResult {
  /** The batch's loss (mean over micro-batches and over ranks). */
  loss: number;
  /** False when the loss is NaN or infinite (on any rank): the gradients were dropped and no update made. */
  finite: boolean;
  /** Whether any rank asked to stop. */
  stop: boolean;
}

export interface TrainStepOptions {
  model: TrainableModule;
  /** SGD's momentum and weight decay; the learning rate comes with each step. */
  sgd: SgdOptions;
  /** Default 'softmax'. */
  loss?: LossKind;
  /** Forward/backward passes per step, over equal slices of the batch (default 1). */
  microBatches?: number;
  /** Averages the gradients and the loss over ranks (data-parallel training). */
  collective?: Collective | null;
  /** Turns a micro-batch's slice of the images into model inputs (default: the images are model inputs). */
  input?: (images: T.Tensor) => T.Tensor;
  hooks?: StepHooks;
}

/**
 * The model's training step with its optimizer, whose state (the momentum
 * buffers) it owns until `dispose`. Runs in training mode.
 */
export class TrainStep {
  readonly model: TrainableModule;
  readonly optimizer: SGD;
  readonly #o: TrainStepOptions;
  readonly #micro: number;

  constructor(o: TrainStepOptions) {
    const micro = o.microBatches ?? 1;
    if (!Number.isInteger(micro) || micro < 1) throw new Error(`the number of micro-batches must be a positive integer, got ${micro}`);
    this.model = o.model;
    this.optimizer = new SGD(o.model.store.trainable(), o.sgd);
    this.#o = o;
    this.#micro = micro;
  }

  /** The trainable parameters, in the optimizer's order. */
  get params(): readonly T.Tensor[] {
    return this.optimizer.params;
  }

  /** One step: gradients of the batch, then (when the loss is finite) the update with `s.lr`. */
  run(s: StepInput): StepResult {
    const { model, collective } = this.#o;
    const kind = this.#o.loss ?? 'softmax';
    const micro = this.#micro;
    const n = s.images.shape[0];
    if (n % micro !== 0) throw new Error(`a batch of ${n} cannot be split into ${micro} equal micro-batches`);
    const size = n / micro;
    const slice = (t: T.Tensor, m: number) => (micro === 1 ? t : t.narrow(0, m * size, size));
    model.train();
    let loss = 0;
    for (let m = 0; m < micro; m++) {
      loss += T.tidy(() => {
        let x = this.#o.input ? this.#o.input(slice(s.images, m)) : slice(s.images, m);
        const y = slice(s.labels, m);
        let l: T.Tensor;
        if (s.mix) {
          const partners = s.mix.partners(m, size);
          x = mixImages(x, partners, s.mix.lam);
          const logits = model.forward(x);
          l = lossOf(kind, logits, y)
            .mul(s.mix.lam)
            .add(lossOf(kind, logits, y.indexSelect(0, partners)).mul(1 - s.mix.lam));
        } else {
          l = lossOf(kind, model.forward(x), y);
        }
        (micro === 1 ? l : l.div(micro)).backward();
        return l.item() / micro;
      });
    }
    let stop = s.stop === true;
    if (collective) {
      collective.averageGradients(this.params);
      const [sum, stops] = collective.sum([loss, stop ? 1 : 0]);
      loss = sum / collective.world;
      stop = stops > 0;
    }
    if (!Number.isFinite(loss)) {
      this.optimizer.zeroGrad();
      return { loss, finite: false, stop };
    }
    this.#o.hooks?.afterBackward?.(loss, s);
    this.optimizer.step(s.lr);
    this.optimizer.zeroGrad();
    return { loss, finite: true, stop };
  }

  /** Frees the optimizer's state. */
  dispose(): void {
    this.optimizer.dispose();
  }
}
