// Multiply-accumulate counting: layers report the MACs of each call while a
// counter is active. Run a forward pass on an empty batch of a virtual model
// to count a model at any resolution without memory or compute.

let active: { macs: number } | null = null;

/** True while a counter is active (layers skip their bookkeeping otherwise). */
export function countingMacs(): boolean {
  return active !== null;
}

/** Called by layers: `perSample` MACs for each of `batch` samples (batch 0 counts as 1). */
export function reportMacs(perSample: number, batch: number): void {
  if (active) active.macs += perSample * Math.max(batch, 1);
}

/** Runs `fn` and returns the multiply-accumulates the layers reported. */
export function countMacs(fn: () => void): number {
  const prev = active;
  active = { macs: 0 };
  try {
    fn();
    return active.macs;
  } finally {
    active = prev;
  }
}
