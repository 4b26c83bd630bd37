// `bit export --with-preprocessing`: the data layer's image preparation as
// ONNX nodes in front of the model. The graph takes decoded 8-bit RGB images
// (NHWC, any height and width, already EXIF-oriented) and squashes them to
// resolution x resolution as sharp's `resize(fit: 'fill', kernel: 'linear')`
// does (see browser-preprocess.ts for libvips's steps), then scales them as
// toModelInput does.
//
// Opset 17 has no antialiased Resize, so each axis is written out: libvips's
// integer box shrink (by floor(L / R / 2), rounding up, last row repeated,
// its fixed-point average), then one matrix product whose rows are its
// reduction kernels: triangle taps at positions accumulated row by row as
// libvips does (CumSum, restarting every 16 rows vertically), phases
// quantized to 1/64 pixel, weights truncated to 12 bits, rounded to 8 bits. The matrices are computed in float64 from the input's
// size; the products are exact in float32 (integer sums below 2^24). When an
// axis grows, libvips's bilinear enlargement follows both reductions, with
// its fixed-point weights (and its averaging of a non-growing axis over two
// pixels). Tested against sharp, bit for bit.
import type { OnnxGraph } from '../io/onnx.js';
import type { OnnxInputStage } from '../models/index.js';
import { VIPS_STRIP_HEIGHT } from './browser-preprocess.js';
import { PIXEL_OFFSET, PIXEL_SCALE } from './preprocess.js';

/** The graph input of the preprocessing stage. */
export const ONNX_IMAGE_INPUT = 'image';

const TO_FLOAT = { to: { int: 1 } } as const;
const TO_DOUBLE = { to: { int: 11 } } as const;
const TO_INT64 = { to: { int: 7 } } as const;
/** Kernel taps: 2 * rint(r) + 1 for a residual factor r < 4 (libvips's gap of 2 leaves at most 4). */
const MAX_TAPS = 9;
const PHASES = 64; // VIPS_TRANSFORM_SCALE
const WEIGHT_ONE = 4096; // VIPS_INTERPOLATE_SCALE

/** Builders for float64 arithmetic on small tensors. */
function ops(g: OnnxGraph, stem: string) {
  let k = 0;
  const n = (op: string, inputs: string[], attrs = {}) => g.node(op, inputs, `${stem}/${op.toLowerCase()}${k++}`, attrs);
  const c = (v: number) => g.initializer(`${stem}/c`, 'float64', [], [v]);
  return {
    n,
    c,
    add: (a: string, b: string) => n('Add', [a, b]),
    sub: (a: string, b: string) => n('Sub', [a, b]),
    mul: (a: string, b: string) => n('Mul', [a, b]),
    div: (a: string, b: string) => n('Div', [a, b]),
    floor: (a: string) => n('Floor', [a]),
    ceil: (a: string) => n('Ceil', [a]),
    max: (a: string, b: string) => n('Max', [a, b]),
    min: (a: string, b: string) => n('Min', [a, b]),
    toInt: (a: string) => n('Cast', [a], TO_INT64),
  };
}

/**
 * Reduces axis 2 of `x` (float32 [N, 3, L, W], integer values) to `resolution`
 * as libvips's vips_reducev does, returning float32 [N, 3, resolution, W] of
 * integers 0..255 and L (float64). An axis that does not shrink (L <=
 * resolution) is copied into the first L rows. Row positions restart every
 * `strip` output rows, as libvips's regions do (the whole axis for
 * horizontal passes).
 */
function reduceRows(g: OnnxGraph, x: string, resolution: number, strip: number, stem: string): { out: string; length: string } {
  const o = ops(g, stem);
  const shape = o.n('Shape', [x]);
  const lenInt = o.n('Gather', [shape, g.ints(`${stem}/axis2`, [2])]); // int64 [1]
  const L = o.n('Cast', [lenInt], TO_DOUBLE);
  const R = o.c(resolution);
  // sharp passes 1 / (L / R) to vips_resize, which passes 1 / scale to vips_reducev
  const s = o.div(o.c(1), o.div(o.c(1), o.div(L, R)));
  const k = o.max(o.floor(o.div(o.div(L, R), o.c(2))), o.c(1));
  const Lk = o.ceil(o.div(L, k));
  // --- the integer box shrink (vips_shrinkv, ceil: true): pad by repeating the last row, sum groups of k
  const padRows = o.toInt(o.sub(o.mul(Lk, k), L));
  const zeros6 = g.ints(`${stem}/zeros6`, [0, 0, 0, 0, 0, 0]);
  const pads = o.n('Concat', [zeros6, padRows, g.ints(`${stem}/zero1`, [0])], { axis: { int: 0 } });
  const padded = o.n('Pad', [x, pads], { mode: { string: 'edge' } });
  const nc = o.n('Slice', [shape, g.ints(`${stem}/s0`, [0]), g.ints(`${stem}/s2`, [2]), g.ints(`${stem}/a0`, [0])]);
  const w = o.n('Slice', [shape, g.ints(`${stem}/s3`, [3]), g.ints(`${stem}/s4`, [4]), g.ints(`${stem}/a0_`, [0])]);
  const grouped = o.n('Reshape', [padded, o.n('Concat', [nc, o.toInt(Lk), o.toInt(k), w], { axis: { int: 0 } })]);
  const sums = o.n('ReduceSum', [o.n('Cast', [grouped], TO_DOUBLE), g.ints(`${stem}/a3`, [3])], { keepdims: { int: 0 } });
  // ((sum + k / 2) * floor(2^32 / (256 k))) >> 24, in float64 (exact below 2^53)
  const multiplier = o.floor(o.div(o.c(2 ** 32), o.mul(o.c(256), k)));
  const boxed = o.n('Cast', [o.floor(o.div(o.mul(o.add(sums, o.floor(o.div(k, o.c(2)))), multiplier), o.c(2 ** 24)))], TO_FLOAT);
  // --- the residual reduction (vips_reducev), kernel rows as a matrix [R, Lk]
  const r = o.div(s, k);
  const extra = o.div(o.sub(o.mul(R, s), L), k);
  const offset = o.sub(o.div(o.add(o.c(1), extra), o.c(2)), o.c(1));
  const taps = o.add(o.mul(o.n('Round', [r]), o.c(2)), o.c(1)); // rint: half to even, as Round
  const e = o.sub(o.ceil(o.div(taps, o.c(2))), o.c(1));
  // row positions as libvips computes them: each strip of rows starts at (top + 0.5) r - 0.5 - offset, then adds r row by row
  const height = Math.min(strip, resolution);
  const strips = Math.ceil(resolution / height);
  const tops = g.initializer(
    `${stem}/strip_tops`,
    'float64',
    [strips, 1],
    Float64Array.from({ length: strips }, (_, i) => i * height + 0.5),
  );
  const first = o.sub(o.sub(o.mul(tops, r), o.c(0.5)), offset);
  const steps = o.n('Expand', [o.n('Reshape', [r, g.ints(`${stem}/one`, [1, 1])]), g.ints(`${stem}/rest`, [strips, height - 1])]);
  const tiles = o.n('CumSum', [o.n('Concat', [first, steps], { axis: { int: 1 } }), g.ints(`${stem}/cs1`, [1])]);
  const flat = o.n('Reshape', [tiles, g.ints(`${stem}/flat`, [strips * height])]);
  const Y = o.n('Slice', [flat, g.ints(`${stem}/y0`, [0]), g.ints(`${stem}/yR`, [resolution]), g.ints(`${stem}/ya`, [0])]);
  const Yc = o.n('Reshape', [Y, g.ints(`${stem}/col`, [resolution, 1])]);
  const py = o.floor(Yc);
  const sy = o.floor(o.mul(Yc, o.c(2 * PHASES)));
  const six = o.sub(sy, o.mul(o.floor(o.div(sy, o.c(2 * PHASES))), o.c(2 * PHASES)));
  const phase = o.div(o.floor(o.div(o.add(six, o.c(1)), o.c(2))), o.c(PHASES));
  const t = g.initializer(
    `${stem}/taps`,
    'float64',
    [1, MAX_TAPS],
    Float64Array.from({ length: MAX_TAPS }, (_, i) => i),
  );
  const half = o.sub(o.add(phase, o.div(taps, o.c(2))), o.c(1));
  const tent = o.n('Relu', [o.sub(o.c(1), o.n('Abs', [o.div(o.sub(t, half), r)]))]);
  const used = o.mul(tent, o.n('Cast', [o.n('Less', [t, taps])], TO_DOUBLE));
  // the sum tap by tap, in libvips's order (a ReduceSum may add in another order, and the last bit can move a truncated weight)
  const tap = (i: number) => o.n('Slice', [used, g.ints(`${stem}/t${i}`, [i]), g.ints(`${stem}/t${i}_`, [i + 1]), g.ints(`${stem}/ax1`, [1])]);
  let total = tap(0);
  for (let i = 1; i < MAX_TAPS; i++) total = o.add(total, tap(i));
  const normalized = o.div(used, total);
  const weights = o.floor(o.mul(normalized, o.c(WEIGHT_ONE)));
  const last = o.sub(Lk, o.c(1));
  const clampIndex = (v: string) => o.toInt(o.min(o.max(v, o.c(0)), last));
  const columns = o.n('Range', [
    g.initializer(`${stem}/r0`, 'int64', [], [0]),
    o.n('Squeeze', [o.toInt(Lk), g.ints(`${stem}/sq`, [0])]),
    g.initializer(`${stem}/r1`, 'int64', [], [1]),
  ]);
  /** Σ over taps of weight * one-hot(index): a [R, Lk] matrix. */
  const matrix = (index: string, wts: string, n: number) => {
    const hit = o.n('Cast', [o.n('Equal', [o.n('Reshape', [index, g.ints(`${stem}/idx3`, [resolution, n, 1])]), columns])], TO_DOUBLE);
    return o.n('ReduceSum', [o.mul(hit, o.n('Reshape', [wts, g.ints(`${stem}/w3`, [resolution, n, 1])])), g.ints(`${stem}/a1_`, [1])], {
      keepdims: { int: 0 },
    });
  };
  const reduce = matrix(clampIndex(o.sub(o.add(py, t), e)), weights, MAX_TAPS);
  // an axis that does not shrink is copied (its rows 0..L-1; the enlargement comes after both reductions)
  const j = g.initializer(
    `${stem}/rows`,
    'float64',
    [resolution, 1],
    Float64Array.from({ length: resolution }, (_, i) => i),
  );
  const copy = matrix(o.toInt(j), g.initializer(`${stem}/unit`, 'float64', [resolution, 1], new Float64Array(resolution).fill(WEIGHT_ONE)), 1);
  const m = o.n('Cast', [o.n('Where', [o.n('Greater', [s, o.c(1)]), reduce, copy])], TO_FLOAT);
  const acc = o.n('MatMul', [m, boxed]);
  const rounded = o.n('Floor', [o.n('Div', [o.n('Add', [acc, g.scalar(`${stem}/round`, WEIGHT_ONE / 2)]), g.scalar(`${stem}/one4096`, WEIGHT_ONE)])]);
  return { out: g.node('Clip', [rounded, g.scalar(`${stem}/lo`, 0), g.scalar(`${stem}/hi`, 255)], stem), length: L };
}

/**
 * vips_affine with the bilinear interpolator, as vips_resize runs it after
 * both reductions when an axis enlarges: x and y scales `a` and `d` (1 for an
 * axis that does not enlarge, which libvips then averages over two pixels),
 * input offset 0.5, one repeated pixel before the first, 12-bit weights whose
 * products are truncated as libvips's. `y` is [N, 3, R, R] whose first
 * `height` rows and `width` columns hold the image.
 */
function enlarge(g: OnnxGraph, y: string, resolution: number, scales: { a: string; d: string; height: string; width: string }, stem: string): string {
  const o = ops(g, stem);
  const tmp = o.div(o.c(1), o.mul(scales.a, scales.d));
  const ia = o.mul(tmp, scales.d);
  const id = o.mul(tmp, scales.a);
  const index = g.initializer(
    `${stem}/index`,
    'float64',
    [resolution],
    Float64Array.from({ length: resolution }, (_, i) => i),
  );
  // rows: iy = id * y + 0.5, computed row by row; columns: ix from 0.5, adding ia pixel by pixel
  const iy = o.add(o.mul(id, index), o.c(0.5));
  const steps = o.n('Expand', [o.n('Reshape', [ia, g.ints(`${stem}/one`, [1])]), g.ints(`${stem}/rest`, [resolution - 1])]);
  const ix = o.n('CumSum', [o.n('Concat', [g.initializer(`${stem}/start`, 'float64', [1], [0.5]), steps], { axis: { int: 0 } }), g.ints(`${stem}/cs0`, [0])]);
  const whole = (v: string) => o.floor(v);
  const fraction = (v: string) => o.floor(o.mul(o.sub(v, whole(v)), o.c(WEIGHT_ONE)));
  const clamp = (v: string, size: string) => o.toInt(o.min(o.max(v, o.c(0)), o.sub(size, o.c(1))));
  // the embedded pixel (i, i + 1) is the image's (i - 1, i)
  const row0 = clamp(o.sub(whole(iy), o.c(1)), scales.height);
  const row1 = clamp(whole(iy), scales.height);
  const col0 = clamp(o.sub(whole(ix), o.c(1)), scales.width);
  const col1 = clamp(whole(ix), scales.width);
  const Y = o.n('Reshape', [fraction(iy), g.ints(`${stem}/colv`, [resolution, 1])]);
  const X = o.n('Reshape', [fraction(ix), g.ints(`${stem}/rowv`, [1, resolution])]);
  const Yd = o.sub(o.c(WEIGHT_ONE), Y);
  const c4 = o.floor(o.div(o.mul(Y, X), o.c(WEIGHT_ONE)));
  const c2 = o.floor(o.div(o.mul(Yd, X), o.c(WEIGHT_ONE)));
  const weights = [o.sub(Yd, c2), c2, o.sub(Y, c4), c4].map((c) => o.n('Cast', [c], TO_FLOAT));
  const top = o.n('Gather', [y, row0], { axis: { int: 2 } });
  const bottom = o.n('Gather', [y, row1], { axis: { int: 2 } });
  const pixels = [
    o.n('Gather', [top, col0], { axis: { int: 3 } }),
    o.n('Gather', [top, col1], { axis: { int: 3 } }),
    o.n('Gather', [bottom, col0], { axis: { int: 3 } }),
    o.n('Gather', [bottom, col1], { axis: { int: 3 } }),
  ];
  let sum = g.scalar(`${stem}/half`, WEIGHT_ONE / 2);
  for (let i = 0; i < 4; i++) sum = g.node('Add', [sum, g.node('Mul', [pixels[i], weights[i]], `${stem}/term${i}`)], `${stem}/sum${i}`);
  return g.node('Floor', [g.node('Div', [sum, g.scalar(`${stem}/one4096`, WEIGHT_ONE)], `${stem}/scaled`)], stem);
}

/**
 * The preprocessing stage for `models.exportOnnx`: input `image`, uint8
 * [batch, height, width, 3]; output NCHW float32 [batch, 3, resolution,
 * resolution] in [-1, 1].
 */
export function onnxImagePreprocessing(resolution: number): OnnxInputStage {
  return {
    input: { name: ONNX_IMAGE_INPUT, type: 'uint8', shape: ['batch', 'height', 'width', 3] },
    description:
      `decoded 8-bit RGB images (EXIF orientation applied, alpha dropped) of any size, squashed to ${resolution}x${resolution} ` +
      `with libvips's linear kernel as sharp does (the same pixels), then x / 127.5 - 1`,
    build(g: OnnxGraph, input: string): string {
      const x = g.node('Transpose', [g.node('Cast', [input], 'preprocess/float', TO_FLOAT)], 'preprocess/nchw', { perm: { ints: [0, 3, 1, 2] } });
      const rows = reduceRows(g, x, resolution, VIPS_STRIP_HEIGHT, 'preprocess/reduce_rows');
      const t = g.node('Transpose', [rows.out], 'preprocess/columns_first', { perm: { ints: [0, 1, 3, 2] } });
      const cols = reduceRows(g, t, resolution, resolution, 'preprocess/reduce_columns');
      const reduced = g.node('Transpose', [cols.out], 'preprocess/reduced', { perm: { ints: [0, 1, 3, 2] } });
      // vips_resize enlarges when either axis grows: scale R / L on a growing axis, 1 on the other
      const o = ops(g, 'preprocess/enlarge_scales');
      const R = o.c(resolution);
      const scale = (L: string) => o.div(o.c(1), o.div(L, R));
      const grows = (L: string) => o.n('Less', [L, R]);
      const a = o.n('Where', [grows(cols.length), scale(cols.length), o.c(1)]);
      const d = o.n('Where', [grows(rows.length), scale(rows.length), o.c(1)]);
      const enlarged = enlarge(g, reduced, resolution, { a, d, height: o.min(rows.length, R), width: o.min(cols.length, R) }, 'preprocess/enlarge');
      const resized = g.node('Where', [o.n('Or', [grows(rows.length), grows(cols.length)]), enlarged, reduced], 'preprocess/resized');
      const scaled = g.node('Mul', [resized, g.scalar('preprocess/pixel_scale', PIXEL_SCALE)], 'preprocess/scaled');
      return g.node('Add', [scaled, g.scalar('preprocess/pixel_offset', PIXEL_OFFSET)], 'preprocess/model_input');
    },
  };
}
