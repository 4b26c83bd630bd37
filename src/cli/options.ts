// Option parsers shared by the commands: each names the flag and what it expected.
import { InvalidArgumentError } from 'commander';

/** What every `--weights` takes (models.resolveWeights resolves it). */
export const WEIGHTS_HELP = 'an .npz file, or an official name (bit weights list; downloaded into the cache on first use)';

export function parseIntOption(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max < Infinity ? ` in ${min}..${max}` : min > -Infinity ? ` >= ${min}` : '';
      throw new InvalidArgumentError(`expected an integer${range}, got '${value}'`);
    }
    return n;
  };
}

export function parseFloatOption(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      const range = max < Infinity ? ` in [${min}, ${max}]` : min > -Infinity ? ` >= ${min}` : '';
      throw new InvalidArgumentError(`expected a number${range}, got '${value}'`);
    }
    return n;
  };
}

/** A comma-separated list of integers, e.g. `--shots 1,5,10,25`, in order, without repeats. */
export function parseIntList(min = -Infinity) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim());
    return [...new Set(parts.map((p) => parseIntOption(min)(p)))];
  };
}
