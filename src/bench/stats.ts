// Robust summaries of timings taken on a shared, noisy machine: medians (not
// means) and the spread of per-round ratios.
import { summarize } from '../report/index.js';
import type { OpTiming } from '../tensor/index.js';

/** The median (of an even count, the mean of the two middle values); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 === 1 ? s[k] : (s[k - 1] + s[k]) / 2;
}

/** Images per second of one repetition's time per batch, at its median. */
export function imagesPerSecond(batch: number, seconds: readonly number[]): number {
  return batch / median(seconds);
}

/** Coefficient of variation (std / mean) of repetition times: how noisy a measurement was. */
export function variation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const { mean, std } = summarize(values, 'repetition times');
  return std / mean;
}

/**
 * Op timings of several profiled repetitions merged op by op, keeping each
 * op's fastest repetition (one repetition's per-op times vary by a third on a
 * shared machine), largest self time first.
 */
export function fastestOps(profiles: readonly (readonly OpTiming[])[]): OpTiming[] {
  const best = new Map<string, OpTiming>();
  for (const profile of profiles) {
    for (const t of profile) {
      const b = best.get(t.op);
      if (b === undefined || t.selfMs < b.selfMs) best.set(t.op, t);
    }
  }
  return [...best.values()].sort((a, b) => b.selfMs - a.selfMs);
}

/** This process's peak resident set size so far, in MiB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
