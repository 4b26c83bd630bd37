// Dynamic batching: images of concurrent requests are coalesced into one
// forward pass of up to `maxBatch` images. Only one batch runs at a time (one
// worker); while none runs, the queued images leave as a batch as soon as it
// is full, or its oldest image has waited `maxWaitMs`, or no other admitted
// image is still being decoded (nothing is known to be coming, so waiting
// would only add latency: a lone request is not held back).
//
// Admission is bounded: a request first reserves room for its images (before
// they are decoded), and is refused when the images admitted but not yet sent
// to the worker would exceed `queueLimit`. A request that gives up (deadline,
// client gone) is dropped from the queue if its images have not been sent.
import type { InferenceOutputs } from '../eval/inference.js';
import type { BatchResult } from './engine.js';

export type Want = 'classify' | 'embed';

/** One image's share of a batch's output: a row of probabilities or of features. */
export type ImageOutput = Float32Array;

export interface BatcherOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly queueLimit: number;
  /** Bytes of one image (resolution x resolution x 3). */
  readonly imageBytes: number;
  /** Runs one batch: n images back to back (the buffer is the batcher's to give away). */
  readonly run: (pixels: Uint8Array, n: number, want: InferenceOutputs) => Promise<BatchResult>;
  /** Told of every batch that ran: its size and forward seconds. */
  readonly onBatch?: (n: number, seconds: number) => void;
}

interface Job {
  readonly pixels: Uint8Array;
  readonly want: Want;
  readonly queuedAt: number;
  readonly ticket: Ticket;
  resolve(out: ImageOutput): void;
  reject(err: Error): void;
}

/** Room reserved for a request's images; submit them once decoded, or release it. */
export class Ticket {
  #left: number;
  #abandoned = false;
  readonly #batcher: Batcher;

  constructor(batcher: Batcher, count: number) {
    this.#batcher = batcher;
    this.#left = count;
  }

  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** Queues the images (in order); each promise gives that image's output row. */
  submit(images: readonly Uint8Array[], want: Want): Promise<ImageOutput>[] {
    if (this.#abandoned) throw new Error('the request was abandoned');
    if (images.length > this.#left) throw new Error(`submitting ${images.length} images on a ticket for ${this.#left}`);
    this.#batcher.releaseRoom(this.#left - images.length);
    this.#left = 0;
    return images.map((pixels) => this.#batcher.enqueue(pixels, want, this));
  }

  /** The request gave up: its reserved room is freed and its queued images are dropped. */
  abandon(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#batcher.releaseRoom(this.#left);
    this.#left = 0;
    this.#batcher.dropAbandoned();
  }
}

export class Batcher {
  readonly #o: BatcherOptions;
  #queue: Job[] = [];
  /** Images admitted and not yet sent to the worker (decoding, or waiting in #queue). */
  #admitted = 0;
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #draining = false;
  #idle: (() => void)[] = [];
  /** Mean forward seconds per image of recent batches (for Retry-After). */
  #secondsPerImage = 0;

  constructor(o: BatcherOptions) {
    for (const [k, min] of [
      ['maxBatch', 1],
      ['maxWaitMs', 0],
      ['queueLimit', 1],
    ] as const) {
      if (!Number.isInteger(o[k]) || o[k] < min) throw new Error(`Batcher: ${k} must be an integer >= ${min}, got ${o[k]}`);
    }
    this.#o = o;
  }

  /** Images admitted and not yet sent to the worker. */
  get depth(): number {
    return this.#admitted;
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Reserves room for `count` images, or null when the queue is full or the
   * service is draining. `inFlight`: the request arrived before draining began
   * (it was still uploading or decoding), so it is finished, not refused.
   */
  reserve(count: number, inFlight = false): Ticket | null {
    if ((this.#draining && !inFlight) || this.#admitted + count > this.#o.queueLimit) return null;
    this.#admitted += count;
    return new Ticket(this, count);
  }

  /** Seconds until the queue has likely room again (at least 1): for Retry-After. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#admitted + this.#o.maxBatch) * this.#secondsPerImage));
  }

  /** @internal (Ticket) */
  releaseRoom(count: number): void {
    this.#admitted -= count;
  }

  /** @internal (Ticket) */
  enqueue(pixels: Uint8Array, want: Want, ticket: Ticket): Promise<ImageOutput> {
    if (pixels.length !== this.#o.imageBytes) throw new Error(`an image of ${pixels.length} bytes where ${this.#o.imageBytes} were expected`);
    return new Promise<ImageOutput>((resolve, reject) => {
      this.#queue.push({ pixels, want, ticket, queuedAt: performance.now(), resolve, reject });
      this.#schedule();
    });
  }

  /** @internal (Ticket) */
  dropAbandoned(): void {
    const keep: Job[] = [];
    for (const j of this.#queue) {
      if (!j.ticket.abandoned) keep.push(j);
      else {
        this.#admitted -= 1;
        j.reject(new Error('request abandoned'));
      }
    }
    this.#queue = keep;
    this.#settleIdle();
  }

  /** Refuses new work, sends what is queued without waiting, and resolves when nothing is queued or running. */
  drain(): Promise<void> {
    this.#draining = true;
    this.#schedule();
    return new Promise<void>((resolve) => {
      this.#idle.push(resolve);
      this.#settleIdle();
    });
  }

  #settleIdle(): void {
    if (this.#running || this.#queue.length > 0 || this.#admitted > 0) return;
    for (const f of this.#idle.splice(0)) f();
  }

  #schedule(): void {
    if (this.#running || this.#queue.length === 0) return;
    const waited = performance.now() - this.#queue[0].queuedAt;
    const nothingComing = this.#queue.length === this.#admitted;
    if (this.#queue.length >= this.#o.maxBatch || this.#draining || nothingComing || waited >= this.#o.maxWaitMs) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      this.#dispatch();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#schedule();
      }, this.#o.maxWaitMs - waited);
    }
  }

  #dispatch(): void {
    const jobs = this.#queue.splice(0, this.#o.maxBatch);
    this.#admitted -= jobs.length;
    const n = jobs.length;
    const size = this.#o.imageBytes;
    const pixels = new Uint8Array(n * size);
    jobs.forEach((j, k) => pixels.set(j.pixels, k * size));
    const want = { probabilities: jobs.some((j) => j.want === 'classify'), features: jobs.some((j) => j.want === 'embed') };
    this.#running = true;
    this.#o.run(pixels, n, want).then(
      (r) => {
        this.#secondsPerImage = 0.8 * this.#secondsPerImage + (0.2 * r.seconds) / n;
        this.#o.onBatch?.(n, r.seconds);
        jobs.forEach((j, k) => {
          const all = j.want === 'classify' ? r.probabilities : r.features;
          if (all === null) j.reject(new Error(`the worker returned no ${j.want === 'classify' ? 'probabilities' : 'features'}`));
          else {
            const width = all.length / n;
            j.resolve(all.subarray(k * width, (k + 1) * width));
          }
        });
        this.#finished();
      },
      (err: Error) => {
        for (const j of jobs) j.reject(err);
        this.#finished();
      },
    );
  }

  #finished(): void {
    this.#running = false;
    this.#schedule();
    this.#settleIdle();
  }
}
