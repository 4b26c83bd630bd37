// The module base: a forward function plus a training flag that propagates to children.
import type { OnnxGraph } from '../io/onnx.js';
import { tidy, type Tensor } from '../tensor/index.js';
import { onnxRelu } from './onnx.js';

export abstract class Module {
  #training = true;
  readonly #children: Module[] = [];

  /**
   * Every `forward` runs in its own scope: the tensors a module creates and
   * does not return are freed as soon as it returns, as they would be in
   * eager PyTorch, instead of living until the caller's `tidy` ends, which
   * held every activation of a whole network (BiT-R50x1 at 128 px, batch 8:
   * peak RSS of a forward run 863 -> 587 MiB, of a training run, where the
   * pre-ReLU norm outputs of every unit waited too, 1068 -> 811 MiB).
   * Tensors that autograd saved stay alive inside libtorch whatever their
   * handles do.
   */
  constructor() {
    const forward = this.forward.bind(this);
    this.forward = (x: Tensor): Tensor => tidy(() => forward(x));
  }

  /** Registers a child so that train()/eval() reach it. Returns it. */
  protected child<M extends Module>(m: M): M {
    this.#children.push(m);
    return m;
  }

  get training(): boolean {
    return this.#training;
  }

  /** Training mode (BatchNorm uses batch statistics, noise layers are active). */
  train(on = true): this {
    this.#training = on;
    for (const c of this.#children) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  abstract forward(x: Tensor): Tensor;

  /**
   * The inference form of `forward` (eval mode, as `bit predict` runs it) as
   * ONNX nodes appended to `g`, reading the value named `x`; returns the
   * output's name. Each module writes its own, next to its forward.
   */
  toOnnx(_g: OnnxGraph, _x: string): string {
    throw new Error(`${this.constructor.name} has no ONNX export`);
  }

  /** Frees what the module itself holds (caches); parameters belong to the VarStore. */
  dispose(): void {
    for (const c of this.#children) c.dispose();
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
  override toOnnx(g: OnnxGraph, x: string): string {
    return onnxRelu(g, x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
  override toOnnx(_g: OnnxGraph, x: string): string {
    return x;
  }
}
