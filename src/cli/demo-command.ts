// `bit demo`: BiT in miniature (see src/demo/demo.ts).
import type { Command } from 'commander';
import * as T from '../tensor/index.js';
import { DEMO, QUICK_DEMO, runDemo } from '../demo/demo.js';
import { formatFewShot } from '../eval/fewshot-report.js';
import { lockRunFolder } from '../train/run-lock.js';
import { withStopSignals } from '../util/signals.js';
import { parseThreadCount } from './options.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('BiT in miniature: pre-train a small BiT on MNIST (100% and 10%), transfer it to UCI digits at 1-25 shots, compare with training from scratch')
    .option('--out <dir>', 'output folder (upstream checkpoints are cached there)', 'bit-demo')
    .option('--quick', 'a few-minute version (tiny model, fewer shots and seeds)')
    .option('--threads <n>', 'libtorch threads (default: every core)', parseThreadCount('--threads'))
    .option('--workers <n>', 'data loader threads', parseThreadCount('--workers'))
    .action(async (o: { out: string; quick?: boolean; threads?: number; workers?: number }) => {
      T.configureThreads(o.threads);
      const cfg = o.quick ? QUICK_DEMO : DEMO;
      await lockRunFolder(o.out); // one command per output folder; held until this process exits
      process.stderr.write(
        `BiT in miniature: ${cfg.model} pre-trained on ${cfg.upstreamData} (${cfg.upstreamFractions.map((f) => `${f * 100}%`).join(' and ')}), ` +
          `transferred to ${cfg.downstreamData} at ${cfg.shots.join('/')} shots x ${cfg.seeds} seeds${o.quick ? ' (quick)' : ' (about 10 minutes on 2 cores the first time)'}\n`,
      );
      const r = await withStopSignals((signal) => runDemo(cfg, o.out, { workers: o.workers, signal, log: (m) => process.stderr.write(m + '\n') }));
      process.stdout.write(
        `\n${formatFewShot(r.curves)}\naccuracy on the ${cfg.downstreamData} test split in %, mean ± std over ${cfg.seeds} seeds\n\n${r.verdict}\n\nwrote ${r.files.join(', ')} (${(r.seconds / 60).toFixed(1)} min)\n`,
      );
    });
}
