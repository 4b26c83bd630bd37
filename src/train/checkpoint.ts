// Checkpoints: the model in the BiT .npz key scheme (readable by any BiT
// tool), plus `optimizer/momentum/<key>` buffers in the same layout and the
// run state as JSON bytes under `train/state`. Written atomically.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { jsonArray, withNpz, type NdArray, type NpzReader } from '../io/npz.js';
import {
  allFinite,
  copyFromDisk,
  loadWeights,
  metaArray,
  saveWeights,
  toDiskArray,
  type ArchitectureOverrides,
  type ImageClassifier,
} from '../models/index.js';
import type { Fingerprint } from './fingerprint.js';
import type { SGD } from './optim.js';

export const CHECKPOINT_FILE = 'checkpoint.npz';
export const STATE_KEY = 'train/state';
export const MOMENTUM_PREFIX = 'optimizer/momentum/';

/** What a run needs to resume, and what it was. */
export interface RunState {
  version: 1;
  /** Optimizer steps completed. */
  step: number;
  totalSteps: number;
  model: string;
  headSize: number;
  /** The model's architecture overrides (see ImageClassifier.overrides). */
  overrides: ArchitectureOverrides;
  data: string;
  seed: number;
  worldSize: number;
  recipe: unknown;
  /** The settings that decided the result (RunOptions.fingerprint), when the run had them. */
  fingerprint?: Fingerprint;
  /** Training seconds and images so far (over all ranks). */
  seconds: number;
  images: number;
}

function* momentumArrays(model: ImageClassifier, opt: SGD): Generator<[string, NdArray]> {
  const trainable = model.store.trainableEntries();
  for (let i = 0; i < trainable.length; i++) yield [MOMENTUM_PREFIX + trainable[i].key, toDiskArray(opt.momentumBuffers[i], trainable[i].kind)];
}

export async function saveCheckpoint(file: string, model: ImageClassifier, opt: SGD, state: RunState): Promise<void> {
  function* extra(): Generator<[string, NdArray]> {
    yield metaArray({ model: state.model, headSize: state.headSize, data: state.data, ...state.overrides });
    yield* momentumArrays(model, opt);
    yield [STATE_KEY, jsonArray(state)];
  }
  await saveWeights(model, file, extra());
}

/** The run state stored in a checkpoint (a path or an open reader; reads one small member). */
export async function readRunState(source: string | NpzReader): Promise<RunState> {
  return withNpz(source, async (reader) => {
    const state = await reader.readJson<RunState>(STATE_KEY);
    if (state === undefined) throw new Error(`${reader.path} is not a training checkpoint of this project (no '${STATE_KEY}')`);
    return state;
  });
}

/**
 * Restores model, momentum buffers and run state from a checkpoint (one open
 * of the file). `accept` sees the saved run state first and may refuse it by
 * throwing, before anything is loaded.
 */
export async function loadCheckpoint(file: string, model: ImageClassifier, opt: SGD, accept?: (saved: RunState) => void): Promise<RunState> {
  return withNpz(file, async (reader) => {
    const state = await readRunState(reader);
    accept?.(state);
    await loadWeights(model, reader);
    const trainable = model.store.trainableEntries();
    for (let i = 0; i < trainable.length; i++) {
      const key = MOMENTUM_PREFIX + trainable[i].key;
      if (!reader.has(key)) throw new Error(`${file}: the optimizer state '${key}' is missing`);
      copyFromDisk(opt.momentumBuffers[i], await reader.read(key), trainable[i].kind, file, key);
    }
    return state;
  });
}

/** The first model or optimizer key whose values are not all finite, or null (checked before a checkpoint is written). */
export function firstNonFiniteKey(model: ImageClassifier, opt: SGD): string | null {
  for (const e of model.store.entries()) if (!allFinite(e.tensor)) return e.key;
  const trainable = model.store.trainableEntries();
  for (let i = 0; i < trainable.length; i++) if (!allFinite(opt.momentumBuffers[i])) return MOMENTUM_PREFIX + trainable[i].key;
  return null;
}

/** The checkpoint of an output folder, if there is one. */
export function findCheckpoint(outDir: string): string | null {
  const f = path.join(outDir, CHECKPOINT_FILE);
  return existsSync(f) ? f : null;
}
