// `bit export`: a trained model out of this runtime, as an ONNX file
// (`--format onnx`) or a static web page that runs it in the browser
// (`--format web`).
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { classNamesFor, onnxImagePreprocessing } from '../data/index.js';
import { exportOnnx, getModel, loadModel, ONNX_OPSETS, type OnnxExportOptions, type OnnxExportResult, type OnnxOpset } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError, messageOf } from '../util/errors.js';
import { parseIntOption } from './options.js';
import { exportWeb } from './web-export.js';

interface ExportFlags {
  weights: string;
  model?: string;
  headSize?: number;
  format: 'onnx' | 'web';
  out: string;
  resolution?: number;
  opset: string;
  withPreprocessing?: boolean;
  labels?: string;
}

function describe(r: OnnxExportResult, out: string, format: 'onnx' | 'web'): string {
  const shape = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;
  const what = format === 'web' ? `${out}/ (index.html, app.js, model.onnx, labels.json, onnxruntime-web)` : out;
  return (
    `wrote ${what}: ${r.metadata.model}, ONNX opset ${r.opset}, ${r.nodes} nodes, ${(r.bytes / 2 ** 20).toFixed(1)} MiB\n` +
    `  input  ${r.input.name}: ${r.input.type} ${shape(r.input.shape)}\n` +
    `  output logits: float32 [batch, ${r.metadata.head_size}]\n`
  );
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write a trained model as an ONNX file (--format onnx) or a static web page that classifies images in the browser (--format web)')
    .requiredOption('--weights <file>', 'weights (.npz)')
    .option('--model <name>', 'model name (needed for files without metadata, e.g. official BiT files)')
    .option('--head-size <n>', 'outputs of the head (default: from the file)', parseIntOption(1))
    .addOption(
      new Option('--format <format>', "'onnx': one .onnx file; 'web': a folder with a page, the model and onnxruntime-web")
        .choices(['onnx', 'web'])
        .default('onnx'),
    )
    .requiredOption('--out <path>', 'the .onnx file (--format onnx) or the folder to create (--format web); its folder must exist')
    .option('--resolution <n>', 'input resolution (default: the trained one, else 224)', parseIntOption(8))
    .addOption(
      new Option('--opset <n>', "ONNX opset: 17 (ONNX 1.12's checker accepts it; GroupNorm as InstanceNormalization) or 21 (one GroupNormalization node)")
        .choices(ONNX_OPSETS.map(String))
        .default('17'),
    )
    .option('--with-preprocessing', 'take uint8 NHWC images of any size and resize and scale them in the graph (--format onnx)')
    .option('--labels <file>', 'class names, one per line (default: from the weights file)')
    .action(async (o: ExportFlags) => {
      T.configureThreads();
      if (o.model !== undefined) {
        try {
          getModel(o.model);
        } catch (err) {
          throw new UsageError(`--model: ${messageOf(err)}`);
        }
      }
      if (o.withPreprocessing && o.format === 'web')
        throw new UsageError('--with-preprocessing applies to --format onnx (the web page prepares images itself, as bit predict does)');
      const out = path.resolve(o.out);
      const dir = path.dirname(out);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--out: the folder ${dir} does not exist`);
      if (o.format === 'onnx' && existsSync(out) && statSync(out).isDirectory())
        throw new UsageError(`--out: ${out} is a folder; give the .onnx file to write`);
      const { model, meta } = await loadModel(o.weights, o.model, o.headSize);
      try {
        const classNames = (await classNamesFor(o.labels, meta, model.headSize)).names ?? undefined;
        const resolution = o.resolution ?? meta?.crop ?? 224;
        const opts: OnnxExportOptions = {
          resolution,
          modelName: getModel(o.model ?? meta?.model ?? '').name,
          classNames,
          opset: Number(o.opset) as OnnxOpset,
          preprocessing: o.withPreprocessing ? onnxImagePreprocessing(resolution) : undefined,
        };
        const r = o.format === 'web' ? await exportWeb(model, out, opts) : await exportOnnx(model, out, opts);
        process.stdout.write(describe(r, o.out, o.format));
      } finally {
        model.dispose();
      }
    });
}
