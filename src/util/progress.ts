// Progress of long work. Progress: a line for steps (step, rate, ETA and any
// fields the caller adds: loss, lr); on a terminal it redraws one line, in
// logs it prints a line every few percent or every 30 seconds. RunProgress: a
// line as each of a series of runs starts (which of how many, time left).
import { formatDuration } from './format.js';

export interface ProgressOptions {
  label: string;
  stream?: NodeJS.WriteStream;
  /** First step (when resuming). */
  start?: number;
  /** Unit for the rate, e.g. 'img'. */
  unit?: string;
}

/** A duration on a clock: '4:05', '1:02:03' ('--:--' when unknown). */
function clock(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #start: number;
  readonly #unit: string;
  readonly #t0 = Date.now();
  #lastDraw = 0;
  #lastLogStep = -1;
  #lastLogTime = Date.now();
  #units = 0;
  #drawn = false;

  constructor(total: number, opts: ProgressOptions) {
    this.#total = total;
    this.#label = opts.label;
    this.#stream = opts.stream ?? process.stderr;
    this.#tty = Boolean(this.#stream.isTTY) && !process.env.BIT_NO_TTY;
    this.#start = opts.start ?? 0;
    this.#unit = opts.unit ?? 'it';
  }

  /** Reports that `step` (1-based count of finished steps) is done, having processed `units` more items. */
  update(step: number, units: number, fields: Record<string, string> = {}): void {
    this.#units += units;
    const now = Date.now();
    const elapsed = (now - this.#t0) / 1000;
    const done = step - this.#start;
    const rate = this.#units / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? ((this.#total - step) * elapsed) / done : Infinity;
    const pct = ((100 * step) / this.#total).toFixed(0).padStart(3);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    const line = `${this.#label} ${pct}% ${step}/${this.#total}  ${extra}  ${rate.toFixed(1)} ${this.#unit}/s  ${clock(elapsed)}<${clock(eta)}`;
    if (this.#tty) {
      if (now - this.#lastDraw < 100 && step < this.#total) return;
      this.#lastDraw = now;
      const width = this.#stream.columns ?? 120;
      this.#stream.write(`\r${line.slice(0, width - 1).padEnd(Math.min(width - 1, line.length))}\x1b[K`);
      this.#drawn = true;
    } else {
      const every = Math.max(1, Math.round(this.#total / 20));
      if (step === this.#total || step - this.#lastLogStep >= every || now - this.#lastLogTime > 30_000) {
        this.#stream.write(line + '\n');
        this.#lastLogStep = step;
        this.#lastLogTime = now;
      }
    }
  }

  /** Prints a line above the progress line. */
  log(message: string): void {
    if (this.#tty && this.#drawn) this.#stream.write('\r\x1b[K');
    this.#stream.write(message + '\n');
  }

  done(): void {
    if (this.#tty && this.#drawn) this.#stream.write('\n');
    this.#drawn = false;
  }
}

/**
 * Progress over a series of runs (the fine-tuning runs of an evaluator, the
 * trainings of an experiment): as each starts, a line saying which run of
 * how many it is and about how long the rest will take. The estimate is the
 * mean time of the runs that did work so far (a reused, finished run costs
 * nothing and does not count) times the runs left.
 */
export class RunProgress {
  readonly #total: number;
  readonly #label: string;
  readonly #write: (line: string) => void;
  #started = 0;
  #worked = 0;
  #workSeconds = 0;
  #t0 = 0;

  /** `write` prints one line (stderr, a log). */
  constructor(total: number, label: string, write: (line: string) => void) {
    this.#total = total;
    this.#label = label;
    this.#write = write;
  }

  /** Runs started so far. */
  get started(): number {
    return this.#started;
  }

  get total(): number {
    return this.#total;
  }

  /** A run starts: `what` names it. */
  start(what: string): void {
    const left = this.#total - this.#started;
    const eta = this.#worked > 0 ? ` (about ${formatDuration((left * this.#workSeconds) / this.#worked)} left)` : '';
    this.#started++;
    this.#t0 = Date.now();
    this.#write(`${this.#label}: run ${this.#started}/${this.#total}: ${what}${eta}`);
  }

  /** The run started last ended; `reused`: it was found finished and did no work. */
  end(reused = false): void {
    if (reused) return;
    this.#worked++;
    this.#workSeconds += (Date.now() - this.#t0) / 1000;
  }
}
