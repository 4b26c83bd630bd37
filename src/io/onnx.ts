// ONNX model files: a small graph builder whose nodes and initializers become
// an `onnx.ModelProto`, serialized by `onnx-proto` (protobufjs code generated
// from the official onnx.proto, IR version 8), never by hand. Modules append
// their own nodes (`Module.toOnnx`), so the graph follows the model's code.
import onnxProto from 'onnx-proto';
import { writeFileAtomic } from './atomic.js';

const { onnx } = onnxProto;

/** The element types this project writes (onnx.TensorProto.DataType). */
export type OnnxElementType = 'float32' | 'float64' | 'int64' | 'uint8';

const ELEMENT: Record<OnnxElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/** A node attribute, typed as ONNX types it (a bare number would not say int or float). */
export type OnnxAttribute =
  | { readonly int: number }
  | { readonly ints: readonly number[] }
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly string: string };

/** A graph input or output: its name, element type and shape (a string names a dynamic dimension). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly type: OnnxElementType;
  readonly shape: readonly (number | string)[];
}

export interface OnnxModelOptions {
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** ModelProto.metadata_props. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly graphName?: string;
  readonly docString?: string;
  readonly producerName?: string;
  readonly producerVersion?: string;
  /** ModelProto.ir_version; default 8 (ONNX 1.10-1.12, opsets up to 17). */
  readonly irVersion?: number;
}

/** Bytes above which a ModelProto cannot be serialized: protobuf's 2 GiB message limit. */
export const ONNX_MAX_BYTES = 2 ** 31 - 1;

type TypedData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

function attribute(name: string, a: OnnxAttribute): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in a) return { name, type: T.INT, i: a.int };
  if ('ints' in a) return { name, type: T.INTS, ints: [...a.ints] };
  if ('float' in a) return { name, type: T.FLOAT, f: a.float };
  if ('floats' in a) return { name, type: T.FLOATS, floats: [...a.floats] };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.string) };
}

function valueInfo(v: OnnxValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEMENT[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Nodes and initializers of one ONNX graph, in the order they are added
 * (topological, since a node can only read names that exist). Value names
 * are unique: `name(stem)` adds a suffix when a stem repeats.
 */
export class OnnxGraph {
  readonly #nodes: onnxProto.onnx.INodeProto[] = [];
  readonly #initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly #used = new Set<string>();
  #bytes = 0;

  /** `opset`: the default domain's operator set version the nodes are written for. */
  constructor(readonly opset: number) {}

  /** A value name not used yet, `stem` itself when free. */
  name(stem: string): string {
    let n = stem;
    for (let k = 1; this.#used.has(n); k++) n = `${stem}_${k}`;
    this.#used.add(n);
    return n;
  }

  get nodeCount(): number {
    return this.#nodes.length;
  }

  /** Bytes of initializer data so far. */
  get dataBytes(): number {
    return this.#bytes;
  }

  /** Reserves an input name (the graph inputs are not produced by nodes). */
  input(name: string): string {
    if (this.#used.has(name)) throw new Error(`ONNX graph: the input name '${name}' is already used`);
    this.#used.add(name);
    return name;
  }

  /** A constant tensor stored in the file; returns its name. */
  initializer(stem: string, type: OnnxElementType, dims: readonly number[], data: TypedData | readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const typed = Array.isArray(data) ? typedFrom(type, data as readonly number[]) : (data as TypedData);
    if (typed.length !== count) throw new Error(`ONNX graph: initializer '${stem}' has ${typed.length} values for shape [${dims.join(', ')}]`);
    const name = this.name(stem);
    // raw_data is little-endian, as typed arrays are on every platform Node runs on
    const raw = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength).slice();
    this.#initializers.push({ name, dataType: ELEMENT[type], dims: [...dims], rawData: raw });
    this.#bytes += raw.byteLength;
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, pads). */
  ints(stem: string, values: readonly number[]): string {
    return this.initializer(stem, 'int64', [values.length], values);
  }

  /** A float32 scalar constant (shape []). */
  scalar(stem: string, value: number): string {
    return this.initializer(stem, 'float32', [], [value]);
  }

  /** Appends a node with one output named after `stem`; returns that name. */
  node(op: string, inputs: readonly string[], stem: string, attributes: Readonly<Record<string, OnnxAttribute>> = {}): string {
    for (const i of inputs) if (i !== '' && !this.#used.has(i)) throw new Error(`ONNX graph: node ${op} '${stem}' reads '${i}', which nothing produced`);
    const out = this.name(stem);
    this.#nodes.push({
      name: out,
      opType: op,
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** The serialized ModelProto. */
  encode(o: OnnxModelOptions): Uint8Array {
    if (this.#bytes > ONNX_MAX_BYTES - (1 << 20)) {
      throw new Error(
        `the model's ${(this.#bytes / 2 ** 30).toFixed(2)} GiB of weights exceed the 2 GiB limit of a single ONNX (protobuf) file; ONNX external data is not supported by this exporter`,
      );
    }
    for (const out of o.outputs) if (!this.#used.has(out.name)) throw new Error(`ONNX graph: the output '${out.name}' is never produced`);
    const model = onnx.ModelProto.create({
      irVersion: o.irVersion ?? onnx.Version.IR_VERSION,
      opsetImport: [{ domain: '', version: this.opset }],
      producerName: o.producerName ?? '',
      producerVersion: o.producerVersion ?? '',
      docString: o.docString ?? '',
      graph: {
        name: o.graphName ?? 'graph',
        node: this.#nodes,
        initializer: this.#initializers,
        input: o.inputs.map(valueInfo),
        output: o.outputs.map(valueInfo),
      },
      metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function typedFrom(type: OnnxElementType, values: readonly number[]): TypedData {
  switch (type) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values.map((v) => BigInt(v)));
    case 'uint8':
      return Uint8Array.from(values);
  }
}

/** What an ONNX file says of itself, read back with the same generated code (tests, `bit export` summaries). */
export interface OnnxFileInfo {
  readonly irVersion: number;
  readonly opset: number;
  readonly metadata: Record<string, string>;
  readonly opTypes: string[];
  readonly inputs: { name: string; shape: (number | string)[] }[];
  readonly outputs: { name: string; shape: (number | string)[] }[];
}

export function describeOnnx(bytes: Uint8Array): OnnxFileInfo {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph;
  const shape = (v: onnxProto.onnx.IValueInfoProto) => (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
  return {
    irVersion: Number(m.irVersion),
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value])),
    opTypes: (g?.node ?? []).map((n) => n.opType ?? ''),
    inputs: (g?.input ?? []).map((v) => ({ name: v.name ?? '', shape: shape(v) })),
    outputs: (g?.output ?? []).map((v) => ({ name: v.name ?? '', shape: shape(v) })),
  };
}

/** Writes serialized model bytes atomically (a temporary file, then a rename). */
export async function writeOnnx(file: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(file, bytes);
}
