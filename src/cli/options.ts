// Option parsers shared by the commands: each names the flag and what it expected.
import { InvalidArgumentError } from 'commander';
import * as os from 'node:os';

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
    // learning rates, weight decay...: libtorch takes them as float32
    if (!Number.isFinite(Math.fround(n)))
      throw new InvalidArgumentError(`'${value}' is beyond the range of float32 (largest 3.4e38), the precision training runs in`);
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

/** At most this many threads of one kind (libtorch's, or the data loader's) per core: more only add contention and memory. */
export const THREADS_PER_CORE_LIMIT = 4;

/** A thread count for `flag` (an integer >= 1), bounded to THREADS_PER_CORE_LIMIT x the cores, saying so when it is. */
export function parseThreadCount(flag: string, cores = os.availableParallelism()) {
  const parse = parseIntOption(1);
  return (value: string): number => {
    const n = parse(value);
    const max = THREADS_PER_CORE_LIMIT * cores;
    if (n <= max) return n;
    process.stderr.write(`bit: ${flag} ${n} is more than ${THREADS_PER_CORE_LIMIT} per core (${cores} ${cores === 1 ? 'core' : 'cores'} here): using ${max}\n`);
    return max;
  };
}
