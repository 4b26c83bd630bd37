// `bit predict`: logits of a preprocessed batch (.npy in, .npy out), or the
// top-k classes of image files.
import type { Command } from 'commander';
import { decodeFile, MAX_IMAGE_SIDE, readClassNames } from '../data/index.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { loadModel, type ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { toModelInput } from '../train/batch.js';
import { UsageError } from '../util/errors.js';
import { parseIntOption, parseThreadCount } from './options.js';

interface PredictFlags {
  weights: string;
  model?: string;
  headSize?: number;
  input?: string;
  output?: string;
  labels?: string;
  top: number;
  resolution?: number;
  threads?: number;
  json?: boolean;
}

/** A file or class name for the line-based text output: quoted and escaped (JSON) when it holds a line break or another control character. */
function oneLine(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(name) ? JSON.stringify(name) : name;
}

async function readLabels(file: string, n: number): Promise<string[]> {
  const names = await readClassNames(file);
  if (names.length !== n) throw new UsageError(`${file} has ${names.length} label names but the model has ${n} outputs`);
  return names;
}

async function predictNpy(model: ImageClassifier, input: string, output: string): Promise<number[]> {
  const x = await readNpy(input);
  if (x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[3] !== 3) {
    throw new UsageError(`${input} must be float32 NHWC [N, H, W, 3] in [-1, 1], got ${x.dtype} [${x.shape.join(', ')}]`);
  }
  const logits = T.tidy(() => {
    const batch = T.tensor(x.data, x.shape);
    // NaN or an infinity would come out as NaN probabilities: name the first image that holds one
    const bad = batch.isfinite().logicalNot().reshape([x.shape[0], -1]).sum(1).toArray();
    const first = bad.findIndex((n) => n > 0);
    if (first >= 0) throw new UsageError(`${input}: image ${first} (of ${bad.length}) holds ${bad[first]} NaN or infinite values: expected float32 in [-1, 1]`);
    return T.noGrad(() => model.forward(batch.permute([0, 3, 1, 2]).contiguous()).data() as Float32Array);
  });
  const shape = [x.shape[0], model.headSize];
  await writeNpy(output, { dtype: 'float32', shape, data: logits });
  return shape;
}

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('logits of a preprocessed .npy batch (--input/--output), or the top-k classes of image files')
    .argument('[images...]', 'image files (jpg, png, webp, ...)')
    .requiredOption('--weights <file>', 'weights (.npz)')
    .option('--model <name>', 'model name (needed for files without metadata, e.g. official BiT files)')
    .option('--head-size <n>', 'outputs of the head (default: from the file)', parseIntOption(1))
    .option('--input <x.npy>', 'NHWC float32 batch in [-1, 1]')
    .option('--output <y.npy>', 'where to write the logits [N, head] (with --input)')
    .option('--labels <file>', 'class names, one per line')
    .option('--top <k>', 'classes to print per image', parseIntOption(1), 5)
    .option('--resolution <n>', 'image resolution (default: the trained one, else 224)', parseIntOption(8, MAX_IMAGE_SIDE))
    .option('--threads <n>', 'libtorch threads', parseThreadCount('--threads'))
    .option('--json', 'print JSON')
    .action(async (images: string[], o: PredictFlags) => {
      T.configureThreads(o.threads);
      if ((o.input === undefined) !== (o.output === undefined)) throw new UsageError('--input and --output go together');
      if (!o.input && images.length === 0) throw new UsageError('give image files, or --input X.npy --output Y.npy');
      const { model, meta } = await loadModel(o.weights, o.model, o.headSize);
      try {
        if (o.input && o.output) {
          const shape = await predictNpy(model, o.input, o.output);
          process.stdout.write(`wrote logits [${shape.join(', ')}] to ${o.output}\n`);
        }
        if (images.length === 0) return;
        const names = o.labels ? await readLabels(o.labels, model.headSize) : (meta?.classNames ?? null);
        const crop = o.resolution ?? meta?.crop ?? 224;
        const k = Math.min(o.top, model.headSize);
        const results: { image: string; top: { label: string; index: number; probability: number }[] }[] = [];
        for (const file of images) {
          const img = await decodeFile(file, crop);
          const { values, indices } = T.tidy(() =>
            T.noGrad(() => {
              const x = toModelInput(T.tensor(img.data, [1, crop, crop, 3], 'uint8'));
              const top = T.softmax(model.forward(x), 1).topk(k, 1);
              return { values: top.values.toArray(), indices: top.indices.toArray() };
            }),
          );
          results.push({ image: file, top: indices.map((index, j) => ({ index, label: names?.[index] ?? String(index), probability: values[j] })) });
        }
        if (o.json) process.stdout.write(JSON.stringify(results) + '\n');
        else
          for (const r of results)
            process.stdout.write(
              `${oneLine(r.image)}\n${r.top.map((t) => `  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${oneLine(t.label)}`).join('\n')}\n`,
            );
      } finally {
        model.dispose();
      }
    });
}
