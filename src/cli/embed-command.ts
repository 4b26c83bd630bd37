// `bit embed`: the features of images (files, folders, or a dataset split) as .npz.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { IMAGE_EXTENSIONS, openDataset, openImageFiles, parseDataSpec, type Dataset, type Split } from '../data/index.js';
import { embedDataset, saveEmbeddings } from '../eval/embed.js';
import { loadModel, PRE_LOGITS, type FeatureLayer } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { withStopSignals } from '../util/signals.js';
import { parseIntOption, parseThreadCount, WEIGHTS_HELP } from './options.js';

interface EmbedFlags {
  weights: string;
  out: string;
  model?: string;
  headSize?: number;
  layer: FeatureLayer;
  pool?: boolean;
  resolution?: number;
  split: Split;
  batch: number;
  workers?: number;
  threads?: number;
}

function parseLayer(value: string): FeatureLayer {
  if (value !== PRE_LOGITS && !/^block[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`expected pre-logits or block1, block2, ..., got '${value}'`);
  return value as FeatureLayer;
}

/** Image files and folders when they exist (or look like images), else one dataset spec (`digits`, `folder:DIR`, ...). */
async function openInputs(inputs: string[], split: Split): Promise<Dataset> {
  const isImageName = (s: string) => IMAGE_EXTENSIONS.includes(path.extname(s).toLowerCase());
  if (inputs.length === 1 && !existsSync(inputs[0]) && !isImageName(inputs[0])) return openDataset(parseDataSpec(inputs[0]), split);
  return openImageFiles(inputs);
}

export function registerEmbedCommand(program: Command): void {
  program
    .command('embed')
    .description("a model's features of every image (pre-logits, or a stage's output, pooled or whole) as .npz, with the file names or dataset indices")
    .argument('<inputs...>', 'image files, folders of images (searched recursively), or one dataset spec (digits, mnist, folder:DIR, ...; see --split)')
    .requiredOption('--weights <file|name>', `weights: ${WEIGHTS_HELP}`)
    .requiredOption('--out <feats.npz>', 'output .npz: features, index, files or labels, class_names, info')
    .option('--model <name>', 'model name (needed for files without metadata that are not named as an official file)')
    .option('--head-size <n>', 'outputs of the head (default: from the file)', parseIntOption(1))
    .option('--layer <layer>', "whose output: pre-logits (the head's input) or a stage: block1, block2, ...", parseLayer, PRE_LOGITS)
    .option('--pool', 'average over the spatial positions: [N, C] (the default)')
    .option('--no-pool', 'keep the whole maps: [N, C, H, W]')
    .option('--resolution <n>', 'images are resized to n x n (default: the resolution the weights were trained at, else 224)', parseIntOption(8))
    .addOption(new Option('--split <split>', 'split of a dataset spec').choices(['train', 'val', 'test']).default('train'))
    .option('--batch <n>', 'images per forward pass', parseIntOption(1), 64)
    .option('--workers <n>', 'data loader threads', parseThreadCount('--workers'))
    .option('--threads <n>', 'libtorch threads', parseThreadCount('--threads'))
    .action(async (inputs: string[], o: EmbedFlags) => {
      T.configureThreads(o.threads);
      const ds = await openInputs(inputs, o.split);
      const { model, meta } = await loadModel(o.weights, o.model, o.headSize);
      try {
        if (!model.featureLayers.includes(o.layer)) {
          throw new UsageError(
            `--layer ${o.layer}: ${meta?.model ?? o.model ?? 'the model'} has no such layer; its layers are ${model.featureLayers.join(', ')}`,
          );
        }
        const crop = o.resolution ?? meta?.crop ?? 224;
        const pool = o.pool !== false;
        const x = await withStopSignals((signal) =>
          embedDataset(model, ds, { crop, layer: o.layer, pool, batchSize: o.batch, workers: o.workers, progress: 'embed', signal }),
        );
        try {
          await saveEmbeddings(o.out, x, ds, { weights: o.weights, model: meta?.model ?? o.model ?? '', layer: o.layer, pool, crop, data: ds.name });
          process.stdout.write(
            `wrote ${o.out}: features [${x.shape.join(', ')}] (${o.layer}${pool ? ', pooled' : ''}, ${crop} px) of ${ds.length} images of ${ds.name}\n`,
          );
        } finally {
          x.dispose();
        }
      } finally {
        model.dispose();
      }
    });
}
