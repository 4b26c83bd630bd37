// The ONNX Runtime side of `bit bench` in a child process of its own: reads a
// SideRequest (JSON, first argument), times the forward pass of the exported
// model in onnxruntime-node on the benchmark's input and prints one SideRun as
// a JSON line on stdout. It loads neither libtorch nor our addon, so its peak
// RSS is ONNX Runtime's. Started by side.ts; not a command for people.
import * as ort from 'onnxruntime-node';
import { readNpy } from '../io/npy.js';
import { describeError } from '../util/errors.js';
import { onnxRuntimeSpins, type SideRequest, type SideRun } from './side.js';
import { peakRssMb } from './stats.js';

/** NHWC float32 to NCHW. */
function toNchw(data: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return out;
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as SideRequest;
  if (req.onnx === null) throw new Error('no ONNX file given');
  const session = await ort.InferenceSession.create(req.onnx, {
    intraOpNumThreads: req.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: onnxRuntimeSpins(req.peerEnv) ? '1' : '0' } } },
  });
  try {
    const a = await readNpy(req.input);
    const feeds = {
      [session.inputNames[0]]: new ort.Tensor('float32', toNchw(a.data as Float32Array, a.shape), [a.shape[0], a.shape[3], a.shape[1], a.shape[2]]),
    };
    for (let i = 0; i < req.warmup; i++) await session.run(feeds);
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    for (let i = 0; i < req.reps; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpuSeconds.push((c.user + c.system) / 1e6);
    }
    const run: SideRun = {
      side: 'onnxruntime',
      phase: 'forward',
      seconds,
      cpuSeconds,
      peakRssMb: peakRssMb(),
      threads: req.threads,
      version: ort.env.versions.node ?? ort.env.versions.common,
      profile: null,
    };
    process.stdout.write(JSON.stringify(run) + '\n');
  } finally {
    await session.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bit bench (ONNX Runtime child): ${describeError(err)}\n`);
  process.exitCode = 1;
});
