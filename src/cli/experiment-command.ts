// `bit experiment NAME [--quick] [--out DIR]`: the lecture's normalization studies.
import { Argument, type Command } from 'commander';
import * as path from 'node:path';
import { EXPERIMENTS, EXPERIMENT_NAMES, getExperiment } from '../experiments/index.js';
import * as T from '../tensor/index.js';
import { lockRunFolder } from '../train/run-lock.js';
import { withStopSignals } from '../util/signals.js';
import { parseThreadCount } from './options.js';

interface ExperimentFlags {
  quick?: boolean;
  check?: boolean;
  out?: string;
  threads?: number;
  workers?: number;
  tensorboard?: string;
}

/** The default output folder of an experiment. */
export function defaultExperimentOut(name: string, quick: boolean): string {
  return path.join('runs', 'experiments', quick ? `${name}-quick` : name);
}

function experimentList(): string {
  const w = Math.max(...EXPERIMENTS.map((e) => e.name.length));
  return EXPERIMENTS.map((e) => `  ${e.name.padEnd(w)}  ${e.title} (full form about ${e.expectedMinutes} min)`).join('\n');
}

export function registerExperimentCommand(program: Command): void {
  program
    .command('experiment')
    .description("run one of the lecture's normalization studies at small scale on real data; writes report.md, results.json and PNG/SVG figures")
    .addArgument(new Argument('<name>', 'experiment').choices(EXPERIMENT_NAMES))
    .option('--quick', 'the seconds-long form of the same pipeline (a smoke test: its numbers mean nothing)')
    .option('--check', 'exit 1 when a measured outcome leaves the band measured here (the bands are in src/experiments/*.ts and each report)')
    .option('--out <dir>', 'output folder (default runs/experiments/NAME, or NAME-quick)')
    .option('--threads <n>', 'libtorch threads (default $BIT_THREADS or every core; 1 is fastest on a busy machine)', parseThreadCount('--threads'))
    .option('--workers <n>', 'data loader threads', parseThreadCount('--workers'))
    .option('--tensorboard <dir>', "also write TensorBoard event files: the figures, and each training run's metrics in runs/<name>")
    .addHelpText('after', `\nExperiments:\n${experimentList()}\n\nResults as measured here, beside the published numbers: docs/experiments.md.`)
    .action(async (name: string, o: ExperimentFlags) => {
      T.configureThreads(o.threads);
      const exp = getExperiment(name);
      const quick = o.quick === true;
      const out = path.resolve(o.out ?? defaultExperimentOut(name, quick));
      await lockRunFolder(out); // one command per output folder; held until this process exits
      const outcome = await withStopSignals((signal) =>
        exp.execute({
          form: quick ? 'quick' : 'full',
          out,
          workers: o.workers,
          signal,
          log: (m) => process.stderr.write(m + '\n'),
          tensorboard: o.tensorboard,
        }),
      );
      const checks = outcome.checks.map(
        (c) =>
          `${c.inside ? 'in band ' : 'OUTSIDE '} ${c.name}: ${c.value === null ? 'not measured' : c.value.toFixed(2)} (band [${c.lo}, ${c.hi}]; measured here ${c.measured})`,
      );
      process.stdout.write(
        `${outcome.findings.map((f) => `- ${f}`).join('\n')}\n\noutcomes (${quick ? 'quick' : 'full'} bands):\n${checks.map((l) => `  ${l}`).join('\n')}\n\nwrote ${path.join(out, 'report.md')} and ${path.join(out, 'results.json')}\n`,
      );
      const outside = outcome.checks.filter((c) => !c.inside);
      if (o.check === true && outside.length > 0) {
        throw new Error(
          `--check: ${outside.length} of ${outcome.checks.length} outcome(s) of ${name}${quick ? ' --quick' : ''} left the band measured here: ${outside.map((c) => `${c.name} = ${c.value === null ? 'not measured' : c.value.toFixed(2)}, band [${c.lo}, ${c.hi}]`).join('; ')}`,
        );
      }
    });
}
