// Every `bit` sub-command, registered on one program.
import type { Command } from 'commander';
import { doctor, formatDoctor } from './doctor.js';
import { parseIntOption } from './options.js';
import { listModels, modelCost } from '../models/index.js';
import * as T from '../tensor/index.js';
import { registerTrainCommands } from './train-commands.js';
import { registerExperimentCommand } from './experiment-command.js';
import { registerPredictCommand } from './predict-command.js';
import { registerEvalCommands } from './eval-commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerPretrainCommand } from './pretrain-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerExportCommand } from './export-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerWeightsCommand } from './weights-command.js';
import { registerEmbedCommand } from './embed-command.js';

export function registerCommands(program: Command): void {
  registerTrainCommands(program);
  registerExperimentCommand(program);
  registerPredictCommand(program);
  registerEvalCommands(program);
  registerDemoCommand(program);
  registerPretrainCommand(program);
  registerBenchCommand(program);
  registerExportCommand(program);
  registerServeCommand(program);
  registerWeightsCommand(program);
  registerEmbedCommand(program);
  program
    .command('doctor')
    .description('print the libtorch version and path, the BLAS in use, the thread count and whether the addon loaded')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const r = doctor();
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatDoctor(r) + '\n');
      if (!r.addon.loaded) process.exitCode = 1;
    });

  program
    .command('models')
    .description('list every model with its parameter count and multiply-accumulates per image')
    .option('--resolution <n>', 'input resolution', parseIntOption(32, 4096), 224)
    .option('--json', 'print a JSON array of {name, params, macs}')
    .action((o: { resolution: number; json?: boolean }) => {
      T.configureThreads();
      const rows = listModels().map((e) => ({ name: e.name, ...modelCost(e, o.resolution), family: e.family, description: e.description }));
      if (o.json) {
        process.stdout.write(JSON.stringify(rows.map(({ name, params, macs }) => ({ name, params, macs }))) + '\n');
        return;
      }
      const w = Math.max(...rows.map((r) => r.name.length));
      process.stdout.write(`${'model'.padEnd(w)}  ${'params'.padStart(9)}  ${`MACs@${o.resolution}`.padStart(10)}  description\n`);
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(w)}  ${(r.params / 1e6).toFixed(2).padStart(8)}M  ${(r.macs / 1e9).toFixed(2).padStart(9)}G  ${r.description}\n`);
      }
      process.stdout.write(`\nMACs count multiply-accumulates of one ${o.resolution}x${o.resolution} image (the 'FLOPs' of He et al.'s table).\n`);
    });
}
