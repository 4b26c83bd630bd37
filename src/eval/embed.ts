// Embeddings: a model's features (pre-logits, or a stage's output, pooled or
// whole) for every image of a dataset, batched through the data loader with
// BiT's evaluation preprocessing (resize to crop x crop), and their .npz form.
// The few-shot linear evaluator reads its features through embedDataset, so
// `bit embed` and `bit fewshot` see the same numbers.
import { evalLoader, type Dataset } from '../data/index.js';
import { jsonArray, writeNpz, type NdArray } from '../io/npz.js';
import { PRE_LOGITS, type FeatureLayer, type ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { rawImages, toModelInput } from '../train/batch.js';
import { InterruptedError } from '../util/errors.js';
import { Progress } from '../util/progress.js';

export interface EmbedOptions {
  /** Images are resized to crop x crop. */
  crop: number;
  /** Whose output (default 'pre-logits'; see the model's featureLayers). */
  layer?: FeatureLayer;
  /** Global average pooling (default true); false keeps the [C, H, W] maps. */
  pool?: boolean;
  batchSize?: number;
  workers?: number;
  /** Label of a progress line on stderr; omitted: none. */
  progress?: string;
  /** Stops after the current batch (SIGINT / SIGTERM): an InterruptedError, nothing returned. */
  signal?: AbortSignal;
}

/** The features of every image of `ds`, in order: a kept float32 tensor [N, C] (or [N, C, H, W] unpooled); dispose it when done. */
export async function embedDataset(model: ImageClassifier, ds: Dataset, opts: EmbedOptions): Promise<T.Tensor> {
  const layer = opts.layer ?? PRE_LOGITS;
  // a layer the model lacks is an error before any image is decoded
  T.tidy(() => T.noGrad(() => void model.features(T.zeros([0, 3, opts.crop, opts.crop]), { layer })));
  const batchSize = opts.batchSize ?? 64;
  const loader = evalLoader(ds, { batchSize, crop: opts.crop, workers: opts.workers });
  const progress = opts.progress ? new Progress(Math.ceil(ds.length / batchSize), { label: opts.progress, unit: 'img' }) : null;
  const parts: T.Tensor[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    let batches = 0;
    for await (const b of loader) {
      if (opts.signal?.aborted)
        throw new InterruptedError(`embedding interrupted after ${parts.length * batchSize} of ${ds.length} images; nothing was written`);
      parts.push(T.keep(T.tidy(() => T.noGrad(() => model.features(toModelInput(rawImages(b)), { layer, pool: opts.pool })))));
      progress?.update(++batches, b.n);
    }
    return T.keep(T.tidy(() => T.cat(parts, 0)));
  } finally {
    progress?.done();
    T.dispose(parts);
    model.train(wasTraining);
    await loader.close();
  }
}

/** What an embeddings file records about how it was made. */
export interface EmbeddingInfo {
  weights: string;
  model: string;
  layer: FeatureLayer;
  pool: boolean;
  crop: number;
  data: string;
  [key: string]: unknown;
}

/**
 * Writes embeddings as .npz (atomically): `features` (float32), `index` (the
 * position of each row in `ds`), `labels` (int32, single-label data),
 * `files` (JSON list of the image files, file-backed data), `class_names`
 * (JSON, labelled data) and `info` (JSON).
 */
export async function saveEmbeddings(file: string, features: T.Tensor, ds: Dataset, info: EmbeddingInfo): Promise<void> {
  const arrays: [string, NdArray][] = [
    ['features', { dtype: 'float32', shape: [...features.shape], data: T.tidy(() => features.contiguous().data() as Float32Array) }],
    ['index', { dtype: 'int32', shape: [ds.length], data: Int32Array.from({ length: ds.length }, (_, i) => i) }],
  ];
  if (ds.labels) arrays.push(['labels', { dtype: 'int32', shape: [ds.length], data: ds.labels }]);
  if (ds.source.kind === 'files') arrays.push(['files', jsonArray(Array.from({ length: ds.length }, (_, i) => ds.filePath(i)))]);
  if (ds.numClasses > 0) arrays.push(['class_names', jsonArray(ds.classNames)]);
  arrays.push(['info', jsonArray(info)]);
  await writeNpz(file, arrays);
}
