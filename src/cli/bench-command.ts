// `bit bench`: forward and training-step images/s, peak RSS and achieved
// GFLOP/s; with --compare pytorch (or onnxruntime), the same work in PyTorch
// (or the exported model in ONNX Runtime, inference only) alternately and
// the ratios; the data loader against the training step; scaling tables;
// with --serve, `bit serve` under load (src/bench/serve.ts).
import { Option, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import { compare, formatReport, formatServe, measureLoaders, measureScaling, measureServe, reportJson, type BenchReport, type Peer } from '../bench/index.js';
import { getModel } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError, messageOf } from '../util/errors.js';
import { parseIntList, parseIntOption, parseThreadCount } from './options.js';

interface BenchFlags {
  model: string;
  resolution: number;
  batch: number;
  threads?: number;
  compare?: Peer;
  peerEnv: 'same' | 'user';
  peerMode: 'eager' | 'compile';
  rounds?: number;
  reps: number;
  warmup: number;
  loader: boolean;
  loaderWorkers?: number;
  scaling?: boolean;
  scalingBatches: number[];
  scalingResolutions: number[];
  scalingMicro: number[];
  profile?: boolean;
  markdown?: boolean;
  json?: boolean;
  serve?: boolean;
  serveConnections: number[];
  serveSeconds: number;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'benchmark forward (inference) and training-step images/s, peak RSS and GFLOP/s; --compare pytorch|onnxruntime runs the same work in PyTorch, or the exported model in ONNX Runtime, alternately and prints the ratios',
    )
    .option('--model <name>', 'model from the registry (bit models)', 'BiT-S-R50x1')
    .option('--resolution <n>', 'input resolution', parseIntOption(8, 4096), 128)
    .option('--batch <n>', 'batch size', parseIntOption(1), 8)
    .option('--threads <n>', 'libtorch threads on both sides (default: every core)', parseThreadCount('--threads'))
    .addOption(
      new Option(
        '--compare <impl>',
        'also run the same model, weights, input and threads in PyTorch (Debian python3-torch; $BIT_PYTHON) or, exported as bit export writes it, in ONNX Runtime (onnxruntime-node; forward only), and print the ratios',
      ).choices(['pytorch', 'onnxruntime']),
    )
    .addOption(
      new Option(
        '--peer-env <env>',
        "the peer's environment: 'same' (the OpenMP settings bit runs with, on both sides; ONNX Runtime's threads do not spin either) or 'user' (PyTorch's or ONNX Runtime's own defaults)",
      )
        .choices(['same', 'user'])
        .default('same'),
    )
    .addOption(
      new Option(
        '--peer-mode <mode>',
        "how the PyTorch peer runs the model: 'eager' or 'compile' (torch.compile with TorchInductor, PyTorch 2.x: set BIT_PYTHON to its Python; the warm-up includes the compilation)",
      )
        .choices(['eager', 'compile'])
        .default('eager'),
    )
    .option('--rounds <n>', 'rounds, each running every side and phase once in its own process (default: 3 with --compare, else 1)', parseIntOption(1))
    .option('--reps <n>', 'timed repetitions per process', parseIntOption(1), 4)
    .option('--warmup <n>', 'untimed repetitions first', parseIntOption(0), 1)
    .option('--no-loader', 'skip the data-loader measurement')
    .option('--loader-workers <n>', 'loader worker threads (default: the loader default, cores - 1)', parseThreadCount('--loader-workers'))
    .option('--scaling', 'also measure images/s against batch size, resolution and micro-batches (ours)')
    .option('--scaling-batches <list>', 'batch sizes of the scaling table', parseIntList(1), [1, 2, 4, 8, 16])
    .option('--scaling-resolutions <list>', 'resolutions of the scaling table', parseIntList(1), [64, 96, 128, 160, 224])
    .option('--scaling-micro <list>', 'micro-batches per step of the scaling table (same effective batch)', parseIntList(1), [1, 2, 4])
    .option('--profile', "add libtorch's op timings of each side and phase (each op's fastest of 3 extra repetitions)")
    .option('--serve', 'instead: bit serve (--max-batch = --batch) under autocannon load beside the offline forward pass at batch 8 and 1 (src/bench/serve.ts)')
    .option('--serve-connections <list>', 'concurrent connections of each --serve load run', parseIntList(1), [1, 8, 32])
    .option('--serve-seconds <s>', 'seconds of each --serve load run (after 2 s of warm-up)', parseIntOption(1), 10)
    .option('--markdown', 'print the tables as Markdown')
    .option('--json', 'print one JSON object (progress goes to stderr)')
    .action(async (o: BenchFlags) => {
      try {
        getModel(o.model);
      } catch (err) {
        throw new UsageError(`--model: ${messageOf(err)}`);
      }
      const { scalingBatches: batches, scalingResolutions: resolutions, scalingMicro: microBatches } = o;
      const uneven = microBatches.find((m) => o.batch % m !== 0);
      if (o.scaling && uneven !== undefined) throw new UsageError(`--scaling-micro: ${uneven} micro-batches do not divide the batch ${o.batch}`);
      if (o.peerMode !== 'eager' && o.compare !== 'pytorch') throw new UsageError(`--peer-mode ${o.peerMode}: applies to --compare pytorch only`);
      const threads = T.configureThreads(o.threads ?? availableParallelism());
      const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
      if (o.serve) {
        const r = await measureServe({
          model: o.model,
          resolution: o.resolution,
          threads,
          connections: o.serveConnections,
          seconds: o.serveSeconds,
          warmupSeconds: 2,
          reps: o.reps,
          warmup: o.warmup,
          maxBatch: o.batch,
          maxWaitMs: 5,
          log,
        });
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatServe(r, o.markdown ? 'markdown' : 'text'));
        return;
      }
      const peer = o.compare ?? null;
      const compared = await compare({
        model: o.model,
        resolution: o.resolution,
        batch: o.batch,
        threads,
        peer,
        peerEnv: o.peerEnv,
        peerMode: o.peerMode,
        rounds: o.rounds ?? (peer !== null ? 3 : 1),
        warmup: o.warmup,
        reps: o.reps,
        profile: o.profile ?? false,
        log,
      });
      const loader = o.loader ? await measureLoaders({ resolution: o.resolution, batch: o.batch, workers: o.loaderWorkers, batches: 20, log }) : null;
      const scaling = o.scaling
        ? measureScaling({
            model: o.model,
            batch: o.batch,
            resolution: o.resolution,
            warmup: o.warmup,
            reps: Math.min(o.reps, 3),
            log,
            batches,
            resolutions,
            microBatches,
          })
        : null;
      const report: BenchReport = { compare: compared, loader, scaling };
      process.stdout.write(o.json ? JSON.stringify(reportJson(report)) + '\n' : formatReport(report, o.markdown ? 'markdown' : 'text'));
    });
}
