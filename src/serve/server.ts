// `bit serve`: classification and embeddings over HTTP (fastify). The main
// thread does HTTP, decoding (sharp, on libuv's pool) and batching; the model
// runs in a worker thread (engine.ts), so health checks and new connections
// are answered while a batch runs. Limits: body size (413), declared pixels
// (413, refused from the header), images per request (413), a bounded queue
// (503 + Retry-After), a per-request deadline (504), header and body timeouts
// for slow clients (408), undecodable bodies (400 naming the problem), and an
// optional bearer key on /v1/* (401).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DataError, PixelLimitError, configureSharp, decodeImage } from '../data/index.js';
import { topClasses, type ImagePrediction } from '../eval/inference.js';
import { UsageError, messageOf } from '../util/errors.js';
import { Batcher, type Ticket, type Want } from './batcher.js';
import { InferenceEngine } from './engine.js';
import { ServeMetrics } from './metrics.js';
import type { ModelInfo } from './protocol.js';

/** The least a lingering answer reads of a request body it refused (see #linger); 16 x --max-body-mb when larger. */
const LINGER_BYTES_MIN = 64 * 2 ** 20;

export interface ServeOptions {
  /** The --weights argument (resolved as `bit predict --weights`). */
  readonly weights: string;
  readonly model: string | null;
  readonly headSize: number | null;
  /** Class names (a --labels file), instead of the weights' own. */
  readonly classNames: readonly string[] | null;
  /** Input resolution; default: the weights' recorded one, else 224. */
  readonly resolution: number | null;
  readonly threads: number;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  /** Most images admitted and not yet in a forward pass. */
  readonly queue: number;
  /** Deadline of a request, from its arrival to its answer. */
  readonly timeoutMs: number;
  /** Most bytes of a raw body, or of one multipart part. */
  readonly maxBodyBytes: number;
  /** Most pixels (width x height) an image may declare. */
  readonly maxPixels: number;
  /** Most images in one multipart request. */
  readonly maxImages: number;
  /** Time a client has to send the request headers, and the whole request. */
  readonly headerTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** With a key, /v1/* requires `Authorization: Bearer KEY`. */
  readonly apiKey: string | null;
  /** Progress and errors (never the key). */
  readonly log: (line: string) => void;
}

/** The default top-k of /v1/classify. */
export const DEFAULT_TOP = 5;

/** An error with the HTTP status it answers with. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface ImageInput {
  readonly name: string;
  readonly bytes: Buffer;
}

const sha256 = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

export class BitServer {
  readonly app: FastifyInstance;
  readonly engine: InferenceEngine;
  readonly metrics: ServeMetrics;
  readonly #o: ServeOptions;
  #batcher: Batcher | null = null;
  #resolution = 0;
  #loadError: string | null = null;
  /** The loaded model as served (class names from --labels when given); null until ready. */
  #info: ModelInfo | null = null;
  #closing = false;
  /** Requests that arrived before shutdown began: those in flight, which a graceful shutdown finishes. */
  readonly #arrivedOpen = new WeakSet<IncomingMessage>();
  readonly #keyDigest: Buffer | null;
  readonly #ready: Promise<ModelInfo>;

  constructor(o: ServeOptions) {
    this.#o = o;
    // Parallelism comes from decoding several requests at once (libuv's pool), not threads inside one small image.
    configureSharp(1, false);
    this.#keyDigest = o.apiKey === null ? null : sha256(o.apiKey);
    this.engine = new InferenceEngine({ weights: o.weights, model: o.model, headSize: o.headSize, threads: o.threads });
    this.metrics = new ServeMetrics({
      queueDepth: () => this.#batcher?.depth ?? 0,
      batchRunning: () => this.#batcher?.running ?? false,
      liveTensors: () => this.engine.liveTensors,
    });
    this.app = Fastify({
      logger: false,
      bodyLimit: o.maxBodyBytes,
      requestTimeout: o.bodyTimeoutMs,
      http: {
        headersTimeout: o.headerTimeoutMs,
        requestTimeout: o.bodyTimeoutMs,
        connectionsCheckingInterval: Math.max(50, Math.min(1000, o.headerTimeoutMs / 4)),
      },
      return503OnClosing: true,
      forceCloseConnections: 'idle',
    });
    this.#ready = this.engine.ready.then((loaded) => this.#start(loaded));
    this.#ready.catch((err: unknown) => {
      this.#loadError = messageOf(err);
    });
    this.#routes();
  }

  /** Resolves with the model once it is loaded (rejects if it cannot be). */
  ready(): Promise<ModelInfo> {
    return this.#ready;
  }

  #start(loaded: ModelInfo): ModelInfo {
    const names = this.#o.classNames;
    if (names !== null && names.length !== loaded.headSize) {
      throw new UsageError(`--labels has ${names.length} class names but the model has ${loaded.headSize} outputs`);
    }
    const info = names === null ? loaded : { ...loaded, classNames: names };
    this.#info = info;
    this.#resolution = this.#o.resolution ?? info.crop ?? 224;
    this.#batcher = new Batcher({
      maxBatch: this.#o.maxBatch,
      maxWaitMs: this.#o.maxWaitMs,
      queueLimit: this.#o.queue,
      imageBytes: this.#resolution * this.#resolution * 3,
      run: (pixels, n, want) => this.engine.run(pixels, n, this.#resolution, want),
      onBatch: (n, seconds) => {
        this.metrics.batchSize.observe(n);
        this.metrics.batchSeconds.observe(seconds);
      },
    });
    return info;
  }

  get resolution(): number {
    return this.#resolution;
  }

  /** Starts listening (before the model is loaded: /healthz answers, /readyz says 503 until then); returns the URL. */
  async listen(): Promise<string> {
    return this.app.listen({ host: this.#o.host, port: this.#o.port });
  }

  /**
   * Graceful shutdown: stops accepting connections, answers what is in flight
   * (queued images are sent at once), frees the model. True when everything
   * in flight was answered within `graceMs`.
   */
  async shutdown(graceMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    this.#closing = true;
    const work = (async () => {
      const closed = this.app.close();
      await this.#batcher?.drain();
      // Keep-alive connections that were busy when closing began and are idle now.
      this.app.server.closeIdleConnections();
      await closed;
      return true as const;
    })();
    const clean = await Promise.race([work, bound]);
    clearTimeout(timer);
    if (!clean) this.app.server.closeAllConnections(); // past the bound: what is left is dropped, so the process can exit
    await this.engine.close();
    return clean;
  }

  #routes(): void {
    const app = this.app;
    app.removeAllContentTypeParsers();
    // Any body that is not multipart is the image itself.
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    void app.register(fastifyMultipart, {
      limits: { fileSize: this.#o.maxBodyBytes, files: this.#o.maxImages, parts: this.#o.maxImages + 16, fields: 16, fieldSize: 4096 },
    });

    app.addHook('onRequest', async (request, reply) => {
      if (!this.#closing) this.#arrivedOpen.add(request.raw);
      if (this.#keyDigest === null || !request.url.startsWith('/v1/')) return;
      const m = /^Bearer +(\S+)\s*$/.exec(request.headers.authorization ?? '');
      // Equal-length digests compared in constant time: neither the key nor its length leaks through timing.
      if (m === null || !timingSafeEqual(sha256(m[1]), this.#keyDigest)) {
        this.metrics.rejected.inc({ reason: 'unauthorized' });
        reply.header('www-authenticate', 'Bearer realm="bit serve"');
        throw new HttpError(401, m === null ? 'this endpoint needs an API key: send "Authorization: Bearer KEY"' : 'the API key is not valid');
      }
    });
    app.addHook('onSend', async (request, reply) => {
      // While shutting down, every answer closes its connection: clients reconnect elsewhere.
      if (this.#closing) void reply.header('connection', 'close');
      else if (!request.raw.complete) this.#linger(request.raw, reply);
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.metrics.requests.inc({ route, status: String(reply.statusCode) });
      this.metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    });
    app.setErrorHandler((err: FastifyError | HttpError, _request, reply) => {
      const { status, message, headers } = this.#describe(err);
      if (status >= 500 && status !== 503 && status !== 504) this.#o.log(`error ${status}: ${message}`);
      void reply.code(status).headers(headers).send({ error: message });
    });
    app.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}: see GET /v1/metadata, POST /v1/classify, POST /v1/embed` });
    });

    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      const info = this.#info;
      if (info !== null && this.#batcher !== null) return { ready: true, model: info.model };
      return reply.code(503).send({ ready: false, ...(this.#loadError === null ? { status: 'loading the model' } : { error: this.#loadError }) });
    });
    app.get('/metrics', async (_request, reply) => reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()));
    app.get('/v1/metadata', async () => {
      const info = this.#requireModel();
      const o = this.#o;
      return {
        model: info.model,
        parameters: info.parameters,
        resolution: this.#resolution,
        numClasses: info.headSize,
        classes: info.classNames ?? Array.from({ length: info.headSize }, (_, i) => String(i)),
        featureDim: info.featureDim,
        limits: {
          maxBatch: o.maxBatch,
          maxWaitMs: o.maxWaitMs,
          queue: o.queue,
          timeoutMs: o.timeoutMs,
          maxBodyBytes: o.maxBodyBytes,
          maxPixels: o.maxPixels,
          maxImages: o.maxImages,
        },
      };
    });
    app.post('/v1/classify', async (request, reply) => {
      const info = this.#requireModel();
      const top = parseTop((request.query as Record<string, unknown>).top, info.headSize);
      const { inputs, rows } = await this.#infer(request, reply, 'classify');
      const results: ImagePrediction[] = inputs.map((input, k) => ({ image: input.name, top: topClasses(rows[k], 0, info.headSize, top, info.classNames) }));
      return { model: info.model, results };
    });
    app.post('/v1/embed', async (request, reply) => {
      const info = this.#requireModel();
      const { inputs, rows } = await this.#infer(request, reply, 'embed');
      return { model: info.model, dim: info.featureDim, results: inputs.map((input, k) => ({ image: input.name, embedding: Array.from(rows[k]) })) };
    });
  }

  #requireModel(): ModelInfo {
    const info = this.#info;
    if (info === null || this.#batcher === null) {
      if (this.#loadError !== null) throw new HttpError(503, `the model could not be loaded: ${this.#loadError}`);
      throw new HttpError(503, 'the model is still loading', { 'retry-after': '1' });
    }
    return info;
  }

  /** The images of a request (raw body or multipart parts), decoded, batched and run; one output row per image. */
  async #infer(request: FastifyRequest, reply: FastifyReply, want: Want): Promise<{ inputs: ImageInput[]; rows: Float32Array[] }> {
    const batcher = this.#batcher as Batcher;
    const inputs = await readImages(request);
    deadlineOf(request.query, this.#o.timeoutMs); // a bad timeout_ms is refused before any work
    const ticket = batcher.reserve(inputs.length, this.#arrivedOpen.has(request.raw));
    if (ticket === null) {
      this.metrics.rejected.inc({ reason: 'queue_full' });
      const why =
        batcher.depth + inputs.length > this.#o.queue
          ? `the queue is full (${batcher.depth} of ${this.#o.queue} images waiting)`
          : 'the server is shutting down';
      throw new HttpError(503, `${why}: retry later`, { 'retry-after': String(batcher.retryAfterSeconds()) });
    }
    const limit = deadlineOf(request.query, this.#o.timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(504, `no answer within the deadline of ${limit.ms} ms (${limit.from})`)),
        Math.max(0, limit.ms - reply.elapsedTime),
      );
    });
    const onClose = (): void => {
      if (!reply.raw.writableFinished) {
        this.metrics.rejected.inc({ reason: 'client_gone' });
        ticket.abandon();
      }
    };
    reply.raw.once('close', onClose);
    if (request.raw.socket.destroyed) onClose(); // gone before the listener was there
    try {
      const rows = await Promise.race([this.#decodeAndRun(inputs, ticket, want), deadline]);
      return { inputs, rows };
    } catch (err) {
      ticket.abandon();
      if (err instanceof HttpError && err.status === 504) this.metrics.rejected.inc({ reason: 'deadline' });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #decodeAndRun(inputs: readonly ImageInput[], ticket: Ticket, want: Want): Promise<Float32Array[]> {
    const size = this.#resolution;
    let decoded;
    try {
      decoded = await Promise.all(inputs.map((input) => decodeImage(input.bytes, size, { name: input.name, maxPixels: this.#o.maxPixels })));
    } catch (err) {
      if (err instanceof PixelLimitError) {
        this.metrics.rejected.inc({ reason: 'too_large' });
        throw new HttpError(413, `${err.message} (--max-pixels)`);
      }
      if (err instanceof DataError) {
        this.metrics.rejected.inc({ reason: 'bad_image' });
        throw new HttpError(400, err.message);
      }
      throw err;
    }
    return Promise.all(
      ticket.submit(
        decoded.map((d) => d.data),
        want,
      ),
    );
  }

  /**
   * An answer sent before its request's body has all arrived (413 from the declared length, 401, a refused part):
   * read and discard the rest, then keep the connection, instead of closing it on unread data. Closing a socket
   * with unread data resets it, and the reset can destroy the answer in the client's buffers before the client
   * reads it: "fetch failed" instead of 413 (nginx's lingering close). At most `lingerBytes` more are read, and
   * --body-timeout-ms bounds the time; past them, or for a declared length over the bound, the connection closes.
   */
  #linger(req: IncomingMessage, reply: FastifyReply): void {
    const bound = Math.max(16 * this.#o.maxBodyBytes, LINGER_BYTES_MIN);
    if (Number(req.headers['content-length']) > bound) return; // fastify's 'connection: close' stays
    reply.removeHeader('connection');
    let read = 0;
    req.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > bound) req.socket.destroy();
    });
    req.resume();
  }

  #describe(err: FastifyError | HttpError): { status: number; message: string; headers: Record<string, string> } {
    if (err instanceof HttpError) return { status: err.status, message: err.message, headers: err.headers };
    const o = this.#o;
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        this.metrics.rejected.inc({ reason: 'too_large' });
        return { status: 413, message: `the request body is over the limit of ${o.maxBodyBytes} bytes (--max-body-mb)`, headers: {} };
      case 'FST_REQ_FILE_TOO_LARGE':
        this.metrics.rejected.inc({ reason: 'too_large' });
        return { status: 413, message: `an image part is over the limit of ${o.maxBodyBytes} bytes (--max-body-mb)`, headers: {} };
      case 'FST_FILES_LIMIT':
      case 'FST_PARTS_LIMIT':
        this.metrics.rejected.inc({ reason: 'too_large' });
        return { status: 413, message: `more than ${o.maxImages} images in one request (--max-images)`, headers: {} };
      default: {
        const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
        return { status, message: err.message, headers: {} };
      }
    }
  }
}

/** ?top=k: an integer in 1..classes (default 5, at most the number of classes). */
function parseTop(value: unknown, classes: number): number {
  if (value === undefined) return Math.min(DEFAULT_TOP, classes);
  const s = String(value);
  const k = Number(s);
  if (!/^\d+$/.test(s) || k < 1 || k > classes) throw new HttpError(400, `query parameter 'top' must be an integer in 1..${classes}, got '${s}'`);
  return k;
}

/** The deadline of a request: ?timeout_ms=N (a client's own, shorter deadline), at most the server's --timeout-ms. */
function deadlineOf(query: unknown, serverMs: number): { ms: number; from: string } {
  const value = (query as Record<string, unknown>).timeout_ms;
  if (value === undefined) return { ms: serverMs, from: '--timeout-ms' };
  const s = String(value);
  const ms = Number(s);
  if (!/^\d+$/.test(s) || ms < 1) throw new HttpError(400, `query parameter 'timeout_ms' must be a positive integer (milliseconds), got '${s}'`);
  return ms < serverMs ? { ms, from: 'timeout_ms' } : { ms: serverMs, from: '--timeout-ms' };
}

/** The images of a request: the raw body (named 'body'), or every file part of a multipart body (named by file name). */
async function readImages(request: FastifyRequest): Promise<ImageInput[]> {
  const inputs: ImageInput[] = [];
  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.type === 'file') inputs.push({ name: part.filename || part.fieldname, bytes: await part.toBuffer() });
    }
    if (inputs.length === 0) throw new HttpError(400, 'the multipart body has no file parts: send each image as a file part (curl -F image=@photo.jpg)');
    return inputs;
  }
  const body = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new HttpError(400, 'the request has no body: send the image as the body (curl --data-binary @photo.jpg) or as multipart file parts');
  }
  return [{ name: 'body', bytes: body }];
}

/** Starts a server: listening at once, the model loading in its worker. */
export async function startServer(o: ServeOptions): Promise<{ server: BitServer; url: string }> {
  const server = new BitServer(o);
  try {
    const url = await server.listen();
    return { server, url };
  } catch (err) {
    await server.engine.close();
    throw err;
  }
}
