// `bit predict`: logits of a preprocessed batch (.npy in, .npy out), or the
// top-k classes of image files.
import type { Command } from 'commander';
import { classNamesFor, decodeImage, MAX_IMAGE_SIDE } from '../data/index.js';
import { inferPixels, topClasses, type ImagePrediction } from '../eval/inference.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { loadModel, type ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { parseIntOption, parseThreadCount, WEIGHTS_HELP } from './options.js';

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
    .requiredOption('--weights <file|name>', `weights: ${WEIGHTS_HELP}`)
    .option('--model <name>', 'model name (needed for files without metadata that are not named as an official file)')
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
        const { names, source } = await classNamesFor(o.labels, meta, model.headSize);
        if (!names) process.stderr.write(`printing class indices: ${source}\n`);
        const crop = o.resolution ?? meta?.crop ?? 224;
        const results: ImagePrediction[] = [];
        for (const file of images) {
          const img = await decodeImage(file, crop);
          const { probabilities } = inferPixels(model, img.data, 1, crop, { probabilities: true, features: false });
          results.push({ image: file, top: topClasses(probabilities as Float32Array, 0, model.headSize, o.top, names) });
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
