// `bit export --with-preprocessing`: the data layer's image preparation as
// ONNX nodes in front of the model. The graph takes decoded 8-bit RGB images
// (NHWC, any height and width, already EXIF-oriented) and squashes them to
// resolution x resolution, then scales them as toModelInput does.
//
// The resize approximates libvips's linear (triangle) resampling, which ONNX
// Resize cannot express at opset 17 (no antialiasing before opset 18): each
// axis is one matrix product with a triangle kernel of support max(1, L/R)
// centred at (j + 0.5) L/R - 0.5 when shrinking and at j L/R - 0.5 when
// enlarging (libvips's conventions), rows normalized, rounded to 8 bits
// between the passes (vertical first, as libvips). What it leaves out:
// libvips's integer box pre-shrink for factors >= 4, the 1/64-pixel kernel
// phases, 12-bit fixed-point weights, and edge replication when shrinking.
// The distance to sharp is measured in the tests and README.
import type { OnnxGraph } from '../io/onnx.js';
import type { OnnxInputStage } from '../models/index.js';
import { PIXEL_OFFSET, PIXEL_SCALE } from './preprocess.js';

/** The graph input of the preprocessing stage. */
export const ONNX_IMAGE_INPUT = 'image';

/** A matrix [resolution, L] resampling an axis of dynamic length `length` (a float scalar [1]) to `resolution`. */
function resampleMatrix(g: OnnxGraph, length: string, resolution: number, stem: string): string {
  const s = g.node('Div', [length, g.scalar(`${stem}/out`, resolution)], `${stem}/shrink`);
  const support = g.node('Max', [s, g.scalar(`${stem}/one`, 1)], `${stem}/support`);
  // 0.5 when shrinking (centre convention of vips_reduce), 0 when enlarging (vips_affine's input offset)
  const half = g.node(
    'Mul',
    [g.node('Min', [g.node('Floor', [s], `${stem}/floor`), g.scalar(`${stem}/one_`, 1)], `${stem}/shrinking`), g.scalar(`${stem}/half`, 0.5)],
    `${stem}/offset`,
  );
  const j = g.initializer(
    `${stem}/out_index`,
    'float32',
    [resolution, 1],
    Float32Array.from({ length: resolution }, (_, k) => k),
  );
  const centre = g.node(
    'Sub',
    [g.node('Mul', [g.node('Add', [j, half], `${stem}/j`), s], `${stem}/centre_`), g.scalar(`${stem}/half_`, 0.5)],
    `${stem}/centre`,
  );
  const i = g.node('Range', [g.scalar(`${stem}/zero`, 0), length, g.scalar(`${stem}/step`, 1)], `${stem}/in_index`);
  const dist = g.node('Div', [g.node('Abs', [g.node('Sub', [i, centre], `${stem}/offsets`)], `${stem}/abs`), support], `${stem}/distance`);
  const w = g.node('Relu', [g.node('Sub', [g.scalar(`${stem}/one__`, 1), dist], `${stem}/tent`)], `${stem}/weights`);
  const sum = g.node('ReduceSum', [w, g.ints(`${stem}/axis`, [1])], `${stem}/row_sum`, { keepdims: { int: 1 } });
  return g.node('Div', [w, sum], stem);
}

/** Rounds to the nearest integer, halves up (libvips's fixed-point rounding), as 8-bit intermediates are. */
function round8(g: OnnxGraph, x: string, stem: string): string {
  return g.node('Floor', [g.node('Add', [x, g.scalar(`${stem}/half`, 0.5)], `${stem}/plus_half`)], stem);
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
      `${ONNX_IMAGE_INPUT}: uint8 [batch, height, width, 3], decoded RGB (EXIF orientation applied, alpha dropped), any size; ` +
      `the graph squashes it to ${resolution}x${resolution} with a triangle filter close to libvips's linear kernel (not bit-exact) and scales x / 127.5 - 1`,
    build(g: OnnxGraph, input: string): string {
      const x = g.node('Transpose', [g.node('Cast', [input], 'preprocess/float', { to: { int: 1 } })], 'preprocess/nchw', { perm: { ints: [0, 3, 1, 2] } });
      const shape = g.node('Shape', [input], 'preprocess/shape');
      const dim = (axis: number, name: string): string =>
        g.node('Cast', [g.node('Gather', [shape, g.ints(`preprocess/${name}_axis`, [axis])], `preprocess/${name}_int`)], `preprocess/${name}`, {
          to: { int: 1 },
        });
      // Range needs scalars: the lengths as float [] (Gather of a [1] index gives [1]; squeeze it)
      const scalar = (v: string, name: string): string => g.node('Squeeze', [v, g.ints(`preprocess/${name}_squeeze`, [0])], `preprocess/${name}_scalar`);
      const rows = resampleMatrix(g, scalar(dim(1, 'height'), 'height'), resolution, 'preprocess/resize_rows');
      const cols = resampleMatrix(g, scalar(dim(2, 'width'), 'width'), resolution, 'preprocess/resize_cols');
      const tall = round8(g, g.node('MatMul', [rows, x], 'preprocess/rows_resized'), 'preprocess/rows_8bit');
      const colsT = g.node('Transpose', [cols], 'preprocess/resize_cols_t', { perm: { ints: [1, 0] } });
      const resized = round8(g, g.node('MatMul', [tall, colsT], 'preprocess/resized_'), 'preprocess/resized');
      const scaled = g.node('Mul', [resized, g.scalar('preprocess/pixel_scale', PIXEL_SCALE)], 'preprocess/scaled');
      return g.node('Add', [scaled, g.scalar('preprocess/pixel_offset', PIXEL_OFFSET)], 'preprocess/model_input');
    },
  };
}
