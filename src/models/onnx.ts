// A trained model as an ONNX file: the graph is the models' own `toOnnx`
// (each module beside its forward), the weights are the ones applied
// (weight standardization folded into plain convolutions), the batch
// dimension is dynamic, and the metadata says how to feed the model.
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { OnnxGraph, writeOnnx, type OnnxValueInfo } from '../io/onnx.js';
import { ONNX_GROUP_NORMALIZATION_OPSET } from '../nn/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import type { ImageClassifier } from './classifier.js';

/** Opset 17 (ONNX 1.12, IR 8: GroupNorm as InstanceNormalization) or 21 (IR 10: one GroupNormalization node). */
export type OnnxOpset = 17 | typeof ONNX_GROUP_NORMALIZATION_OPSET;
export const ONNX_OPSETS: readonly OnnxOpset[] = [17, ONNX_GROUP_NORMALIZATION_OPSET];
const IR_VERSION: Record<OnnxOpset, number> = { 17: 8, 21: 10 };

/** The name of the model's input when it takes preprocessed NCHW float32 values in [-1, 1]. */
export const ONNX_INPUT = 'input';
/** The name of the logits output [batch, headSize]. */
export const ONNX_OUTPUT = 'logits';

/**
 * A stage in front of the model (e.g. decoding-side preprocessing written as
 * ONNX nodes by the data layer): its graph input, the nodes from that input
 * to an NCHW float32 batch at `resolution`, and a description for the metadata.
 */
export interface OnnxInputStage {
  readonly input: OnnxValueInfo;
  build(g: OnnxGraph, input: string): string;
  readonly description: string;
}

export interface OnnxExportOptions {
  /** Input resolution (height = width) the model is fed at. */
  readonly resolution: number;
  /** Registry name, recorded in the metadata. */
  readonly modelName: string;
  readonly classNames?: readonly string[];
  /** Default 17. */
  readonly opset?: OnnxOpset;
  /** Replaces the float input by this stage (e.g. uint8 images with resizing in the graph). */
  readonly preprocessing?: OnnxInputStage;
  /** Recorded as the producer version. */
  readonly producerVersion?: string;
}

/** What `exportOnnx` wrote. */
export interface OnnxExportResult {
  readonly bytes: number;
  readonly opset: OnnxOpset;
  readonly nodes: number;
  readonly input: OnnxValueInfo;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The float input, as the metadata describes it. */
function floatInputDescription(resolution: number): string {
  return `${ONNX_INPUT}: float32 [batch, 3, ${resolution}, ${resolution}] (NCHW), RGB in [-1, 1]`;
}

/** How images become the float input, as `bit predict` prepares them (the metadata's `preprocessing`). */
function floatPreprocessing(resolution: number): string {
  return (
    `decode to 8-bit sRGB (EXIF orientation applied, alpha dropped), squash to ${resolution}x${resolution} with libvips's linear kernel ` +
    `(sharp resize(${resolution}, ${resolution}, {fit: 'fill', kernel: 'linear'})), then x / 127.5 - 1, as bit predict does`
  );
}

/** The serialized ONNX model of `model` (eval mode) and what it holds. */
export function onnxModelBytes(model: ImageClassifier, o: OnnxExportOptions): { bytes: Uint8Array; result: OnnxExportResult } {
  const opset = o.opset ?? 17;
  if (!ONNX_OPSETS.includes(opset)) throw new UsageError(`ONNX opset ${String(opset)} is not supported: choose ${ONNX_OPSETS.join(' or ')}`);
  if (!Number.isInteger(o.resolution) || o.resolution < 8) throw new UsageError(`resolution must be an integer >= 8, got ${o.resolution}`);
  if (o.classNames && o.classNames.length !== model.headSize) {
    throw new UsageError(`${o.classNames.length} class names given for a head of ${model.headSize} outputs`);
  }
  const wasTraining = model.training;
  model.eval();
  try {
    const g = new OnnxGraph(opset);
    const floatInput: OnnxValueInfo = { name: ONNX_INPUT, type: 'float32', shape: ['batch', 3, o.resolution, o.resolution] };
    const input = o.preprocessing?.input ?? floatInput;
    g.input(input.name);
    const x = o.preprocessing ? o.preprocessing.build(g, input.name) : input.name;
    const logits = g.node('Identity', [model.toOnnx(g, x)], ONNX_OUTPUT);
    const metadata: Record<string, string> = {
      model: o.modelName,
      head_size: String(model.headSize),
      resolution: String(o.resolution),
      input: o.preprocessing ? `${input.name}: ${input.type} [${input.shape.join(', ')}]` : floatInputDescription(o.resolution),
      preprocessing: o.preprocessing ? `in the graph: ${o.preprocessing.description}` : floatPreprocessing(o.resolution),
      output: `${ONNX_OUTPUT}: float32 [batch, ${model.headSize}] (softmax gives class probabilities)`,
      ...(o.classNames ? { class_names: JSON.stringify(o.classNames) } : {}),
    };
    const bytes = g.encode({
      inputs: [input],
      outputs: [{ name: logits, type: 'float32', shape: ['batch', model.headSize] }],
      metadata,
      graphName: o.modelName,
      docString: `${o.modelName} exported by bit-transfer`,
      producerName: 'bit-transfer',
      producerVersion: o.producerVersion ?? '',
      irVersion: IR_VERSION[opset],
    });
    return { bytes, result: { bytes: bytes.byteLength, opset, nodes: g.nodeCount, input, metadata } };
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Writes `model` as an ONNX file at `file` (atomically: a temporary file,
 * then a rename; nothing is left behind on failure). The folder must exist.
 */
export async function exportOnnx(model: ImageClassifier, file: string, o: OnnxExportOptions): Promise<OnnxExportResult> {
  const dir = path.dirname(path.resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`cannot write ${file}: the folder ${dir} does not exist`);
  const { bytes, result } = T.tidy(() => onnxModelBytes(model, o));
  await writeOnnx(file, bytes);
  return result;
}
