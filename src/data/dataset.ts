// A dataset: a numbered list of samples, each an image (in memory or in a
// file, decoded on demand) with one label (single-label) or a set of labels
// (multi-label). Subsets share the parent's pixels and only remap indices.
import { DataError } from './errors.js';
import { decodeImage, memoryImage, toThreeChannels, type MemoryPixels, type RawImage } from './decode.js';

/** Height and width in pixels. */
export interface ImageSize {
  readonly height: number;
  readonly width: number;
}

/**
 * Where the pixels come from. Both kinds can be sent to a worker thread:
 * memory pixels live in a SharedArrayBuffer, files are paths.
 */
export type PixelSource = { readonly kind: 'memory'; readonly memory: MemoryPixels } | { readonly kind: 'files'; readonly paths: readonly string[] };

/** Labels of a multi-label dataset, compressed: sample i has values[offsets[i] .. offsets[i+1]). */
export interface LabelSets {
  readonly offsets: Int32Array;
  readonly values: Int32Array;
}

/** A file or folder left out at open time (an unreadable image with `skipBadImages`, a folder link not followed), and why. */
export interface SkippedImage {
  readonly path: string;
  readonly reason: string;
}

export interface DatasetInit {
  /** Names the dataset and split in messages, e.g. 'mnist/train'. */
  readonly name: string;
  readonly classNames: readonly string[];
  readonly source: PixelSource;
  /** Sample i is item sourceIndex[i] of the source; default: all items in order. */
  readonly sourceIndex?: Int32Array;
  /** One class per sample (single-label data). */
  readonly labels?: Int32Array;
  /** A set of classes per sample (multi-label data). */
  readonly labelSets?: LabelSets;
  /** Size of the source images when known (all alike, or a typical size). */
  readonly originalSize: ImageSize | null;
  /** Whether training flips images by default (false for digits, where a flip changes the meaning). */
  readonly defaultFlip: boolean;
  readonly skipped?: readonly SkippedImage[];
}

function sourceLength(source: PixelSource): number {
  return source.kind === 'memory' ? source.memory.count : source.paths.length;
}

export class Dataset {
  readonly name: string;
  readonly length: number;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** Class of each sample; null for multi-label data. */
  readonly labels: Int32Array | null;
  /** Classes of each sample; null for single-label data. */
  readonly labelSets: LabelSets | null;
  readonly multiLabel: boolean;
  readonly originalSize: ImageSize | null;
  readonly defaultFlip: boolean;
  readonly source: PixelSource;
  readonly sourceIndex: Int32Array;
  /** What was left out at open time: unreadable images (`skipBadImages`), folders reached again through a symbolic link. */
  readonly skipped: readonly SkippedImage[];

  constructor(init: DatasetInit) {
    this.name = init.name;
    this.classNames = init.classNames;
    this.numClasses = init.classNames.length;
    this.source = init.source;
    const n = sourceLength(init.source);
    if (init.sourceIndex === undefined) {
      this.sourceIndex = new Int32Array(n);
      for (let i = 0; i < n; i++) this.sourceIndex[i] = i;
    } else {
      this.sourceIndex = init.sourceIndex;
      for (const s of this.sourceIndex) {
        if (s < 0 || s >= n) throw new DataError(`${init.name}: source index ${s} out of range [0, ${n})`);
      }
    }
    this.length = this.sourceIndex.length;
    this.originalSize = init.originalSize;
    this.defaultFlip = init.defaultFlip;
    this.skipped = init.skipped ?? [];
    if ((init.labels === undefined) === (init.labelSets === undefined)) {
      throw new DataError(`${init.name}: give either labels (single-label) or labelSets (multi-label)`);
    }
    this.multiLabel = init.labelSets !== undefined;
    this.labels = init.labels ?? null;
    this.labelSets = init.labelSets ?? null;
    if (this.labels !== null) {
      if (this.labels.length !== this.length) {
        throw new DataError(`${init.name}: ${this.labels.length} labels for ${this.length} samples`);
      }
      for (let i = 0; i < this.length; i++) this.checkLabel(this.labels[i], i);
    }
    if (this.labelSets !== null) {
      const { offsets, values } = this.labelSets;
      if (offsets.length !== this.length + 1 || offsets[0] !== 0 || offsets[this.length] !== values.length) {
        throw new DataError(`${init.name}: label sets do not match ${this.length} samples`);
      }
      for (let i = 0; i < this.length; i++) {
        for (let j = offsets[i]; j < offsets[i + 1]; j++) this.checkLabel(values[j], i);
      }
    }
  }

  private checkLabel(label: number, i: number): void {
    if (!Number.isInteger(label) || label < 0 || label >= this.numClasses) {
      throw new DataError(
        `${this.describe(i)}: label ${label} is out of range: expected 0..${this.numClasses - 1} (${this.numClasses} classes)`,
        this.source.kind === 'files' ? { path: this.filePath(i) ?? undefined } : {},
      );
    }
  }

  /** The class of sample i (single-label data). */
  label(i: number): number {
    return this.requireLabels()[i];
  }

  /** The classes of sample i (one for single-label data). */
  labelsOf(i: number): Int32Array {
    if (this.labels !== null) return this.labels.subarray(i, i + 1);
    const sets = this.labelSets as LabelSets;
    return sets.values.subarray(sets.offsets[i], sets.offsets[i + 1]);
  }

  /** The labels of single-label data; a clear error for multi-label data. */
  requireLabels(what = 'this operation'): Int32Array {
    if (this.labels === null) throw new DataError(`${this.name} is multi-label: ${what} needs single-label data`);
    return this.labels;
  }

  /** Number of samples of each class (multi-label: of samples having the class). */
  classCounts(): Int32Array {
    const counts = new Int32Array(this.numClasses);
    if (this.labels !== null) for (const l of this.labels) counts[l]++;
    else for (const l of (this.labelSets as LabelSets).values) counts[l]++;
    return counts;
  }

  /** Labels of the given samples: class indices (single-label) or multi-hot rows of numClasses bytes. */
  batchLabels(indices: ArrayLike<number>): Int32Array | Uint8Array {
    const n = indices.length;
    if (this.labels !== null) {
      const out = new Int32Array(n);
      for (let k = 0; k < n; k++) out[k] = this.labels[indices[k]];
      return out;
    }
    const out = new Uint8Array(n * this.numClasses);
    for (let k = 0; k < n; k++) {
      for (const l of this.labelsOf(indices[k])) out[k * this.numClasses + l] = 1;
    }
    return out;
  }

  /** The file of sample i, or null for in-memory data. */
  filePath(i: number): string | null {
    return this.source.kind === 'files' ? this.source.paths[this.sourceIndex[i]] : null;
  }

  /** Names sample i in messages: its file, or the dataset and index. */
  describe(i: number): string {
    const file = this.filePath(i);
    return file !== null ? file : `${this.name} sample ${i}`;
  }

  /** Sample i's decoded pixels at their original size, 8-bit RGB, HWC. */
  async readImage(i: number): Promise<RawImage> {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new DataError(`${this.name}: sample index ${i} out of range [0, ${this.length})`);
    if (this.source.kind === 'files') return decodeImage(this.source.paths[this.sourceIndex[i]]);
    return toThreeChannels(await memoryImage(this.source.memory, this.sourceIndex[i]));
  }

  /** The samples at `indices` (in that order) as a dataset sharing this one's pixels. */
  subset(indices: Int32Array, name: string): Dataset {
    const sourceIndex = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new DataError(`${this.name}: subset index ${i} out of range [0, ${this.length})`);
      sourceIndex[k] = this.sourceIndex[i];
    }
    const base = {
      name,
      classNames: this.classNames,
      source: this.source,
      sourceIndex,
      originalSize: this.originalSize,
      defaultFlip: this.defaultFlip,
      skipped: this.skipped,
    };
    if (this.labels !== null) {
      const labels = new Int32Array(indices.length);
      for (let k = 0; k < indices.length; k++) labels[k] = this.labels[indices[k]];
      return new Dataset({ ...base, labels });
    }
    const offsets = new Int32Array(indices.length + 1);
    for (let k = 0; k < indices.length; k++) offsets[k + 1] = offsets[k] + this.labelsOf(indices[k]).length;
    const values = new Int32Array(offsets[indices.length]);
    for (let k = 0; k < indices.length; k++) values.set(this.labelsOf(indices[k]), offsets[k]);
    return new Dataset({ ...base, labelSets: { offsets, values } });
  }
}
