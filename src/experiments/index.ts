// The experiments of `bit experiment NAME`: the lecture's normalization
// studies (and the transfer results they lead to), each a typed config with the
// paper's numbers plus the code that runs it at small scale on real data.
import type { Experiment } from './common.js';
import { batchSize } from './batch-size.js';
import { groups } from './groups.js';
import { landscape } from './landscape.js';
import { mixup } from './mixup.js';
import { noisyBn, noisyScale } from './noisy-bn.js';
import { scale } from './scale.js';
import { wsLr, wsTable } from './ws-table.js';

export { type Experiment, type ExperimentOutcome, type Form, type RunContext } from './common.js';

/** Every experiment, in the lecture's order. */
export const EXPERIMENTS: readonly Experiment[] = [batchSize, wsTable, wsLr, groups, noisyBn, noisyScale, landscape, mixup, scale];

export const EXPERIMENT_NAMES: readonly string[] = EXPERIMENTS.map((e) => e.name);

/** The experiment called `name`; the error lists every name. */
export function getExperiment(name: string): Experiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new Error(`unknown experiment '${name}'. Experiments: ${EXPERIMENT_NAMES.join(', ')}`);
  return e;
}
