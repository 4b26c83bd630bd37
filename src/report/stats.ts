// Summaries over repeated runs (seeds) that tables and figures report. One
// definition of the spread, used everywhere: the sample standard deviation
// (n - 1 in the denominator, as pandas' `std()` and most papers' "± std over
// seeds"), and 0 for a single run.

/** Mean, sample standard deviation, min and max of a set of runs. */
export interface SeedSummary {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** Summarises `values` (one per seed); `what` names them in the error for an empty or non-finite input. */
export function summarize(values: readonly number[], what = 'values'): SeedSummary {
  if (values.length === 0) throw new Error(`summarize: ${what} is empty; expected at least one run`);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`summarize: ${what}[${i}] = ${v}, expected a finite number`);
  });
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, std, min: Math.min(...values), max: Math.max(...values) };
}
