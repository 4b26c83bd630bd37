// `bit bench`'s main measurement: our forward and training step, and with a
// peer the same work in PyTorch or ONNX Runtime (inference only, on the file
// `bit export` writes), each side and phase in its own child process,
// alternating sides within every round (ours first in even rounds, the peer
// first in odd ones) so that both see the same machine load. Ratios are taken
// round by round, between runs minutes apart at most.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeNpy } from '../io/npy.js';
import { exportOnnx, getModel, loadWeights, modelCost, saveWeights, ResNetV2, type ModelEntry } from '../models/index.js';
import * as T from '../tensor/index.js';
import {
  onnxRuntimeSpins,
  openmpWaitPolicy,
  runSide,
  sideLabel,
  sidePhases,
  type BenchSetup,
  type Peer,
  type PeerEnv,
  type PeerMode,
  type Side,
  type SideRun,
} from './side.js';
import { imagesPerSecond, median, variation } from './stats.js';
import { convPeakGflops, flopsPerImage, matmulPeakGflops, phaseBatch, PHASES, type Phase } from './workload.js';
import { hostInfo, type HostInfo } from '../util/host.js';

export interface CompareOptions {
  readonly model: string;
  readonly resolution: number;
  readonly batch: number;
  readonly threads: number;
  /** Also run this peer (null: ours only). */
  readonly peer: Peer | null;
  /** The peer's environment (see `peerEnvironment`); default 'same'. */
  readonly peerEnv?: PeerEnv;
  /** How the PyTorch peer runs (see `PeerMode`); default 'eager'. */
  readonly peerMode?: PeerMode;
  readonly rounds: number;
  readonly warmup: number;
  readonly reps: number;
  /** Record libtorch's op timings of both sides (one extra repetition in the last round). */
  readonly profile: boolean;
  readonly log: (line: string) => void;
}

/** One side's measurement of one phase over all rounds. */
export interface PhaseResult {
  readonly side: Side;
  readonly phase: Phase;
  /** The child runs, one per round. */
  readonly runs: readonly SideRun[];
  /** Images/s at the median repetition time of each round. */
  readonly perRound: readonly number[];
  /** Images/s at the median of every timed repetition of every round. */
  readonly imagesPerSecond: number;
  /** Images/s of the fastest repetition (closest to an idle machine). */
  readonly bestImagesPerSecond: number;
  /** Coefficient of variation of the repetition times (noise). */
  readonly variation: number;
  /** Median CPU seconds (every thread) per image: less sensitive to other processes than wall-clock time. */
  readonly cpuSecondsPerImage: number;
  /** Median over rounds of the child's peak RSS (MiB). */
  readonly peakRssMb: number;
  readonly gflops: number;
  /** Of the BLAS matrix-product peak. */
  readonly fractionOfPeak: number;
  /** Of the 3x3-convolution peak. */
  readonly fractionOfConvPeak: number;
}

export interface PhaseRatio {
  readonly phase: Phase;
  /** ours / peer images/s, round by round. */
  readonly perRound: readonly number[];
  /** Median of the per-round ratios: the headline number. */
  readonly median: number;
  /** Ratio of the fastest repetitions. */
  readonly best: number;
  /** peer / ours CPU seconds per image (above 1: ours spends less CPU time on the same work). */
  readonly cpu: number;
  /** ours / peer peak RSS (medians over rounds). */
  readonly rss: number;
}

export interface MachineInfo extends Readonly<HostInfo> {
  /** 1-minute load average at the start and the end of the measurement. */
  readonly loadStart: number;
  readonly loadEnd: number;
  readonly date: string;
  readonly libtorch: string;
  /** The peer and its version ('PyTorch 1.13.1', 'ONNX Runtime 1.30.0'), null without one. */
  readonly peer: string | null;
  /** How the PyTorch peer ran (null for ONNX Runtime or without a peer). */
  readonly peerMode: PeerMode | null;
  /** OpenMP wait policy of ours and of the PyTorch peer (see `openmpWaitPolicy`), or how ONNX Runtime's own thread pool waits. */
  readonly openmpOurs: string;
  readonly openmpPeer: string | null;
}

/** The peer's measurements: every phase it runs (ONNX Runtime: forward only). */
export interface PeerResult {
  readonly side: Peer;
  readonly phases: Readonly<Partial<Record<Phase, PhaseResult>>>;
}

export interface CompareResult {
  readonly machine: MachineInfo;
  readonly options: Omit<CompareOptions, 'log'>;
  readonly macsPerImage: number;
  /** Best float32 matrix-product GFLOP/s through libtorch in this run (before and after the rounds). */
  readonly matmulPeakGflops: number;
  /** Best GFLOP/s of a large 3x3 convolution through libtorch (oneDNN) in this run. */
  readonly convPeakGflops: number;
  readonly ours: Readonly<Record<Phase, PhaseResult>>;
  readonly peer: PeerResult | null;
  /** ours / peer, for the phases the peer runs. */
  readonly ratios: Readonly<Partial<Record<Phase, PhaseRatio>>> | null;
}

/** The peer's architecture flags for a BiT ResNet-v2 (GroupNorm + WS), or null: no peer for this model. */
export function peerArgsFor(entry: ModelEntry, headSize: number): string[] | null {
  const model = entry.build({ virtual: true, headSize });
  try {
    if (!(model instanceof ResNetV2)) return null;
    const c = model.config;
    if ((c.standardize ?? true) !== true || (c.norm !== undefined && c.norm.kind !== 'group') || c.norm?.channelsPerGroup !== undefined) return null;
    const groups = c.norm?.kind === 'group' ? (c.norm.groups ?? 32) : 32;
    return [
      '--units',
      c.blockUnits.join(','),
      '--width-factor',
      String(c.widthFactor),
      '--base-width',
      String(c.baseWidth ?? 64),
      '--groups',
      String(groups),
      '--head',
      String(headSize),
    ];
  } finally {
    model.dispose();
  }
}

export function machineInfo(
  peer: { side: Peer; version: string } | null,
  loadStart: number,
  peerEnv: PeerEnv = 'same',
  peerMode: PeerMode = 'eager',
): MachineInfo {
  return {
    ...hostInfo(),
    loadStart,
    loadEnd: os.loadavg()[0],
    date: new Date().toISOString(),
    libtorch: T.buildInfo().torchVersion,
    peer: peer === null ? null : `${sideLabel(peer.side)} ${peer.version}`,
    peerMode: peer?.side === 'pytorch' ? peerMode : null,
    openmpOurs: openmpWaitPolicy('ours', peerEnv),
    openmpPeer:
      peer === null
        ? null
        : peer.side === 'pytorch'
          ? openmpWaitPolicy('pytorch', peerEnv)
          : `intra-op threads ${onnxRuntimeSpins(peerEnv) ? 'spin (its default)' : 'do not spin (session.intra_op.allow_spinning 0)'}`,
  };
}

/** Exports the benchmark's model (its weights file) as `bit export` does, for ONNX Runtime. */
async function writeBenchOnnx(entry: ModelEntry, headSize: number, weights: string, resolution: number, dir: string): Promise<string> {
  const model = entry.build({ headSize });
  const file = path.join(dir, 'model.onnx');
  try {
    await loadWeights(model, weights);
    await exportOnnx(model, file, { resolution, modelName: entry.name });
  } finally {
    model.dispose();
  }
  return file;
}

/**
 * Writes the benchmark's weights (the model's initialisation under seed 0,
 * head included, saved in the official key scheme) and input (uniform in
 * [-1, 1], NHWC) to `dir`.
 */
export async function writeBenchFiles(
  entry: ModelEntry,
  headSize: number,
  batch: number,
  resolution: number,
  dir: string,
): Promise<{ weights: string; input: string }> {
  T.manualSeed(0);
  const model = entry.build({ headSize, zeroHead: false });
  const weights = path.join(dir, 'weights.npz');
  const input = path.join(dir, 'input.npy');
  try {
    await saveWeights(model, weights);
  } finally {
    model.dispose();
  }
  const data = T.tidy(() => T.rand([batch, resolution, resolution, 3]).mul(2).sub(1).data() as Float32Array);
  await writeNpy(input, { dtype: 'float32', shape: [batch, resolution, resolution, 3], data });
  return { weights, input };
}

function summarize(side: Side, phase: Phase, runs: readonly SideRun[], batch: number, macs: number, peak: number, convPeak: number): PhaseResult {
  const all = runs.flatMap((r) => r.seconds);
  const ips = imagesPerSecond(batch, all);
  const gflops = (flopsPerImage(macs, phase) * ips) / 1e9;
  return {
    side,
    phase,
    runs,
    perRound: runs.map((r) => imagesPerSecond(batch, r.seconds)),
    imagesPerSecond: ips,
    bestImagesPerSecond: batch / Math.min(...all),
    variation: variation(all),
    cpuSecondsPerImage: median(runs.flatMap((r) => r.cpuSeconds)) / batch,
    peakRssMb: median(runs.map((r) => r.peakRssMb)),
    gflops,
    fractionOfPeak: gflops / peak,
    fractionOfConvPeak: gflops / convPeak,
  };
}

export async function compare(opts: CompareOptions): Promise<CompareResult> {
  const loadStart = os.loadavg()[0];
  const entry = getModel(opts.model);
  const headSize = entry.defaultHeadSize;
  const peerArgs = peerArgsFor(entry, headSize);
  if (opts.peer === 'pytorch' && peerArgs === null) {
    throw new Error(
      `--compare pytorch: ${entry.name} has no PyTorch peer (bench/bit_pytorch_peer.py implements BiT's ResNet-v2 with GroupNorm and WS); choose a BiT model`,
    );
  }
  const macs = modelCost(entry, opts.resolution, headSize).macs;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-bench-'));
  try {
    const files = await writeBenchFiles(entry, headSize, opts.batch, opts.resolution, dir);
    const peerEnv = opts.peerEnv ?? 'same';
    const peerMode = opts.peerMode ?? 'eager';
    const setup: BenchSetup = {
      model: entry.name,
      headSize,
      ...files,
      batch: opts.batch,
      resolution: opts.resolution,
      threads: opts.threads,
      peerArgs,
      peerEnv,
      peerMode,
      onnx: opts.peer === 'onnxruntime' ? await writeBenchOnnx(entry, headSize, files.weights, opts.resolution, dir) : null,
    };
    let peak = matmulPeakGflops();
    let convPeak = convPeakGflops();
    const sides: Side[] = opts.peer ? ['ours', opts.peer] : ['ours'];
    const runs = new Map<string, SideRun[]>();
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const phase of PHASES) {
        for (const side of order.filter((s) => sidePhases(s).includes(phase))) {
          const profile = opts.profile && round === opts.rounds - 1;
          const r = await runSide(side, { ...setup, phase, warmup: opts.warmup, reps: opts.reps, profile });
          const key = `${side}/${phase}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          opts.log(
            `round ${round + 1}/${opts.rounds} ${phase.padEnd(7)} ${side.padEnd(11)} ${imagesPerSecond(phaseBatch(phase, opts.batch), r.seconds).toFixed(2).padStart(7)} images/s  peak RSS ${r.peakRssMb.toFixed(0)} MiB  (load ${os.loadavg()[0].toFixed(1)})`,
          );
        }
      }
    }
    peak = Math.max(peak, matmulPeakGflops());
    convPeak = Math.max(convPeak, convPeakGflops());
    const result = (side: Side): Partial<Record<Phase, PhaseResult>> =>
      Object.fromEntries(
        sidePhases(side).map((phase) => [
          phase,
          summarize(side, phase, runs.get(`${side}/${phase}`) ?? [], phaseBatch(phase, opts.batch), macs, peak, convPeak),
        ]),
      );
    const ours = result('ours') as Record<Phase, PhaseResult>;
    const peer: PeerResult | null = opts.peer ? { side: opts.peer, phases: result(opts.peer) } : null;
    const ratio = (p: PhaseResult): PhaseRatio => {
      const o = ours[p.phase];
      const perRound = o.perRound.map((v, k) => v / p.perRound[k]);
      return {
        phase: p.phase,
        perRound,
        median: median(perRound),
        best: o.bestImagesPerSecond / p.bestImagesPerSecond,
        cpu: p.cpuSecondsPerImage / o.cpuSecondsPerImage,
        rss: o.peakRssMb / p.peakRssMb,
      };
    };
    const { log: _log, ...rest } = opts;
    void _log;
    const peerVersion = peer?.phases.forward?.runs[0]?.version ?? 'unknown';
    return {
      machine: machineInfo(peer ? { side: peer.side, version: peerVersion } : null, loadStart, peerEnv, peerMode),
      options: rest,
      macsPerImage: macs,
      matmulPeakGflops: peak,
      convPeakGflops: convPeak,
      ours,
      peer,
      ratios: peer ? Object.fromEntries(Object.values(peer.phases).map((p) => [p.phase, ratio(p)])) : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
