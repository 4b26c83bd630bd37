// Our side of `bit bench` in a child process of its own: reads a SideRequest
// (JSON, first argument), times one phase and prints one SideRun as a JSON
// line on stdout. Started by side.ts; not a command for people.
import { readNpy } from '../io/npy.js';
import { getModel, loadWeights } from '../models/index.js';
import * as T from '../tensor/index.js';
import { describeError } from '../util/errors.js';
import { PROFILE_REPS, type SideRequest, type SideRun } from './side.js';
import { fastestOps, peakRssMb } from './stats.js';
import { benchLabels, benchTrainStep, phaseBatch, runBenchStep, timeForward, timeTrainSteps } from './workload.js';

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as SideRequest;
  T.configureThreads(req.threads);
  const model = getModel(req.model).build({ headSize: req.headSize });
  try {
    await loadWeights(model, req.weights);
    const a = await readNpy(req.input);
    const x = T.keep(
      T.tidy(() =>
        T.tensor(a.data as Float32Array, a.shape)
          .narrow(0, 0, phaseBatch(req.phase, a.shape[0]))
          .permute([0, 3, 1, 2])
          .contiguous(),
      ),
    );
    const labels = T.keep(benchLabels(req.batch, req.headSize));
    const reps = { warmup: req.warmup, reps: req.reps };
    const t = req.phase === 'train' ? timeTrainSteps(model, x, labels, reps) : timeForward(model, x, reps);
    const peak = peakRssMb(); // before profiling, which keeps its own records
    let profile: T.OpTiming[] | null = null;
    if (req.profile) {
      // a training step (and its optimizer state) only for the training phase
      const step = req.phase === 'train' ? benchTrainStep(model) : null;
      const once = step ? () => runBenchStep(step, x, labels) : () => void timeForward(model, x, { warmup: 0, reps: 1 });
      profile = fastestOps(Array.from({ length: PROFILE_REPS }, () => T.profileOps(once))).slice(0, 40);
      step?.dispose();
    }
    const run: SideRun = {
      side: 'ours',
      phase: req.phase,
      seconds: t.seconds,
      cpuSeconds: t.cpuSeconds,
      peakRssMb: peak,
      threads: T.getNumThreads(),
      version: T.buildInfo().torchVersion,
      profile,
    };
    process.stdout.write(JSON.stringify(run) + '\n');
  } finally {
    model.dispose();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bit bench (child): ${describeError(err)}\n`);
  process.exitCode = 1;
});
