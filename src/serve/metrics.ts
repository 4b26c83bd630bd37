// `bit serve`'s Prometheus metrics (prom-client, one registry per server):
// requests by route and status, request latency, batch sizes and forward
// time, queue depth, live tensors, and prom-client's process metrics
// (resident memory, CPU, event-loop lag, heap).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly batchSize: Histogram;
  readonly batchSeconds: Histogram;
  readonly rejected: Counter<'reason'>;

  constructor(sources: { queueDepth: () => number; batchRunning: () => boolean; liveTensors: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'bit_serve_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'bit_serve_request_duration_seconds',
      help: 'Time from the request to its response, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'bit_serve_batch_size',
      help: 'Images per forward pass',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'bit_serve_batch_seconds',
      help: 'Seconds of one forward pass in the inference worker',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.rejected = new Counter({
      name: 'bit_serve_rejected_total',
      help: 'Requests refused before inference, by reason (queue_full, deadline, bad_image, too_large, unauthorized, client_gone)',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'bit_serve_queue_depth',
      help: 'Images admitted and not yet sent to the inference worker',
      registers,
      collect() {
        this.set(sources.queueDepth());
      },
    });
    new Gauge({
      name: 'bit_serve_batch_running',
      help: '1 while a forward pass runs in the inference worker, else 0',
      registers,
      collect() {
        this.set(sources.batchRunning() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bit_serve_live_tensors',
      help: 'Live libtorch tensors after the last forward pass (the model; nothing per request)',
      registers,
      collect() {
        this.set(sources.liveTensors());
      },
    });
  }
}
