// `bit serve`'s inference worker thread: loads the addon and the model, then
// runs one forward pass per batch it is sent (inferPixels, the path `bit
// predict` runs) while the main thread goes on answering HTTP. Tensors never
// leave this thread: pixels come in, probabilities and features go back as
// typed arrays whose buffers are transferred.
//
// The addon is safe to load here: it is a Node-API module (node-addon-api's
// NODE_API_MODULE), initialised once per thread's environment; its global
// state is the live-tensor counters (std::atomic), the caching allocator
// (created once under std::call_once, guarded by a mutex) and the seed lock;
// tensor handles are Node-API externals of the environment that made them.
// Grad mode is thread-local in libtorch, so noGrad here concerns this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { headClassNames } from '../data/index.js';
import { inferPixels } from '../eval/inference.js';
import { loadModel, type ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { messageOf, UsageError } from '../util/errors.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('src/serve/worker.js must run as a worker thread (bit serve starts it)');
const init = workerData as WorkerInit;
const send = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let model: ImageClassifier | null = null;

async function start(): Promise<void> {
  try {
    T.configureThreads(init.threads);
    const loaded = await loadModel(init.weights, init.model ?? undefined, init.headSize ?? undefined);
    model = loaded.model;
    const { meta } = loaded;
    send({
      kind: 'ready',
      info: {
        model: meta?.model ?? (init.model as string),
        headSize: model.headSize,
        featureDim: model.featureDim,
        classNames: (await headClassNames(meta, model.headSize)).names,
        crop: meta?.crop ?? null,
        parameters: model.store.numParams(),
      },
      liveTensors: T.memory().numTensors,
    });
  } catch (err) {
    send({ kind: 'failed', message: messageOf(err), usage: err instanceof UsageError });
  }
}

port.on('message', (m: ToWorker) => {
  if (m.kind === 'close') {
    model?.dispose();
    model = null;
    send({ kind: 'closed' });
    port.close();
    return;
  }
  try {
    if (model === null) throw new Error('the model is not loaded');
    const t0 = process.hrtime.bigint();
    const out = inferPixels(model, m.pixels, m.n, m.resolution, m);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const transfer = [out.probabilities, out.features].filter((a): a is Float32Array => a !== null).map((a) => a.buffer as ArrayBuffer);
    send({ kind: 'result', id: m.id, probabilities: out.probabilities, features: out.features, seconds, liveTensors: T.memory().numTensors }, transfer);
  } catch (err) {
    send({ kind: 'error', id: m.id, message: messageOf(err) });
  }
});

void start();
