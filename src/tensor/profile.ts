// Op timings from libtorch's own profiler (the RecordFunction events that
// torch.autograd.profiler reads): which libtorch ops a piece of work ran, how
// often, and how long each took, forward and backward alike.
import { native } from '../native/index.js';

/** One libtorch op, summed over its calls. */
export interface OpTiming {
  /** The op's name, e.g. 'aten::mkldnn_convolution' or 'NativeGroupNormBackward0'. */
  readonly op: string;
  readonly calls: number;
  /** Time inside the op less the time in the ops it called. */
  readonly selfMs: number;
  /** Time inside the op, the ops it called included. */
  readonly totalMs: number;
}

interface Interval {
  name: string;
  start: number;
  end: number;
  childUs: number;
}

/** Self and total time per op of the raw events [name, thread, startUs, endUs, depth]. */
export function aggregateOpEvents(events: readonly (readonly [string, number, number, number, number])[]): OpTiming[] {
  const byThread = new Map<number, Interval[]>();
  for (const [name, thread, start, end] of events) {
    let list = byThread.get(thread);
    if (list === undefined) byThread.set(thread, (list = []));
    list.push({ name, start, end, childUs: 0 });
  }
  const sums = new Map<string, { calls: number; selfUs: number; totalUs: number }>();
  for (const list of byThread.values()) {
    // parents before their children: by start, then the longer first
    list.sort((a, b) => a.start - b.start || b.end - a.end);
    const stack: Interval[] = [];
    for (const e of list) {
      while (stack.length > 0 && stack[stack.length - 1].end <= e.start) stack.pop();
      if (stack.length > 0) stack[stack.length - 1].childUs += e.end - e.start;
      stack.push(e);
    }
    for (const e of list) {
      const s = sums.get(e.name) ?? { calls: 0, selfUs: 0, totalUs: 0 };
      s.calls++;
      s.selfUs += Math.max(0, e.end - e.start - e.childUs);
      s.totalUs += e.end - e.start;
      sums.set(e.name, s);
    }
  }
  return [...sums.entries()].map(([op, s]) => ({ op, calls: s.calls, selfMs: s.selfUs / 1000, totalMs: s.totalUs / 1000 })).sort((a, b) => b.selfMs - a.selfMs);
}

/**
 * Runs `fn` with libtorch's profiler on and returns the time per op, largest
 * self time first. The profiler adds a few microseconds per op call.
 */
export function profileOps(fn: () => void): OpTiming[] {
  native().profilerStart();
  let events: [string, number, number, number, number][];
  try {
    fn();
  } finally {
    events = native().profilerStop();
  }
  return aggregateOpEvents(events);
}
