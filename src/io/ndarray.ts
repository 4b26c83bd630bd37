// NdArray: a dense, C-ordered, typed n-dimensional array as it is stored on
// disk (`.npy` / `.npz`). It is plain data: the IO layer reads and writes it,
// the tensor layer turns it into libtorch tensors. It is also home to the one
// error class of the IO layer, ArrayFileError, so that zip, npy and npz share it.

/** The typed array that holds each dtype's values (int64 as BigInt64Array, bool as 0/1 bytes). */
export interface NdDataMap {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  bool: Uint8Array;
}

export type NdDtype = keyof NdDataMap;

/** Every typed array an NdArray may hold. */
export type NdData = NdDataMap[NdDtype];

/** An NdArray of one known dtype. */
export interface NdArrayOf<D extends NdDtype> {
  dtype: D;
  /** Dimensions, outermost first; `[]` for a 0-d scalar. */
  shape: number[];
  /** `numel(shape)` values in C (row-major) order. */
  data: NdDataMap[D];
}

/** An NdArray of any dtype; narrowing on `dtype` narrows `data`. */
export type NdArray = { [D in NdDtype]: NdArrayOf<D> }[NdDtype];

interface DtypeInfo {
  /** Bytes per element. */
  readonly itemSize: number;
  /** Allocates a zero-filled array of `length` elements. */
  readonly allocate: (length: number) => NdData;
  /** Wraps existing bytes without copying (`byteOffset` must be aligned to itemSize). */
  readonly view: (buffer: ArrayBufferLike, byteOffset: number, length: number) => NdData;
  /** Whether `data` is the typed array this dtype uses. */
  readonly holds: (data: unknown) => boolean;
}

/** Per-dtype facts, in one table. */
export const DTYPES: { readonly [D in NdDtype]: DtypeInfo } = {
  float32: {
    itemSize: 4,
    allocate: (n) => new Float32Array(n),
    view: (b, o, n) => new Float32Array(b, o, n),
    holds: (d) => d instanceof Float32Array,
  },
  float64: {
    itemSize: 8,
    allocate: (n) => new Float64Array(n),
    view: (b, o, n) => new Float64Array(b, o, n),
    holds: (d) => d instanceof Float64Array,
  },
  int64: {
    itemSize: 8,
    allocate: (n) => new BigInt64Array(n),
    view: (b, o, n) => new BigInt64Array(b, o, n),
    holds: (d) => d instanceof BigInt64Array,
  },
  int32: {
    itemSize: 4,
    allocate: (n) => new Int32Array(n),
    view: (b, o, n) => new Int32Array(b, o, n),
    holds: (d) => d instanceof Int32Array,
  },
  int16: {
    itemSize: 2,
    allocate: (n) => new Int16Array(n),
    view: (b, o, n) => new Int16Array(b, o, n),
    holds: (d) => d instanceof Int16Array,
  },
  int8: {
    itemSize: 1,
    allocate: (n) => new Int8Array(n),
    view: (b, o, n) => new Int8Array(b, o, n),
    holds: (d) => d instanceof Int8Array,
  },
  uint8: {
    itemSize: 1,
    allocate: (n) => new Uint8Array(n),
    view: (b, o, n) => new Uint8Array(b, o, n),
    holds: (d) => d instanceof Uint8Array,
  },
  uint16: {
    itemSize: 2,
    allocate: (n) => new Uint16Array(n),
    view: (b, o, n) => new Uint16Array(b, o, n),
    holds: (d) => d instanceof Uint16Array,
  },
  uint32: {
    itemSize: 4,
    allocate: (n) => new Uint32Array(n),
    view: (b, o, n) => new Uint32Array(b, o, n),
    holds: (d) => d instanceof Uint32Array,
  },
  bool: {
    itemSize: 1,
    allocate: (n) => new Uint8Array(n),
    view: (b, o, n) => new Uint8Array(b, o, n),
    holds: (d) => d instanceof Uint8Array,
  },
};

export const ND_DTYPES: readonly NdDtype[] = Object.keys(DTYPES) as NdDtype[];

export function isNdDtype(value: unknown): value is NdDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

/**
 * The number of elements of `shape` (1 for a 0-d scalar). Throws a RangeError
 * if a dimension is not a non-negative integer or the product is not a safe integer.
 */
export function numel(shape: readonly number[]): number {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`shape [${shape.join(',')}]: dimension ${String(d)} is not a non-negative integer`);
    }
  }
  if (shape.includes(0)) {
    return 0;
  }
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new RangeError(`shape [${shape.join(',')}]: more than 2^53 elements`);
    }
  }
  return n;
}

/**
 * The data's bytes, as a view over the same memory (no copy). A Uint8Array
 * holds at most 2^32 bytes in Node 20, so for larger data use `byteRange`.
 */
export function bytesOf(data: NdData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A view of `length` bytes of the data from byte `start` (works for data over 4 GiB). */
export function byteRange(data: NdData, start: number, length: number): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset + start, length);
}

/**
 * Builds an NdArray, checking that `data` is the typed array of `dtype` and
 * holds exactly `numel(shape)` values. The shape is copied; the data is not.
 */
export function ndarray<D extends NdDtype>(dtype: D, shape: readonly number[], data: NdDataMap[D]): NdArrayOf<D> {
  const problem = ndarrayProblem({ dtype, shape, data });
  if (problem !== undefined) {
    throw new TypeError(`ndarray: ${problem}`);
  }
  return { dtype, shape: [...shape], data };
}

/** A zero-filled NdArray of `dtype` and `shape`. */
export function zeros<D extends NdDtype>(dtype: D, shape: readonly number[]): NdArrayOf<D> {
  const data = DTYPES[dtype].allocate(numel(shape)) as NdDataMap[D];
  return { dtype, shape: [...shape], data };
}

/**
 * Why `value` is not a well-formed NdArray (unknown dtype, bad shape, wrong
 * typed array, wrong length), or undefined if it is one. Used to validate
 * arrays that come from untyped callers before they are written.
 */
export function ndarrayProblem(value: { dtype: unknown; shape: unknown; data: unknown }): string | undefined {
  const { dtype, shape, data } = value;
  if (!isNdDtype(dtype)) {
    return `dtype ${JSON.stringify(dtype)} is not one of ${ND_DTYPES.join(', ')}`;
  }
  if (!Array.isArray(shape)) {
    return `shape must be an array of non-negative integers, got ${typeof shape}`;
  }
  let n: number;
  try {
    n = numel(shape as number[]);
  } catch (err) {
    return (err as Error).message;
  }
  if (!DTYPES[dtype].holds(data)) {
    const found = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
    return `dtype '${dtype}' needs a ${DTYPES[dtype].allocate(0).constructor.name}, got ${found}`;
  }
  const length = (data as NdData).length;
  if (length !== n) {
    return `shape [${(shape as number[]).join(',')}] needs ${n} values but data holds ${length}`;
  }
  return undefined;
}

/** Where a malformed input was found. */
export interface ArrayFileContext {
  /** The file (path or label) being read. */
  file?: string;
  /** The array key (npz key, without `.npy`). */
  key?: string;
  /** The zip member name, when it is more precise than the key. */
  member?: string;
}

/**
 * Every malformed `.npy`, `.npz` or zip input gives this error: truncated or
 * corrupt files, unsupported dtypes, bad headers, CRC mismatches. The message
 * names the file and, where known, the member, then what was expected and what
 * was found.
 */
export class ArrayFileError extends Error {
  readonly file: string | undefined;
  readonly key: string | undefined;
  readonly member: string | undefined;

  constructor(detail: string, context: ArrayFileContext = {}, options?: { cause?: unknown }) {
    super(formatContext(context) + detail, options);
    this.name = 'ArrayFileError';
    this.file = context.file;
    this.key = context.key;
    this.member = context.member;
  }
}

function formatContext(context: ArrayFileContext): string {
  let prefix = context.file !== undefined ? `${context.file}: ` : '';
  if (context.member !== undefined) {
    prefix += `member '${context.member}': `;
  } else if (context.key !== undefined) {
    prefix += `array '${context.key}': `;
  }
  return prefix;
}
