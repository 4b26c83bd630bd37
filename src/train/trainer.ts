// The training loop shared by fine-tuning and upstream pre-training: the
// training step of step.ts (micro-batches, MixUp, data-parallel gradient
// averaging, divergence check) over the loader's batches, periodic
// evaluation, atomic checkpoints, automatic resume, clean stop on a signal,
// and hooks that see every step and evaluation (metrics.jsonl is one).
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { describeSkipped, preflightData, trainLoader, type Dataset } from '../data/index.js';
import { metaArray, saveWeights, type ImageClassifier } from '../models/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { ensureFolder } from '../io/folders.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { labelTensor, rawImages, toModelInput } from './batch.js';
import { CHECKPOINT_FILE, findCheckpoint, firstNonFiniteKey, loadCheckpoint, saveCheckpoint, type RunState } from './checkpoint.js';
import type { Collective } from './collective.js';
import { CollectiveError } from './distributed.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { fingerprintDifferences, type Fingerprint } from './fingerprint.js';
import { stepMixUp } from './mixup.js';
import type { TrainRecipe } from './recipes.js';
import { lockRunFolder } from './run-lock.js';
import { learningRate } from './schedule.js';
import { TrainStep, type LossKind } from './step.js';
import { TensorBoardLog } from './tensorboard-log.js';

export type { TrainRecipe };

export interface TrainConfig {
  model: ImageClassifier;
  modelName: string;
  train: Dataset;
  /** Evaluated every `run.evalEvery` steps and at the end; null: no evaluation. */
  evalSet: Dataset | null;
  /** The data spec string (recorded, and checked on resume). */
  dataSpec: string;
  recipe: TrainRecipe;
  loss: LossKind;
  /** Where and how the run goes: output folder, cadence, resume, workers, signal, hooks. */
  run: RunOptions;
  evalBatch?: number;
  /** Extra fields for metrics.json (weights file, command line...). */
  info?: Record<string, unknown>;
}

/** What the trainer reports after each optimizer step (a row of metrics.jsonl). */
export interface StepRecord {
  /** Steps done (1 after the first). */
  step: number;
  /** The step's training loss (mean over micro-batches and workers). */
  loss: number;
  lr: number;
  /** MixUp's lambda (1: no mixing). */
  lambda: number;
  /** Images per second of the step, loader wait excluded. */
  imagesPerSecond: number;
  /** When the step ended (Unix seconds). */
  time: number;
}

/** An evaluation during training (every evalEvery steps) or at the end (final). */
export interface EvalRecord {
  step: number;
  result: EvalResult;
  final: boolean;
}

/** Callbacks into a run, on the lead worker (which writes metrics.jsonl through the same hooks). */
export interface TrainHooks {
  /** After every optimizer step. */
  onStep?(r: StepRecord): void;
  /** After every evaluation, periodic and final. */
  onEval?(r: EvalRecord): void;
}

/** Options every training run takes besides its model, data and recipe (fine-tuning and pre-training alike). */
export interface RunOptions {
  /** The output folder: checkpoint.npz, model.npz, metrics.json, metrics.jsonl. */
  out: string;
  /** Seed of data order, augmentation and MixUp (default 0). */
  seed?: number;
  /** Evaluate every N steps (default 0: only at the end). */
  evalEvery?: number;
  /** Checkpoint every N steps (0: only at the end; default: every tenth of the run). */
  checkpointEvery?: number;
  /** Continue from `out/checkpoint.npz` when it exists (default true). */
  resume?: boolean;
  /** Data loader threads. */
  workers?: number;
  collective?: Collective | null;
  /** Stop cleanly after the current step when aborted (SIGINT / SIGTERM). */
  signal?: AbortSignal;
  /** No progress output. */
  quiet?: boolean;
  hooks?: TrainHooks;
  /** Also write the metrics as TensorBoard event files into this folder, beside metrics.jsonl. */
  tensorboard?: string;
  /**
   * The settings that decide the run's result (for the commands: every parsed
   * flag but the local ones, keyed by flag). Recorded in checkpoints; resuming
   * a checkpoint recorded with other settings is refused, naming them.
   */
  fingerprint?: Fingerprint;
}

export interface FinalMetrics {
  model: string;
  data: string;
  steps: number;
  top1: number | null;
  top5: number | null;
  eval_loss: number | null;
  /** Multi-label data: the mean average precision over classes (evaluate.ts); null otherwise. */
  map: number | null;
  eval_images: number;
  final_train_loss: number;
  images_per_s: number;
  train_seconds: number;
  /** Fraction of the loop's time spent waiting for the loader (0 = the loader was never the bottleneck). */
  loader_wait_fraction: number;
  stopped_early: boolean;
  resumed_from_step: number;
  world_size: number;
  recipe: TrainRecipe;
  [key: string]: unknown;
}

/** A NaN or infinite loss: the run stops, the last good checkpoint stays. */
export class DivergedError extends Error {
  override name = 'DivergedError';
}

export const METRICS_LOG = 'metrics.jsonl';
export const METRICS_FILE = 'metrics.json';
export const MODEL_FILE = 'model.npz';

/** The metrics.jsonl writer: one JSON line per step and per evaluation. */
function metricsLog(file: string): TrainHooks {
  const write = (entry: Record<string, unknown>) => appendFileSync(file, JSON.stringify(entry) + '\n');
  return {
    onStep: (r) => write({ step: r.step, loss: r.loss, lr: r.lr, lambda: r.lambda, images_per_s: r.imagesPerSecond, time: r.time }),
    onEval: (r) => write(r.final ? { step: r.step, eval: r.result, final: true } : { step: r.step, eval: r.result }),
  };
}

/** Keeps the log lines of steps up to `step` (a resumed run rewrites what came after). */
function truncateLog(file: string, step: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

/**
 * Refuses to resume from a checkpoint of another run: other settings (the
 * fingerprints differ), another model, data or length, or a step past this
 * run's last one.
 */
function checkResume(ckpt: string, found: RunState, cfg: TrainConfig, total: number): void {
  const startOver = `Resume it with its settings, or start over: another --out, --no-resume, or delete ${ckpt}.`;
  const mine = cfg.run.fingerprint;
  if (mine && found.fingerprint) {
    const differ = fingerprintDifferences(found.fingerprint, mine, 'this run');
    if (differ.length > 0) throw new UsageError(`${ckpt} belongs to another run, with other settings: ${differ.join(', ')}. ${startOver}`);
  }
  const describe = (r: Pick<RunState, 'model' | 'overrides' | 'data' | 'totalSteps'>) =>
    `model ${r.model}${Object.keys(r.overrides ?? {}).length ? ` ${JSON.stringify(r.overrides)}` : ''}, data ${r.data}, ${r.totalSteps} steps`;
  const here = { model: cfg.modelName, overrides: cfg.model.overrides, data: cfg.dataSpec, totalSteps: total };
  if (describe(found) !== describe(here)) {
    throw new UsageError(`${ckpt} belongs to another run (${describe(found)}; this run: ${describe(here)}): use another --out, or --no-resume to start over`);
  }
  if (found.step > total) throw new Error(`${ckpt} is at step ${found.step}, past this run's ${total} steps: it was not written by this run. ${startOver}`);
}

function checkShape(r: TrainRecipe, world: number): number {
  if (r.batch % world !== 0) throw new UsageError(`the batch ${r.batch} must be divisible by the number of workers ${world}`);
  const local = r.batch / world;
  if (local % r.batchSplit !== 0) throw new UsageError(`the per-worker batch ${local} must be divisible by --batch-split ${r.batchSplit}`);
  return local / r.batchSplit;
}

/**
 * Trains; with a collective, a failed or timed-out collective (a lost worker)
 * ends the run with an error that names the lost rank and the checkpoint a
 * re-run of the same command resumes from.
 */
export async function train(cfg: TrainConfig): Promise<FinalMetrics> {
  const where = { lastCheckpointStep: -1, writingStep: -1 };
  // the lead worker alone writes the run's files (metrics.jsonl, the TensorBoard events that mirror it, checkpoints):
  // it holds the output folder's lock, one run per folder
  const lead = (cfg.run.collective?.rank ?? 0) === 0;
  const lock = lead ? await lockRunFolder(cfg.run.out) : null;
  let tb: TensorBoardLog | null = null;
  try {
    if (cfg.run.tensorboard && lead) tb = await TensorBoardLog.open(cfg.run.tensorboard);
    return await trainLoop(cfg, where, tb);
  } catch (err) {
    if (!(err instanceof CollectiveError)) throw err;
    const file = path.join(cfg.run.out, CHECKPOINT_FILE);
    const step = where.lastCheckpointStep;
    let hint: string;
    if ((cfg.run.collective?.rank ?? 0) === 0) {
      hint =
        step > 0
          ? `Re-run the same command to resume from the last complete checkpoint (step ${step}, ${file}).`
          : `No checkpoint was written by this run: re-running the same command starts ${existsSync(file) ? `from ${file} again` : 'over'}.`;
    } else {
      // rank 0 writes the checkpoints: it may have finished one more than this rank knows of
      const known =
        step > 0 ? `step ${step} or later` : where.writingStep > 0 ? `step ${where.writingStep} if rank 0 finished writing it` : 'if one was written';
      hint = `Re-run the same command to resume from the last complete checkpoint, ${file} on rank 0's machine (${known}).`;
    }
    throw new CollectiveError(`${err.message}\n${hint}`, err.lostRanks, { cause: err.cause });
  } finally {
    tb?.close();
    lock?.release();
  }
}

async function trainLoop(cfg: TrainConfig, where: { lastCheckpointStep: number; writingStep: number }, tb: TensorBoardLog | null): Promise<FinalMetrics> {
  const { model, recipe } = cfg;
  const o = cfg.run;
  const seed = o.seed ?? 0;
  const evalEvery = o.evalEvery ?? 0;
  const col = o.collective ?? null;
  const rank = col?.rank ?? 0;
  const world = col?.world ?? 1;
  const lead = rank === 0;
  const micro = checkShape(recipe, world);
  const total = recipe.schedule.totalSteps;
  const checkpointEvery = o.checkpointEvery ?? Math.max(1, Math.round(total / 10));
  const multiLabel = cfg.train.multiLabel;
  if (model.headSize !== cfg.train.numClasses) {
    throw new Error(`the model's head has ${model.headSize} outputs but ${cfg.train.name} has ${cfg.train.numClasses} classes`);
  }
  // every image header of both splits is read before the first step; what the data left out is said and recorded
  const skipped = await preflightData([cfg.train, cfg.evalSet]);
  await ensureFolder(o.out);
  const logFile = path.join(o.out, METRICS_LOG);
  // the lead writes the run's files; the hooks (metrics.jsonl first, then TensorBoard) run there
  const hooks: TrainHooks[] = lead ? [metricsLog(logFile), ...(tb ? [tb] : []), ...(o.hooks ? [o.hooks] : [])] : [];
  const say = (msg: string) => {
    if (lead && !o.quiet) process.stderr.write(msg + '\n');
  };
  const leftOut = describeSkipped(skipped);
  if (leftOut) say(`${leftOut}\n(all of them are listed in ${path.join(o.out, METRICS_FILE)})`);

  const trainStep = new TrainStep({
    model,
    sgd: { momentum: recipe.momentum, weightDecay: recipe.weightDecay },
    loss: cfg.loss,
    microBatches: recipe.batchSplit,
    collective: col,
    input: toModelInput,
  });
  try {
    const opt = trainStep.optimizer;
    let state: RunState = {
      version: 1,
      step: 0,
      totalSteps: total,
      model: cfg.modelName,
      headSize: model.headSize,
      overrides: model.overrides,
      data: cfg.dataSpec,
      seed,
      worldSize: world,
      recipe,
      fingerprint: o.fingerprint,
      seconds: 0,
      images: 0,
    };
    const ckpt = findCheckpoint(o.out);
    if (lead && ckpt && o.resume !== false) {
      const saved = await loadCheckpoint(ckpt, model, opt, (found) => checkResume(ckpt, found, cfg, total));
      state = { ...saved, worldSize: world, recipe, fingerprint: o.fingerprint };
      say(`resuming from ${ckpt} at step ${state.step}/${total}`);
    }
    if (col) {
      // Every rank starts from rank 0's parameters, buffers, momentum and step
      // (rank 0 may take long to read a checkpoint: wait for it without a time limit).
      col.barrier?.('start');
      col.broadcast([...model.store.entries().map((e) => e.tensor), ...opt.momentumBuffers]);
      const [step, seconds, images] = col.sum(lead ? [state.step, state.seconds, state.images] : [0, 0, 0]);
      state = { ...state, step, seconds, images };
    }
    if (lead) truncateLog(logFile, state.step);
    tb?.resumed(state.step);
    const startStep = state.step;
    where.lastCheckpointStep = startStep;

    const loader = trainLoader(cfg.train, {
      batchSize: recipe.batch,
      precrop: recipe.precrop,
      crop: recipe.crop,
      flip: recipe.flip,
      cropStyle: recipe.cropStyle,
      seed,
      startStep,
      workers: o.workers,
      rank,
      worldSize: world,
    });
    const progress = lead && !o.quiet ? new Progress(total, { label: 'train', start: startStep, unit: 'img' }) : null;
    const evalOpts = { crop: recipe.crop, batchSize: cfg.evalBatch ?? micro * 2, workers: o.workers, collective: col };
    const runEval = async (step: number, final: boolean): Promise<EvalResult> => {
      const result = await evaluate(model, cfg.evalSet!, evalOpts);
      for (const h of hooks) h.onEval?.({ step, result, final });
      return result;
    };
    let lastEval: EvalResult | null = null;
    let lossEma = NaN;
    let lastLoss = NaN;
    let waitMs = 0;
    const loopStart = Date.now();
    let stoppedEarly = false;

    /** The run stops: `what` happened at `step`; a checkpoint of this run (written, or resumed from) is the last good one. */
    const diverged = (what: string, step: number) => {
      const last = where.lastCheckpointStep > 0 ? path.join(o.out, CHECKPOINT_FILE) : null;
      return new DivergedError(
        `${what} at step ${step} (lr ${learningRate(recipe.schedule, step - 1).toPrecision(3)}): training stopped. ` +
          (last ? `The last good checkpoint (step ${where.lastCheckpointStep}) is kept in ${last}. ` : 'No checkpoint was written. ') +
          'Try a lower learning rate (--lr) or a longer warm-up.',
      );
    };
    const save = async () => {
      // only finite weights are saved (and later called the last good checkpoint); every rank holds the same ones
      const bad = firstNonFiniteKey(model, opt);
      if (bad !== null) throw diverged(`the weights became NaN or infinite ('${bad}' first)`, state.step);
      where.writingStep = state.step;
      if (lead) await saveCheckpoint(path.join(o.out, CHECKPOINT_FILE), model, opt, state);
      // the others wait for the write (however long) before the next collective
      col?.barrier?.('checkpoint');
      where.lastCheckpointStep = state.step;
    };

    const it = loader[Symbol.asyncIterator]();
    try {
      for (let step = startStep; step < total; step++) {
        // Let the event loop run once per step: signals (SIGINT/SIGTERM) and
        // worker messages are only delivered there, and prefetched batches
        // resolve as microtasks that would never yield to it.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const t0 = Date.now();
        const next = await it.next();
        const t1 = Date.now();
        waitMs += t1 - t0;
        if (next.done) throw new Error('the training loader ended early');
        const b = next.value;
        const lr = learningRate(recipe.schedule, step);
        const mix = stepMixUp(recipe.mixupAlpha, seed, step);
        const r = T.tidy(() =>
          trainStep.run({ images: rawImages(b), labels: labelTensor(b, multiLabel, cfg.train.numClasses), lr, mix, stop: o.signal?.aborted }),
        );
        if (!r.finite) throw diverged(`the loss became ${r.loss}`, step + 1);
        const done = step + 1;
        state.step = done;
        state.images += recipe.batch;
        state.seconds += (Date.now() - t0) / 1000;
        lastLoss = r.loss;
        lossEma = Number.isNaN(lossEma) ? r.loss : 0.9 * lossEma + 0.1 * r.loss;
        const record: StepRecord = {
          step: done,
          loss: r.loss,
          lr,
          lambda: mix?.lam ?? 1,
          imagesPerSecond: recipe.batch / Math.max((Date.now() - t1) / 1000, 1e-9),
          time: Date.now() / 1000,
        };
        for (const h of hooks) h.onStep?.(record);
        progress?.update(done, recipe.batch, { loss: lossEma.toFixed(4), lr: lr.toExponential(2) });
        if (evalEvery > 0 && done % evalEvery === 0 && done < total && cfg.evalSet) {
          lastEval = await runEval(done, false);
          progress?.log(
            `step ${done}: ${lastEval.map !== undefined ? `mAP ${(100 * lastEval.map).toFixed(2)}%  ` : ''}top-1 ${(100 * lastEval.top1).toFixed(2)}%  top-5 ${(100 * lastEval.top5).toFixed(2)}%  loss ${lastEval.loss.toFixed(4)}`,
          );
        }
        if (r.stop) {
          stoppedEarly = true;
          progress?.log(`stopping after step ${done} (interrupted); saving a checkpoint`);
          await save();
          break;
        }
        if (checkpointEvery > 0 && done % checkpointEvery === 0 && done < total) await save();
      }
    } finally {
      progress?.done();
      await loader.close();
    }
    if (!stoppedEarly) await save();
    const loopSeconds = (Date.now() - loopStart) / 1000;
    if (cfg.evalSet) lastEval = await runEval(state.step, true);
    const steps = state.step - startStep;
    const metrics: FinalMetrics = {
      model: cfg.modelName,
      data: cfg.dataSpec,
      steps: state.step,
      top1: lastEval?.top1 ?? null,
      top5: lastEval?.top5 ?? null,
      eval_loss: lastEval?.loss ?? null,
      map: lastEval?.map ?? null,
      eval_images: lastEval?.n ?? 0,
      final_train_loss: lastLoss,
      images_per_s: steps > 0 ? (steps * recipe.batch) / Math.max(loopSeconds, 1e-9) : 0,
      train_seconds: state.seconds,
      loader_wait_fraction: loopSeconds > 0 ? waitMs / 1000 / loopSeconds : 0,
      stopped_early: stoppedEarly,
      resumed_from_step: startStep,
      world_size: world,
      recipe,
      skipped,
      ...cfg.info,
    };
    if (lead) {
      const meta = metaArray({
        model: cfg.modelName,
        headSize: model.headSize,
        classNames: cfg.train.classNames,
        crop: recipe.crop,
        data: cfg.dataSpec,
        ...model.overrides,
      });
      await saveWeights(model, path.join(o.out, MODEL_FILE), [meta]);
      await writeFileAtomic(path.join(o.out, METRICS_FILE), JSON.stringify(metrics, null, 2) + '\n');
    }
    return metrics;
  } finally {
    trainStep.dispose();
  }
}
