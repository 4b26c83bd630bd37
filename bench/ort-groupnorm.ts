// Which GroupNorm form runs faster in ONNX Runtime (onnxruntime-node): opset
// 17's Reshape + InstanceNormalization + Mul/Add (what `bit export` writes by
// default) or opset 21's GroupNormalization node (`--opset 21`). Exports the
// same model both ways, then times the two sessions alternately in one
// process (intra-op threads = --threads, every graph optimization).
//
//   node dist/bench/ort-groupnorm.js [model] [resolution] [batch] [threads] [rounds]
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { exportOnnx, getModel } from '../src/models/index.js';
import { median } from '../src/bench/stats.js';
import * as T from '../src/tensor/index.js';

const [name = 'BiT-S-R50x1', res = '128', batchArg = '8', threadsArg = '2', roundsArg = '5'] = process.argv.slice(2);
const resolution = Number(res);
const batch = Number(batchArg);
const threads = Number(threadsArg);
const rounds = Number(roundsArg);
const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-ort-gn-'));
try {
  T.manualSeed(0);
  const model = getModel(name).build({ zeroHead: false }).eval();
  const files: Record<string, string> = {};
  for (const opset of [17, 21] as const) {
    files[opset] = path.join(dir, `m${opset}.onnx`);
    await exportOnnx(model, files[opset], { resolution, modelName: name, opset });
  }
  model.dispose();
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: batch * 3 * resolution * resolution }, () => Math.random() * 2 - 1),
    [batch, 3, resolution, resolution],
  );
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  const sessions = { 17: await ort.InferenceSession.create(files[17], opts), 21: await ort.InferenceSession.create(files[21], opts) };
  const times: Record<string, number[]> = { 17: [], 21: [] };
  const cpu: Record<string, number[]> = { 17: [], 21: [] };
  for (const s of Object.values(sessions)) await s.run({ input: x });
  for (let r = 0; r < rounds; r++) {
    for (const opset of r % 2 === 0 ? ([17, 21] as const) : ([21, 17] as const)) {
      for (let k = 0; k < 3; k++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await sessions[opset].run({ input: x });
        times[opset].push(Number(process.hrtime.bigint() - t0) / 1e9);
        const c = process.cpuUsage(c0);
        cpu[opset].push((c.user + c.system) / 1e6);
      }
    }
  }
  const ips = (o: 17 | 21) => batch / median(times[o]);
  const cps = (o: 17 | 21) => median(cpu[o]) / batch;
  console.log(
    `${name} ${resolution}px batch ${batch}, ${threads} threads, ONNX Runtime ${ort.env.versions.node}, ${rounds} alternating rounds x 3 runs, load ${os.loadavg()[0].toFixed(1)}`,
  );
  const row = (o: 17 | 21) => `${ips(o).toFixed(2)} images/s, ${(1000 * cps(o)).toFixed(1)} CPU ms per image`;
  console.log(`opset 17 (Reshape + InstanceNormalization + Mul/Add): ${row(17)}`);
  console.log(`opset 21 (GroupNormalization):                       ${row(21)}`);
  console.log(`opset 21 / opset 17: ${(ips(21) / ips(17)).toFixed(2)}x images/s, ${(cps(17) / cps(21)).toFixed(2)}x less CPU time`);
  for (const s of Object.values(sessions)) await s.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
