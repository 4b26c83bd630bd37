// Checkpoints: the model in the BiT .npz key scheme (readable by any BiT
// tool), plus `optimizer/momentum/<key>` buffers in the same layout and the
// run state as JSON bytes under `train/state`. Written atomically.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { NpzReader, type NdArray } from '../io/npz.js';
import { fromDiskArray, loadWeights, metaArray, saveWeights, toDiskArray, type ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import type { NormSpec } from '../nn/index.js';
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
  /** Norm override the model was built with (see ModelMeta.norm). */
  norm?: NormSpec;
  data: string;
  seed: number;
  worldSize: number;
  recipe: unknown;
  /** Training seconds and images so far (over all ranks). */
  seconds: number;
  images: number;
}

function stateArray(state: RunState): NdArray {
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  return { dtype: 'uint8', shape: [bytes.length], data: bytes };
}

function* momentumArrays(model: ImageClassifier, opt: SGD): Generator<[string, NdArray]> {
  const trainable = model.store.entries().filter((e) => e.trainable);
  for (let i = 0; i < trainable.length; i++) yield [MOMENTUM_PREFIX + trainable[i].key, toDiskArray(opt.momentumBuffers[i], trainable[i].kind)];
}

export async function saveCheckpoint(file: string, model: ImageClassifier, opt: SGD, state: RunState): Promise<void> {
  function* extra(): Generator<[string, NdArray]> {
    yield metaArray({ model: state.model, headSize: state.headSize, data: state.data, norm: state.norm });
    yield* momentumArrays(model, opt);
    yield [STATE_KEY, stateArray(state)];
  }
  await saveWeights(model, file, extra());
}

/** The run state stored in a checkpoint (reads one small member). */
export async function readRunState(file: string): Promise<RunState> {
  const reader = await NpzReader.open(file);
  try {
    if (!reader.has(STATE_KEY)) throw new Error(`${file} is not a training checkpoint of this project (no '${STATE_KEY}')`);
    const a = await reader.read(STATE_KEY);
    return JSON.parse(new TextDecoder().decode(a.data as Uint8Array)) as RunState;
  } finally {
    await reader.close();
  }
}

/** Restores model, momentum buffers and run state from a checkpoint. */
export async function loadCheckpoint(file: string, model: ImageClassifier, opt: SGD): Promise<RunState> {
  const state = await readRunState(file);
  await loadWeights(model, file);
  const reader = await NpzReader.open(file);
  try {
    const trainable = model.store.entries().filter((e) => e.trainable);
    for (let i = 0; i < trainable.length; i++) {
      const key = MOMENTUM_PREFIX + trainable[i].key;
      if (!reader.has(key)) throw new Error(`${file}: the optimizer state '${key}' is missing`);
      const a = await reader.read(key);
      T.tidy(() => T.noGrad(() => void opt.momentumBuffers[i].copy_(fromDiskArray(a, trainable[i].kind, `${file}: '${key}'`))));
    }
  } finally {
    await reader.close();
  }
  return state;
}

/** The checkpoint of an output folder, if there is one. */
export function findCheckpoint(outDir: string): string | null {
  const f = path.join(outDir, CHECKPOINT_FILE);
  return existsSync(f) ? f : null;
}
