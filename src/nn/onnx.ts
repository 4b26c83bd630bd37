// What the nn layer's ONNX exports share: tensors written as initializers.
import type { OnnxGraph } from '../io/onnx.js';
import * as T from '../tensor/index.js';

/** `t` (float32, in its own shape, or in `shape`) stored in the graph under `stem`; returns its name. */
export function tensorInitializer(g: OnnxGraph, stem: string, t: T.Tensor, shape: readonly number[] = t.shape): string {
  const data = T.tidy(() => T.noGrad(() => t.detach().float().contiguous().data() as Float32Array));
  return g.initializer(stem, 'float32', shape, data);
}

/** A Relu node named after its input. */
export function onnxRelu(g: OnnxGraph, x: string): string {
  return g.node('Relu', [x], `${x}/relu`);
}

/**
 * `x` [N, C, H, W] with `p` rows and columns of zeros on every side, as
 * `T.pad2d(x, [p, p, p, p])`, built from Concat rather than Pad: ONNX
 * Runtime (1.30, every optimization level from 'basic') fuses a zero Pad
 * into a following MaxPool's `pads`, which MaxPool fills with -inf, not 0;
 * BiT's max pool reads the root convolution's output, which can be negative
 * at the border, so the fused graph computes something else (measured:
 * logits off by 5e-4 on BiT-Tiny). The zero strips are a slice of `x` times 0.
 */
export function onnxZeroPad2d(g: OnnxGraph, x: string, p: number, stem: string): string {
  const strip = (v: string, axis: number, name: string): string => {
    const s = g.node('Slice', [v, g.ints(`${name}/starts`, [0]), g.ints(`${name}/ends`, [p]), g.ints(`${name}/axes`, [axis])], `${name}/slice`);
    return g.node('Mul', [s, g.scalar(`${name}/zero`, 0)], name);
  };
  const rows = strip(x, 2, `${stem}/zero_rows`);
  const tall = g.node('Concat', [rows, x, rows], `${stem}/rows_padded`, { axis: { int: 2 } });
  const cols = strip(tall, 3, `${stem}/zero_cols`);
  return g.node('Concat', [cols, tall, cols], stem, { axis: { int: 3 } });
}
