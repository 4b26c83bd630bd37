// `bit bench`'s output: the comparison table, the loader and scaling tables
// (plain text for the terminal, Markdown for docs/performance.md) and the
// one JSON object of --json.
import { markdownTable, textTable, type Cell, type Column, type Table } from '../report/index.js';
import type { CompareResult, PhaseResult } from './compare.js';
import type { LoaderResult } from './loader.js';
import { PROFILE_REPS, sideLabel, type Peer, type PeerMode } from './side.js';
import type { ScalingRow } from './scaling.js';
import type { Phase } from './workload.js';

/**
 * The goals (a benchmark, not a test), same model, input and threads: the
 * data loader against our training step and our training run's peak RSS
 * against PyTorch's (issue 8), our forward GFLOP/s as a share of the in-run
 * 3x3-convolution peak (issue 12).
 */
export const GOALS = {
  loaderOverTrain: 3,
  rssRatio: 1.2,
  forwardConvPeakShare: 0.6,
} as const;

/**
 * The speed goals, ours / peer (median of rounds), by peer: PyTorch eager
 * (issue 8's forward, issue 12's training step), PyTorch with torch.compile
 * and ONNX Runtime (issue 12).
 */
export function ratioGoals(peer: Peer, mode: PeerMode | null): Partial<Record<Phase, number>> {
  if (peer === 'onnxruntime') return { forward: 1.0, latency: 1.0 };
  return mode === 'compile' ? { train: 1.5 } : { forward: 1.3, train: 2.0 };
}

export interface BenchReport {
  readonly compare: CompareResult;
  readonly loader: readonly LoaderResult[] | null;
  readonly scaling: readonly ScalingRow[] | null;
}

export type TableFormat = 'text' | 'markdown';

function render(t: Table, format: TableFormat): string {
  return format === 'markdown' ? markdownTable(t) : textTable(t);
}

const f = (v: number, d = 2): string => v.toFixed(d);
const right = (header: string): Column => ({ header, align: 'right' });
const verdict = (ok: boolean): string => (ok ? 'met' : 'missed');

/** One line naming the work, the machine and how noisy it was. */
export function describeRun(c: CompareResult): string {
  const o = c.options;
  const m = c.machine;
  const peer =
    c.peer?.side === 'pytorch'
      ? `${m.peer} ${m.peerMode === 'compile' ? 'through torch.compile (TorchInductor, default mode; compiled during the warm-up)' : 'eager'}`
      : `${m.peer} (onnxruntime-node on the file bit export writes: intra-op threads = threads, 1 inter-op thread, every graph optimization, sequential execution; inference only: the training phase does not apply)`;
  const sides = c.peer ? `ours (libtorch ${m.libtorch} via Node ${m.node}) and ${peer} alternating` : `libtorch ${m.libtorch} via Node ${m.node}`;
  return (
    `${o.model} at ${o.resolution}x${o.resolution}, batch ${o.batch}, ${o.threads} thread${o.threads === 1 ? '' : 's'}; ${sides}; ` +
    `${o.rounds} round${o.rounds === 1 ? '' : 's'} of ${o.warmup} warm-up + ${o.reps} timed repetitions, each side and phase in its own process; ` +
    `OpenMP wait policy: ours ${m.openmpOurs}${m.openmpPeer === null ? '' : `, ${sideLabel(c.peer?.side ?? 'pytorch')} ${m.openmpPeer}`}.\n` +
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.date.slice(0, 16).replace('T', ' ')} UTC; ` +
    `1-min load average ${f(m.loadStart, 1)} at the start, ${f(m.loadEnd, 1)} at the end (${m.cores} cores: a load above ${m.cores} means other processes shared them).\n` +
    `Peaks measured in this run: matrix product ${f(c.matmulPeakGflops, 1)} GFLOP/s (float32 1024^3 through libtorch's BLAS, best of 8), ` +
    `3x3 convolution ${f(c.convPeakGflops, 1)} GFLOP/s (oneDNN, 8x256x32x32, best of 6). ${f(c.macsPerImage / 1e9, 3)} GMACs per image forward; training counts 3x.`
  );
}

function perRound(v: readonly number[]): string {
  return v.map((x) => f(x)).join(' ');
}

function bold(text: string, format: TableFormat): string {
  return format === 'markdown' ? `**${text}**` : text;
}

/** What the peer's cells say for a phase it does not run. */
function notRun(c: CompareResult): string {
  return `n/a: ${sideLabel(c.peer?.side ?? 'ours')} runs inference only`;
}

function throughputRow(label: string, phase: Phase, c: CompareResult, format: TableFormat): Cell[] {
  const o = c.ours[phase];
  const row: Cell[] = [label, `${f(o.imagesPerSecond)} (${perRound(o.perRound)})`];
  if (c.peer) {
    const p = c.peer.phases[phase];
    const r = c.ratios?.[phase];
    if (!p || !r) return [...row, notRun(c), '', '', '', ''];
    const goal = ratioGoals(c.peer.side, c.machine.peerMode)[phase];
    row.push(
      `${f(p.imagesPerSecond)} (${perRound(p.perRound)})`,
      `${bold(`${f(r.median)}x`, format)} (${perRound(r.perRound)})`,
      `${f(r.best)}x`,
      `${f(r.cpu)}x`,
      goal === undefined ? '' : `>= ${f(goal, 1)}x: ${verdict(r.median >= goal)}`,
    );
  }
  return row;
}

/** Batch-1 forward latency (the serving case), ms per image, medians; the ratio is theirs / ours (above 1: ours is quicker). */
function latencyRow(c: CompareResult, format: TableFormat): Cell[] {
  const ms = (ips: number): number => 1000 / ips;
  const o = c.ours.latency;
  const row: Cell[] = ['batch-1 latency, ms per image (ratio: theirs / ours)', `${f(ms(o.imagesPerSecond))} (${perRound(o.perRound.map(ms))})`];
  if (c.peer) {
    const p = c.peer.phases.latency;
    const r = c.ratios?.latency;
    if (!p || !r) return [...row, notRun(c), '', '', '', ''];
    const goal = ratioGoals(c.peer.side, c.machine.peerMode).latency;
    row.push(
      `${f(ms(p.imagesPerSecond))} (${perRound(p.perRound.map(ms))})`,
      `${bold(`${f(r.median)}x`, format)} (${perRound(r.perRound)})`,
      `${f(r.best)}x`,
      `${f(r.cpu)}x`,
      goal === undefined ? '' : `<= ${sideLabel(c.peer.side)}'s: ${verdict(r.median >= goal)}`,
    );
  }
  return row;
}

function gflopsCell(r: PhaseResult): string {
  return `${f(r.gflops, 1)} (${f(100 * r.fractionOfPeak, 0)}% / ${f(100 * r.fractionOfConvPeak, 0)}%)`;
}

/** The comparison table: throughput, achieved GFLOP/s and peak RSS of both sides, and their ratios. */
export function compareTable(c: CompareResult, format: TableFormat): string {
  const peer = c.peer;
  const name = peer ? sideLabel(peer.side) : '';
  const columns: (Column | string)[] = ['', right('ours: median (per round)')];
  if (peer) {
    columns.push(
      right(`${c.machine.peer ?? name}: median (per round)`),
      right(`ours/${name}: median of rounds (per round)`),
      right('fastest reps'),
      right('CPU time'),
      'goal',
    );
  }
  const rows: Cell[][] = [
    throughputRow('forward, images/s (no grad)', 'forward', c, format),
    latencyRow(c, format),
    throughputRow('training step, images/s', 'train', c, format),
  ];
  for (const phase of ['forward', 'train'] as const) {
    const row: Cell[] = [`${phase === 'forward' ? 'forward' : 'training'} GFLOP/s (% of matmul / conv peak)`, gflopsCell(c.ours[phase])];
    if (peer) {
      const p = peer.phases[phase];
      const share = c.ours.forward.fractionOfConvPeak;
      const goal =
        phase === 'forward' ? `ours >= ${f(100 * GOALS.forwardConvPeakShare, 0)}% of conv peak: ${verdict(share >= GOALS.forwardConvPeakShare)}` : '';
      row.push(p ? gflopsCell(p) : notRun(c), '', '', '', goal);
    }
    rows.push(row);
  }
  for (const phase of ['train', 'forward'] as const) {
    const o = c.ours[phase];
    const row: Cell[] = [`peak RSS of a ${phase === 'train' ? 'training' : 'forward'} run, MiB`, f(o.peakRssMb, 0)];
    if (peer) {
      const p = peer.phases[phase];
      const r = c.ratios?.[phase]?.rss;
      if (!p || r === undefined) row.push(notRun(c), '', '', '', '');
      else {
        const goal = phase === 'train' && peer.side === 'pytorch' ? `<= ${f(GOALS.rssRatio, 1)}x: ${verdict(r <= GOALS.rssRatio)}` : '';
        row.push(f(p.peakRssMb, 0), bold(`${f(r)}x`, format), '', '', goal);
      }
    }
    rows.push(row);
  }
  const noiseOf = (phases: Partial<Record<Phase, PhaseResult>>) =>
    (['forward', 'latency', 'train'] as const)
      .filter((ph) => phases[ph])
      .map((ph) => `${ph === 'forward' ? 'fwd' : ph === 'latency' ? 'b1' : 'train'} ${f(100 * (phases[ph] as PhaseResult).variation, 0)}%`)
      .join(', ');
  const noise = ['timing noise (std/mean of repetitions)', noiseOf(c.ours)];
  if (peer) noise.push(noiseOf(peer.phases), '', '', '', '');
  rows.push(noise);
  return render({ columns, rows }, format);
}

/** Loader throughput against our training step's. */
export function loaderTable(rows: readonly LoaderResult[], trainImagesPerSecond: number, format: TableFormat): string {
  return render(
    {
      columns: [
        'source',
        right('preprocessing'),
        right('workers'),
        right('loader images/s'),
        right('training step images/s'),
        right('loader / step'),
        `goal (>= ${GOALS.loaderOverTrain}x)`,
      ],
      rows: rows.map((r) => {
        const x = r.imagesPerSecond / trainImagesPerSecond;
        return [
          r.source,
          `resize ${r.precrop}, crop ${r.crop}, flip`,
          String(r.workers),
          f(r.imagesPerSecond, 1),
          f(trainImagesPerSecond),
          `${f(x, 1)}x`,
          verdict(x >= GOALS.loaderOverTrain),
        ];
      }),
    },
    format,
  );
}

/** Images/s against batch size, resolution and micro-batches. */
export function scalingTable(rows: readonly ScalingRow[], format: TableFormat): string {
  const single = new Map(
    rows.filter((r) => r.axis === 'micro-batches' && r.microBatches === 1).map((r) => [`${r.batch}/${r.resolution}`, r.trainImagesPerSecond]),
  );
  return render(
    {
      columns: [
        'varied',
        right('batch'),
        right('resolution'),
        right('passes per step'),
        right('forward images/s'),
        right('training images/s'),
        right('training GFLOP/s'),
        right('vs 1 pass'),
      ],
      rows: rows.map((r) => {
        const base = single.get(`${r.batch}/${r.resolution}`);
        const vs = r.axis === 'micro-batches' && base !== undefined ? `${f(r.trainImagesPerSecond / base)}x` : '';
        return [
          r.axis,
          String(r.batch),
          String(r.resolution),
          String(r.microBatches),
          r.forwardImagesPerSecond === null ? '' : f(r.forwardImagesPerSecond),
          f(r.trainImagesPerSecond),
          f(r.trainGflops, 1),
          vs,
        ];
      }),
    },
    format,
  );
}

/** The op timings of both sides, side by side (self time of the profiled repetition). */
export function profileTable(c: CompareResult, phase: Phase, format: TableFormat, top = 15): string | null {
  const ours = c.ours[phase].runs.at(-1)?.profile ?? null;
  const peer = c.peer?.phases[phase]?.runs.at(-1)?.profile ?? null;
  if (ours === null && peer === null) return null;
  const pad = <T>(a: readonly T[] | null): (T | null)[] => Array.from({ length: top }, (_, k) => a?.[k] ?? null);
  const o = pad(ours);
  const p = pad(peer);
  return render(
    {
      columns: ['ours: op', right('calls'), right('self ms'), `${sideLabel(c.peer?.side ?? 'pytorch')}: op`, right('calls'), right('self ms')],
      rows: o.map((a, k) => {
        const b = p[k];
        return [a?.op ?? '', a ? String(a.calls) : '', a ? f(a.selfMs, 1) : '', b?.op ?? '', b ? String(b.calls) : '', b ? f(b.selfMs, 1) : ''];
      }),
    },
    format,
  );
}

/** The whole report as text. */
export function formatReport(r: BenchReport, format: TableFormat): string {
  const c = r.compare;
  const parts = [describeRun(c), '', compareTable(c, format)];
  if (r.loader)
    parts.push(
      `Data loader (training preprocessing at ${c.options.resolution}px) against our training step:`,
      '',
      loaderTable(r.loader, c.ours.train.imagesPerSecond, format),
    );
  if (r.scaling) parts.push('Scaling (ours, in one process):', '', scalingTable(r.scaling, format));
  for (const phase of ['forward', 'latency', 'train'] as const) {
    const t = profileTable(c, phase, format);
    if (t)
      parts.push(
        `Op timings of one ${phase === 'forward' ? 'forward pass' : phase === 'latency' ? 'forward pass at batch 1' : 'training step'} (self time, each op's fastest of ${PROFILE_REPS} profiled repetitions, largest first):`,
        '',
        t,
      );
  }
  return parts.join('\n');
}

function phaseJson(p: PhaseResult): Record<string, unknown> {
  return {
    images_per_s: p.imagesPerSecond,
    images_per_s_per_round: p.perRound,
    best_images_per_s: p.bestImagesPerSecond,
    seconds: p.runs.map((r) => r.seconds),
    cpu_seconds: p.runs.map((r) => r.cpuSeconds),
    cpu_seconds_per_image: p.cpuSecondsPerImage,
    peak_rss_mb: p.peakRssMb,
    gflops: p.gflops,
    fraction_of_matmul_peak: p.fractionOfPeak,
    fraction_of_conv_peak: p.fractionOfConvPeak,
    variation: p.variation,
    ...(p.runs.at(-1)?.profile ? { profile: p.runs.at(-1)?.profile } : {}),
  };
}

/** The one JSON object of `bit bench --json`. */
export function reportJson(r: BenchReport): Record<string, unknown> {
  const c = r.compare;
  const out: Record<string, unknown> = {
    model: c.options.model,
    resolution: c.options.resolution,
    batch: c.options.batch,
    threads: c.options.threads,
    forward_images_per_s: c.ours.forward.imagesPerSecond,
    train_images_per_s: c.ours.train.imagesPerSecond,
    latency_ms: 1000 / c.ours.latency.imagesPerSecond,
    /** Peak RSS of our training run (its own process). */
    peak_rss_mb: c.ours.train.peakRssMb,
    forward_peak_rss_mb: c.ours.forward.peakRssMb,
    forward_gflops: c.ours.forward.gflops,
    train_gflops: c.ours.train.gflops,
    matmul_peak_gflops: c.matmulPeakGflops,
    conv_peak_gflops: c.convPeakGflops,
    forward_fraction_of_peak: c.ours.forward.fractionOfPeak,
    train_fraction_of_peak: c.ours.train.fractionOfPeak,
    macs_per_image: c.macsPerImage,
    machine: c.machine,
    rounds: c.options.rounds,
    warmup: c.options.warmup,
    reps: c.options.reps,
    ours: { forward: phaseJson(c.ours.forward), latency: phaseJson(c.ours.latency), train: phaseJson(c.ours.train) },
  };
  if (c.peer && c.ratios) {
    const r = c.ratios;
    out.peer = c.peer.side;
    out[c.peer.side] = Object.fromEntries(Object.values(c.peer.phases).map((p) => [p.phase, phaseJson(p)]));
    // phases the peer does not run (ONNX Runtime: training) have null ratios
    out.ratios = {
      forward: r.forward?.median ?? null,
      latency: r.latency?.median ?? null,
      train: r.train?.median ?? null,
      forward_per_round: r.forward?.perRound ?? null,
      train_per_round: r.train?.perRound ?? null,
      forward_best: r.forward?.best ?? null,
      train_best: r.train?.best ?? null,
      forward_cpu: r.forward?.cpu ?? null,
      train_cpu: r.train?.cpu ?? null,
      peak_rss_train: r.train?.rss ?? null,
      peak_rss_forward: r.forward?.rss ?? null,
    };
    const want = ratioGoals(c.peer.side, c.machine.peerMode);
    const goals: Record<string, { want: number; met: boolean }> = {};
    for (const phase of ['forward', 'latency', 'train'] as const) {
      const w = want[phase];
      const ratio = r[phase]?.median;
      if (w !== undefined && ratio !== undefined) goals[phase] = { want: w, met: ratio >= w };
    }
    if (c.peer.side === 'pytorch' && r.train) goals.peak_rss = { want: GOALS.rssRatio, met: r.train.rss <= GOALS.rssRatio };
    goals.forward_conv_peak_share = { want: GOALS.forwardConvPeakShare, met: c.ours.forward.fractionOfConvPeak >= GOALS.forwardConvPeakShare };
    out.goals = goals;
  }
  if (r.loader) {
    out.loader = r.loader.map((l) => ({
      source: l.source,
      precrop: l.precrop,
      crop: l.crop,
      workers: l.workers,
      images_per_s: l.imagesPerSecond,
      over_train_step: l.imagesPerSecond / c.ours.train.imagesPerSecond,
      goal_met: l.imagesPerSecond / c.ours.train.imagesPerSecond >= GOALS.loaderOverTrain,
    }));
  }
  if (r.scaling) {
    out.scaling = r.scaling.map((s) => ({
      varied: s.axis,
      batch: s.batch,
      resolution: s.resolution,
      micro_batches: s.microBatches,
      forward_images_per_s: s.forwardImagesPerSecond,
      train_images_per_s: s.trainImagesPerSecond,
      train_gflops: s.trainGflops,
    }));
  }
  return out;
}
