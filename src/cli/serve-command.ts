// `bit serve`: the classification and embedding service (src/serve).
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { readClassNames } from '../data/index.js';
import { startServer } from '../serve/server.js';
import { UsageError, messageOf } from '../util/errors.js';
import { withStopSignals } from '../util/signals.js';
import { parseFloatOption, parseIntOption, parseThreadCount } from './options.js';

interface ServeFlags {
  weights: string;
  model?: string;
  headSize?: number;
  labels?: string;
  resolution?: number;
  threads?: number;
  host: string;
  port: number;
  maxBatch: number;
  maxWaitMs: number;
  queue: number;
  timeoutMs: number;
  maxBodyMb: number;
  maxMegapixels: number;
  maxImages: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  shutdownTimeoutMs: number;
  apiKeyFile?: string;
}

/** The key in --api-key-file: its first line, trimmed. Errors name the file, never the key. */
async function readApiKey(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--api-key-file: cannot read ${file}: ${messageOf(err)}`);
  }
  const key = text.split(/\r?\n/)[0].trim();
  if (key.length === 0) throw new UsageError(`--api-key-file: ${file} is empty (expected the key on its first line)`);
  if (/\s/.test(key)) throw new UsageError(`--api-key-file: the key in ${file} contains whitespace (expected one token on the first line)`);
  return key;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve classification (POST /v1/classify) and embeddings (POST /v1/embed) over HTTP, with dynamic batching')
    .requiredOption('--weights <file>', 'weights (.npz), as for bit predict')
    .option('--model <name>', 'model name (needed for files without metadata, e.g. official BiT files)')
    .option('--head-size <n>', 'outputs of the head (default: from the file)', parseIntOption(1))
    .option('--labels <file>', 'class names, one per line (default: those stored in the weights)')
    .option('--resolution <n>', 'image resolution (default: the trained one, else 224)', parseIntOption(8, 4096))
    .option('--threads <n>', 'libtorch threads (default: every core)', parseThreadCount('--threads'))
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', parseIntOption(0, 65535), 8080)
    .option('--max-batch <n>', 'most images in one forward pass', parseIntOption(1, 1024), 16)
    .option('--max-wait-ms <ms>', 'longest an image waits for a batch to fill', parseIntOption(0, 60_000), 5)
    .option('--queue <n>', 'most images admitted and not yet in a forward pass (more: 503 with Retry-After)', parseIntOption(1), 256)
    .option('--timeout-ms <ms>', 'deadline of a request, from arrival to answer (504 past it)', parseIntOption(1), 30_000)
    .option('--max-body-mb <mb>', 'largest request body, or multipart image part, in MiB (413 past it)', parseFloatOption(0.001, 1024), 16)
    .option(
      '--max-megapixels <n>',
      'most pixels an image may declare, in millions (413, refused from the header before decoding)',
      parseFloatOption(0.000001, 268),
      40,
    )
    .option('--max-images <n>', 'most images in one multipart request (413 past it)', parseIntOption(1, 1024), 32)
    .option('--header-timeout-ms <ms>', 'time a client has to send the request headers (408 past it)', parseIntOption(100), 10_000)
    .option('--body-timeout-ms <ms>', 'time a client has to send the whole request (408 past it)', parseIntOption(100), 60_000)
    .option('--shutdown-timeout-ms <ms>', 'on SIGTERM, how long requests in flight may take to finish', parseIntOption(0), 10_000)
    .option('--api-key-file <file>', 'require "Authorization: Bearer KEY" on /v1/*, with KEY the first line of this file')
    .action(async (o: ServeFlags) => {
      if (o.headerTimeoutMs > o.bodyTimeoutMs) {
        throw new UsageError(
          `--header-timeout-ms (${o.headerTimeoutMs}) must not exceed --body-timeout-ms (${o.bodyTimeoutMs}): the body timeout covers the headers too`,
        );
      }
      const apiKey = o.apiKeyFile === undefined ? null : await readApiKey(o.apiKeyFile);
      const classNames = o.labels === undefined ? null : await readClassNames(o.labels);
      const log = (line: string): void => void process.stderr.write(`bit serve: ${line}\n`);
      await withStopSignals(async (signal) => {
        const { server, url } = await startServer({
          weights: o.weights,
          model: o.model ?? null,
          headSize: o.headSize ?? null,
          classNames,
          resolution: o.resolution ?? null,
          threads: o.threads ?? availableParallelism(),
          host: o.host,
          port: o.port,
          maxBatch: o.maxBatch,
          maxWaitMs: o.maxWaitMs,
          queue: o.queue,
          timeoutMs: o.timeoutMs,
          maxBodyBytes: Math.round(o.maxBodyMb * 2 ** 20),
          maxPixels: Math.round(o.maxMegapixels * 1e6),
          maxImages: o.maxImages,
          headerTimeoutMs: o.headerTimeoutMs,
          bodyTimeoutMs: o.bodyTimeoutMs,
          apiKey,
          log,
        });
        process.stdout.write(`bit serve: listening on ${url}${apiKey === null ? '' : ' (API key required on /v1/*)'}\n`);
        const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        const died = new Promise<never>((_, reject) => server.engine.onFatal(reject));
        died.catch(() => {});
        try {
          const info = await Promise.race([server.ready(), died, stopped]);
          if (info !== undefined) {
            const classes = info.classNames === null ? `${info.headSize} outputs` : `${info.headSize} classes`;
            process.stdout.write(`bit serve: ready: ${info.model} (${classes}, ${server.resolution} px, ${(info.parameters / 1e6).toFixed(2)}M parameters)\n`);
            await Promise.race([stopped, died]);
          }
        } catch (err) {
          await server.shutdown(0);
          throw err;
        }
        const clean = await server.shutdown(o.shutdownTimeoutMs);
        if (!clean) throw new Error(`shut down with requests still in flight after --shutdown-timeout-ms ${o.shutdownTimeoutMs}`);
        log('stopped');
      }, 'no new connections; finishing the requests in flight');
    });
}
