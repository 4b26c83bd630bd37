// A run's fingerprint: the settings that decide its result (for the
// commands, their parsed flags but the local ones; src/cli/training-run.ts).
// Workers of a data-parallel run must have the same (distributed.ts), and a
// checkpoint is only resumed by a run with the same (trainer.ts).

/**
 * The settings that decide a run's result, keyed by flag ('--batch': 64; a
 * flag without a value: true). A flag not given is absent.
 */
export type Fingerprint = Readonly<Record<string, string | number | boolean>>;

/** Where fingerprint `b` differs from `a`, one entry per flag: '--batch 64 (this run: --batch 32)' with `bLabel` 'this run'. */
export function fingerprintDifferences(a: Fingerprint, b: Fingerprint, bLabel: string): string[] {
  const show = (flag: string, v: string | number | boolean | undefined) => (v === undefined ? `${flag} not given` : v === true ? flag : `${flag} ${v}`);
  const flags = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  return flags.filter((f) => a[f] !== b[f]).map((f) => `${show(f, a[f])} (${bLabel}: ${show(f, b[f])})`);
}
