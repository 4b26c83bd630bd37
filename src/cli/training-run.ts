// What the training commands (`bit pretrain`, `bit finetune`) share: the run
// flags (cadence, threads, resume, and the data-parallel flags with torchrun's
// names: --nproc-per-node, --nnodes, --node-rank, --master-addr,
// --master-port), and running one command on this process or as
// data-parallel workers, with its banner and summary.
import type { Command } from 'commander';
import type { Dataset } from '../data/index.js';
import * as T from '../tensor/index.js';
import { DEFAULT_JOIN_TIMEOUT_S, DEFAULT_TIMEOUT_S, type GlooCollective } from '../train/distributed.js';
import { DEFAULT_MASTER_ADDR, DEFAULT_MASTER_PORT, loaderWorkersPerWorker, runDataParallel, threadsPerWorker, type DistributedFlags } from '../train/launch.js';
import type { Fingerprint } from '../train/fingerprint.js';
import type { FinalMetrics, RunOptions } from '../train/trainer.js';
import { pct } from '../util/format.js';
import { withStopSignals } from '../util/signals.js';
import { parseFloatOption, parseIntOption, parseThreadCount } from './options.js';

export interface RunFlagValues extends DistributedFlags {
  out: string;
  seed: number;
  evalEvery?: number;
  checkpointEvery?: number;
  threads?: number;
  workers?: number;
  resume: boolean;
  tensorboard?: string;
}

/** Flags every training command shares: evaluation and checkpoint cadence, threads, resume, and the data-parallel flags. */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--eval-every <n>', 'evaluate every n steps (default: at the end only)', parseIntOption(1))
    .option('--checkpoint-every <n>', 'checkpoint every n steps (default: a tenth of the run)', parseIntOption(1))
    .option('--threads <n>', 'libtorch threads per worker (default: the cores / workers on this machine)', parseThreadCount('--threads'))
    .option('--workers <n>', 'data loader threads per worker', parseThreadCount('--workers'))
    .option('--no-resume', 'start over even if the output folder holds a checkpoint')
    .option('--tensorboard <dir>', 'also write the metrics (loss, lr, images/s, evaluations) as TensorBoard event files into this folder')
    .option('--nproc-per-node <n>', 'worker processes on this machine (data parallel; the cores are shared among them)', parseIntOption(1), 1)
    .option('--nnodes <n>', 'machines taking part (run the same command on each)', parseIntOption(1), 1)
    .option('--node-rank <r>', "this machine's index in 0..nnodes-1; node 0 hosts the rendezvous", parseIntOption(0), 0)
    .option('--master-addr <host>', 'address of the machine with --node-rank 0', DEFAULT_MASTER_ADDR)
    .option('--master-port <port>', 'rendezvous port on that machine (0: any free port, one machine only)', parseIntOption(0, 65535), DEFAULT_MASTER_PORT)
    .option(
      '--dist-timeout <s>',
      'seconds a collective waits for the slowest worker; a hung or unreachable worker is reported after this plus a few seconds',
      parseFloatOption(0.1),
      DEFAULT_TIMEOUT_S,
    )
    .option(
      '--join-timeout <s>',
      'seconds workers wait for each other at start (machines started one after the other)',
      parseFloatOption(0.1),
      DEFAULT_JOIN_TIMEOUT_S,
    )
    .option('--dist-iface <name>', 'network interface Gloo uses (default: $GLOO_SOCKET_IFNAME, else the one the host name resolves to)');
}

/** Flags of the training commands that do not change what a run computes: where its files go and how it runs and is launched. */
export const LOCAL_FLAGS: ReadonlySet<string> = new Set([
  'out',
  'threads',
  'workers',
  'resume',
  'tensorboard',
  'nprocPerNode',
  'nnodes',
  'nodeRank',
  'masterAddr',
  'masterPort',
  'distTimeout',
  'joinTimeout',
  'distIface',
]);

/** Flags that do not change the result but that every worker must share (evaluations and checkpoints are collectives). */
export const CADENCE_FLAGS: ReadonlySet<string> = new Set(['evalEvery', 'checkpointEvery']);

/**
 * The parsed flags of `cmd` but those in `skip` (attribute names), keyed by
 * flag, with the command's name under 'bit': a negated flag (--no-flip) is
 * true when given, a flag not given (no value, no default) is absent.
 */
function flagFingerprint(cmd: Command, skip: ReadonlySet<string>): Fingerprint {
  const values = cmd.opts<Record<string, unknown>>();
  const out: Record<string, string | number | boolean> = { bit: cmd.name() };
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    const v = values[key];
    if (skip.has(key) || opt.long === undefined) continue;
    if (opt.negate) {
      if (v === false) out[opt.long] = true;
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out[opt.long] = v;
    } else if (v !== undefined) {
      throw new Error(`${opt.long}: a value of type ${typeof v} cannot be part of a run's fingerprint`);
    }
  }
  return out;
}

/** What decides a training command's result: every parsed flag but the local and cadence ones (recorded in checkpoints, checked on resume). */
export function resultFingerprint(cmd: Command): Fingerprint {
  return flagFingerprint(cmd, new Set([...LOCAL_FLAGS, ...CADENCE_FLAGS]));
}

/** What every worker of a data-parallel run must agree on: every parsed flag but the local ones. */
export function workerFingerprint(cmd: Command): Fingerprint {
  return flagFingerprint(cmd, LOCAL_FLAGS);
}

/** One line on the cost of gradient averaging in this run (rank 0 prints it). */
export function describeGradientTraffic(col: GlooCollective, m: FinalMetrics): string {
  const g = col.gradientStats;
  const steps = m.steps - m.resumed_from_step;
  const loopSeconds = m.images_per_s > 0 ? (steps * m.recipe.batch) / m.images_per_s : 0;
  const share = (s: number) => (loopSeconds > 0 ? ` (${((100 * s) / loopSeconds).toFixed(1)}% of the training loop)` : '');
  const mb = g.calls > 0 ? g.bytes / g.calls / 1e6 : 0;
  return `gradient averaging over ${col.world} workers: ${g.calls} steps x ${mb.toFixed(1)} MB; ${g.allReduceSeconds.toFixed(2)} s in all-reduces${share(g.allReduceSeconds)}, ${g.seconds.toFixed(2)} s with flattening and copying back${share(g.seconds)}`;
}

/** What a command's `train` gets besides the run options. */
export interface TrainingContext {
  lead: boolean;
  world: number;
  /** Prints (on the lead worker) the training set and the resolved recipe, before training starts. */
  announce: (train: Dataset, recipe: string) => void;
}

/**
 * Runs one training command (`cmd`, its flags parsed into `o`) on this
 * process or as data-parallel workers: threads, signals, the lead worker's
 * summary and exit code. Every worker must agree on `workerFingerprint`
 * (checked at the rendezvous); the run records `resultFingerprint` in its
 * checkpoints and refuses to resume one recorded with other settings.
 * `train` gets the run options and the context; `summary` turns the metrics
 * into the lines to print.
 */
export async function runTrainingCommand(
  cmd: Command,
  o: RunFlagValues,
  train: (run: RunOptions, ctx: TrainingContext) => Promise<FinalMetrics>,
  summary: (m: FinalMetrics) => string,
): Promise<void> {
  const code = await runDataParallel(o, JSON.stringify(workerFingerprint(cmd)), async (collective, place) => {
    // --threads, else $BIT_THREADS (our launcher sets it), else this worker's share of the machine (torchrun's workers)
    T.configureThreads(o.threads ?? (process.env.BIT_THREADS ? undefined : threadsPerWorker(place.localWorld)));
    const lead = place.rank === 0;
    const announce = (ds: Dataset, recipe: string) => {
      if (lead)
        process.stderr.write(
          `${ds.name}: ${ds.length} training images, ${ds.numClasses} classes${ds.multiLabel ? ' (multi-label)' : ''}${place.world > 1 ? `; ${place.world} workers` : ''}\n${recipe}\n`,
        );
    };
    const metrics = await withStopSignals((signal) =>
      train(
        {
          out: o.out,
          seed: o.seed,
          evalEvery: o.evalEvery,
          checkpointEvery: o.checkpointEvery,
          resume: o.resume,
          workers: o.workers ?? loaderWorkersPerWorker(place.localWorld),
          collective,
          signal,
          quiet: !lead,
          tensorboard: o.tensorboard,
          fingerprint: resultFingerprint(cmd),
        },
        { lead, world: place.world, announce },
      ),
    );
    if (lead) {
      process.stdout.write(summary(metrics));
      if (collective) process.stderr.write(describeGradientTraffic(collective, metrics) + '\n');
    }
    return metrics.stopped_early ? 130 : 0;
  });
  if (code !== 0) process.exitCode = code;
}

/** A fraction as a percentage with its sign ('12.34%'), or n/a. */
export function percent(v: number | null): string {
  return v === null ? 'n/a' : `${pct(v)}%`;
}

/** `top-1 ..  top-5 ..  (N <split> images)  ` of a run's final evaluation, or nothing without one. */
export function evaluationSummary(m: FinalMetrics, split: string): string {
  if (m.eval_images === 0) return '';
  return `${m.map !== null && m.map !== undefined ? `mAP ${percent(m.map)}  ` : ''}top-1 ${percent(m.top1)}  top-5 ${percent(m.top5)}  (${m.eval_images} ${split} images)  `;
}
