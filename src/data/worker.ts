// Loader worker thread: decodes and preprocesses the samples of each task it
// is sent and replies with the pixels (transferred, not copied). It holds no
// randomness: crop offsets and flips come with the task, so results do not
// depend on which worker runs a task.
import { parentPort, workerData } from 'node:worker_threads';
import type { PixelSource } from './dataset.js';
import { configureSharp } from './decode.js';
import { DataError, messageOf } from './errors.js';
import { AUGMENT_STRIDE, preprocessInto, unpackAugmentation } from './preprocess.js';
import type { WorkerInit, WorkerReply, WorkerTask } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('src/data/worker.js must run as a worker thread (it is started by the data loader)');

// Parallelism comes from running several images at once, not from threads inside one image.
configureSharp(1, false);

async function run(task: WorkerTask): Promise<Uint8Array> {
  const n = task.augment.length / AUGMENT_STRIDE;
  const sampleBytes = task.config.crop * task.config.crop * 3;
  const out = new Uint8Array(n * sampleBytes);
  let source: PixelSource;
  if (task.files !== null) source = { kind: 'files', paths: task.files };
  else if (init.memory !== null) source = { kind: 'memory', memory: init.memory };
  else throw new DataError('loader task has neither files nor in-memory pixels');
  const refOf = (k: number): number => (task.items !== null ? task.items[k] : k);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const k = next++;
      await preprocessInto(source, refOf(k), task.config, unpackAugmentation(task.augment, k), out, k * sampleBytes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, Math.max(1, init.concurrency)) }, lane));
  return out;
}

port.on('message', (task: WorkerTask) => {
  run(task).then(
    (images) => {
      const reply: WorkerReply = { id: task.id, ok: true, images };
      port.postMessage(reply, [images.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      const reply: WorkerReply = { id: task.id, ok: false, message: messageOf(err), path: err instanceof DataError ? (err.path ?? null) : null };
      port.postMessage(reply);
    },
  );
});
