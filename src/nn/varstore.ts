// Parameter ownership, tch-rs style: a VarStore owns every parameter and buffer
// under its full name, and modules name theirs through a Path
// (`root.sub('resnet').sub('block1')`). Names are the official BiT keys, so an
// official .npz loads by name. Tensors are stored in libtorch layout (OIHW
// kernels); the IO boundary converts to and from the .npz layout.
import * as T from '../tensor/index.js';

/** How a parameter is laid out, so weight IO can convert it. */
export type ParamKind = 'conv' | 'dense' | 'vector' | 'scalar';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  /** He et al. 2015 normal init, std = gain / sqrt(fan), gain sqrt(2) for ReLU. */
  | { kind: 'kaiming'; mode: 'fanIn' | 'fanOut' }
  | { kind: 'uniform'; bound: number };

export interface ParamEntry {
  readonly key: string;
  readonly tensor: T.Tensor;
  readonly kind: ParamKind;
  /** Trained by the optimizer (false for buffers such as BatchNorm running statistics). */
  readonly trainable: boolean;
}

export interface VarStoreOptions {
  /**
   * Shape-only parameters (zero-stride views of one element): no memory, for
   * counting parameters and multiply-accumulates of the largest models.
   */
  virtual?: boolean;
}

export class VarStore {
  readonly #entries = new Map<string, ParamEntry>();
  readonly virtual: boolean;
  #disposed = false;

  constructor(opts: VarStoreOptions = {}) {
    this.virtual = opts.virtual ?? false;
  }

  root(): Path {
    return new Path(this, []);
  }

  /** Creates and registers a parameter (trainable) or buffer under `key`. */
  create(key: string, shape: readonly number[], init: Init, kind: ParamKind, trainable: boolean): T.Tensor {
    if (this.#entries.has(key)) throw new Error(`VarStore: the name '${key}' is registered twice (a model bug: two layers share a path)`);
    const t = T.keep(this.virtual ? T.tidy(() => T.zeros([1]).expand(shape)) : initTensor(shape, init, kind));
    if (trainable && !this.virtual) t.setRequiresGrad(true);
    this.#entries.set(key, { key, tensor: t, kind, trainable });
    return t;
  }

  get(key: string): ParamEntry | undefined {
    return this.#entries.get(key);
  }

  entries(): ParamEntry[] {
    return [...this.#entries.values()];
  }

  /** The trainable entries, in registration order (the order of `trainable()`, which optimizer state follows). */
  trainableEntries(): ParamEntry[] {
    return this.entries().filter((e) => e.trainable);
  }

  /** The tensors the optimizer updates, in registration order. */
  trainable(): T.Tensor[] {
    return this.trainableEntries().map((e) => e.tensor);
  }

  /** Number of trainable parameter values. */
  numParams(): number {
    return this.trainableEntries().reduce((s, e) => s + e.tensor.size, 0);
  }

  dispose(): void {
    if (this.#disposed) return;
    for (const e of this.#entries.values()) e.tensor.dispose();
    this.#disposed = true;
  }
}

/** A position in the parameter name tree. */
export class Path {
  constructor(
    readonly store: VarStore,
    readonly parts: readonly string[],
  ) {}

  sub(name: string): Path {
    if (name.includes('/') || name === '') throw new Error(`Path: invalid component '${name}'`);
    return new Path(this.store, [...this.parts, name]);
  }

  key(name: string): string {
    return [...this.parts, name].join('/');
  }

  param(name: string, shape: readonly number[], init: Init, kind: ParamKind): T.Tensor {
    return this.store.create(this.key(name), shape, init, kind, true);
  }

  buffer(name: string, shape: readonly number[], init: Init, kind: ParamKind = 'vector'): T.Tensor {
    return this.store.create(this.key(name), shape, init, kind, false);
  }
}

/** Fan-in and fan-out of a parameter in libtorch layout. */
export function fans(shape: readonly number[], kind: ParamKind): { fanIn: number; fanOut: number } {
  if (kind === 'conv') {
    const rf = shape[2] * shape[3];
    return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
  }
  if (kind === 'dense') return { fanIn: shape[1], fanOut: shape[0] };
  return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
}

function initTensor(shape: readonly number[], init: Init, kind: ParamKind): T.Tensor {
  return T.tidy(() => {
    switch (init.kind) {
      case 'zeros':
        return T.zeros(shape);
      case 'ones':
        return T.ones(shape);
      case 'normal':
        return T.zeros(shape).normal_(0, init.std);
      case 'uniform':
        return T.zeros(shape).uniform_(-init.bound, init.bound);
      case 'kaiming': {
        const f = fans(shape, kind);
        const fan = init.mode === 'fanIn' ? f.fanIn : f.fanOut;
        return T.zeros(shape).normal_(0, Math.sqrt(2 / fan));
      }
    }
  });
}
