// `bit pretrain` (BiT's upstream recipe) and the data-parallel flags it shares
// with `bit finetune` (torchrun's names: --nproc-per-node, --nnodes,
// --node-rank, --master-addr, --master-port).
import { Option, type Command } from 'commander';
import * as path from 'node:path';
import * as T from '../tensor/index.js';
import { DEFAULT_JOIN_TIMEOUT_S, DEFAULT_TIMEOUT_S, type GlooCollective } from '../train/distributed.js';
import type { FinalMetrics, RunOptions } from '../train/trainer.js';
import { DEFAULT_MASTER_ADDR, DEFAULT_MASTER_PORT, loaderWorkersPerWorker, runDataParallel, type DistributedFlags, type RunPlace } from '../train/launch.js';
import { describeUpstreamRecipe, pretrain, type PretrainRecipeFlags } from '../train/pretrain.js';
import type { UpstreamVariant } from '../train/recipes.js';
import { withStopSignals } from '../util/signals.js';
import { parseFloatOption, parseIntOption } from './options.js';

export interface RunFlagValues extends DistributedFlagValues {
  out: string;
  seed: number;
  evalEvery?: number;
  checkpointEvery?: number;
  threads?: number;
  workers?: number;
  resume: boolean;
}

/** The data-parallel flags as commander parses them (torchrun's names). */
export type DistributedFlagValues = DistributedFlags;

/** Flags every training command shares: evaluation and checkpoint cadence, threads, resume, and the data-parallel flags. */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--eval-every <n>', 'evaluate every n steps (default: at the end only)', parseIntOption(1))
    .option('--checkpoint-every <n>', 'checkpoint every n steps (default: a tenth of the run)', parseIntOption(1))
    .option('--threads <n>', 'libtorch threads per worker (default: the cores / workers on this machine)', parseIntOption(1))
    .option('--workers <n>', 'data loader threads per worker', parseIntOption(1))
    .option('--no-resume', 'start over even if the output folder holds a checkpoint')
    .option('--nproc-per-node <n>', 'worker processes on this machine (data parallel; the cores are shared among them)', parseIntOption(1), 1)
    .option('--nnodes <n>', 'machines taking part (run the same command on each)', parseIntOption(1), 1)
    .option('--node-rank <r>', "this machine's index in 0..nnodes-1; node 0 hosts the rendezvous", parseIntOption(0), 0)
    .option('--master-addr <host>', 'address of the machine with --node-rank 0', DEFAULT_MASTER_ADDR)
    .option('--master-port <port>', 'rendezvous port on that machine (0: any free port, one machine only)', parseIntOption(0, 65535), DEFAULT_MASTER_PORT)
    .option('--dist-timeout <s>', 'seconds a collective waits for the slowest worker; a hung or unreachable worker is reported after this plus a few seconds', parseFloatOption(0.1), DEFAULT_TIMEOUT_S)
    .option('--join-timeout <s>', 'seconds workers wait for each other at start (machines started one after the other)', parseFloatOption(0.1), DEFAULT_JOIN_TIMEOUT_S)
    .option('--dist-iface <name>', 'network interface Gloo uses (default: $GLOO_SOCKET_IFNAME, else the one the host name resolves to)');
}

/** The data-parallel flags out of a command's parsed options. */
export function distributedFlags(o: DistributedFlags): DistributedFlags {
  const { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, distTimeout, joinTimeout, distIface } = o;
  return { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, distTimeout, joinTimeout, distIface };
}

/** Loader threads for a worker: the flag, else its share of the machine's cores when several workers share it. */
export function loaderWorkers(flag: number | undefined, place: RunPlace): number | undefined {
  return flag ?? (place.localWorld > 1 ? loaderWorkersPerWorker(place.localWorld) : undefined);
}

/** One line on the cost of gradient averaging in this run (rank 0 prints it). */
export function describeGradientTraffic(col: GlooCollective, m: FinalMetrics): string {
  const g = col.gradientStats;
  const steps = m.steps - m.resumed_from_step;
  const loopSeconds = m.images_per_s > 0 ? (steps * m.recipe.batch) / m.images_per_s : 0;
  const pct = (s: number) => (loopSeconds > 0 ? ` (${((100 * s) / loopSeconds).toFixed(1)}% of the training loop)` : '');
  const mb = g.calls > 0 ? g.bytes / g.calls / 1e6 : 0;
  return `gradient averaging over ${col.world} workers: ${g.calls} steps x ${mb.toFixed(1)} MB; ${g.allReduceSeconds.toFixed(2)} s in all-reduces${pct(g.allReduceSeconds)}, ${g.seconds.toFixed(2)} s with flattening and copying back${pct(g.seconds)}`;
}

/** The recipe flags as parsed: the library's names, but --resolution for the crop and a plain --no-flip boolean. */
interface PretrainFlags extends RunFlagValues, Omit<PretrainRecipeFlags, 'crop' | 'flip'> {
  model: string;
  data: string;
  variant: UpstreamVariant;
  resolution?: number;
  flip: boolean;
  norm: 'model' | 'batch';
  evalSplit: 'test' | 'val' | 'none';
}

/** What every worker of a run must agree on (checked at the rendezvous). */
function pretrainFingerprint(o: PretrainFlags): string {
  const { model, data, variant, epochs, steps, batch, batchSplit, lrPer256, lr, resolution, precrop, flip, weightDecay, warmupSteps, norm, seed, evalSplit } = o;
  return JSON.stringify({ command: 'pretrain', model, data, variant, epochs, steps, batch, batchSplit, lrPer256, lr, resolution, precrop, flip, weightDecay, warmupSteps, norm, seed, evalSplit });
}

/**
 * Runs one training command on this process or as data-parallel workers:
 * threads, signals, the lead worker's summary and exit code. `train` gets
 * the collective (null on one process), the loader threads and whether this
 * worker reports; `summary` turns the metrics into the lines to print.
 */
export async function runTrainingCommand(
  o: RunFlagValues,
  fingerprint: string,
  train: (run: RunOptions, ctx: { lead: boolean; world: number }) => Promise<FinalMetrics>,
  summary: (m: FinalMetrics) => string,
): Promise<void> {
  const code = await runDataParallel(distributedFlags(o), fingerprint, async (collective, place) => {
    T.configureThreads(o.threads);
    const lead = place.rank === 0;
    const metrics = await withStopSignals((signal) =>
      train(
        {
          out: o.out,
          seed: o.seed,
          evalEvery: o.evalEvery,
          checkpointEvery: o.checkpointEvery,
          resume: o.resume,
          workers: loaderWorkers(o.workers, place),
          collective,
          signal,
          quiet: !lead,
        },
        { lead, world: place.world },
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

/** A fraction as a percentage, or n/a. */
export function pct(v: number | null): string {
  return v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`;
}

export function registerPretrainCommand(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description("pre-train a model with BiT's upstream recipe (on one process, or data-parallel on several processes or machines)")
    .requiredOption('--model <name>', 'model name (see bit models), e.g. BiT-Mini')
    .requiredOption('--data <spec>', 'dataset: mnist, fashion-mnist, a folder, idx:DIR, multilabel:DIR (several labels per image: sigmoid loss)')
    .requiredOption('--out <dir>', 'output folder (checkpoint.npz, model.npz, metrics.json, metrics.jsonl)')
    .addOption(new Option('--variant <v>', 'schedule of BiT-S/M (90 epochs, /10 at 30, 60, 80) or BiT-L (40 epochs, /10 at 23, 30, 37)').choices(['S', 'M', 'L']).default('S'))
    .option('--epochs <n>', 'epochs (decays scale along)', parseIntOption(1))
    .option('--steps <n>', 'optimizer steps instead of epochs (warm-up and decays scale along)', parseIntOption(1))
    .option('--batch <n>', 'effective batch over all workers (default 4096); lr = 0.03 x batch/256', parseIntOption(1))
    .option('--batch-split <n>', 'micro-batches per step on each worker: same math, less memory', parseIntOption(1))
    .option('--lr-per-256 <x>', 'learning rate per 256 images (default 0.03)', parseFloatOption(0))
    .option('--lr <x>', 'learning rate, used as is', parseFloatOption(0))
    .option('--resolution <n>', 'random crop size (default 224)', parseIntOption(8))
    .option('--precrop <n>', 'resize size before the crop (default resolution x 256/224)', parseIntOption(8))
    .option('--no-flip', 'no random horizontal flips (default: flip unless the dataset says flips change meaning, e.g. digits)')
    .option('--weight-decay <x>', 'weight decay (default 1e-4)', parseFloatOption(0))
    .option('--warmup-steps <n>', 'linear warm-up steps (default 5000, or the same fraction of a shorter run)', parseIntOption(0))
    .addOption(new Option('--norm <kind>', "norm layers: the model's own (BiT: GroupNorm + WS) or BatchNorm (for comparisons; recorded in the weights, so finetune and eval rebuild it)").choices(['model', 'batch']).default('model'))
    .option('--seed <s>', 'seed of initialization, data order and augmentation', parseIntOption(0), 0)
    .addOption(new Option('--eval-split <split>', 'split to evaluate on').choices(['test', 'val', 'none']).default('test'));
  addRunFlags(cmd).action(async (o: PretrainFlags) => {
    await runTrainingCommand(
      o,
      pretrainFingerprint(o),
      (run, { lead, world }) =>
        pretrain({
          ...run,
          model: o.model,
          data: o.data,
          variant: o.variant,
          epochs: o.epochs,
          steps: o.steps,
          batch: o.batch,
          batchSplit: o.batchSplit,
          lrPer256: o.lrPer256,
          lr: o.lr,
          crop: o.resolution,
          precrop: o.precrop,
          flip: o.flip === false ? false : undefined,
          weightDecay: o.weightDecay,
          warmupSteps: o.warmupSteps,
          norm: o.norm,
          evalSplit: o.evalSplit,
          onRecipe: (r, train) => {
            if (lead) process.stderr.write(`${train.name}: ${train.length} training images, ${train.numClasses} classes${train.multiLabel ? ' (multi-label)' : ''}${world > 1 ? `; ${world} workers` : ''}\n${describeUpstreamRecipe(r)}\n`);
          },
        }),
      (m) => {
        const evald = m.eval_images > 0 ? `top-1 ${pct(m.top1)}  top-5 ${pct(m.top5)}  (${m.eval_images} eval images)  ` : '';
        return (
          `${evald}${m.steps} steps  ${m.images_per_s.toFixed(1)} img/s  final train loss ${m.final_train_loss.toFixed(4)}\n` +
          `wrote ${path.join(o.out, 'model.npz')} (BiT .npz; bit finetune --weights loads it) and ${path.join(o.out, 'metrics.json')}\n`
        );
      },
    );
  });
}
