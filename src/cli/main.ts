#!/usr/bin/env node
// The `bit` command line.
import { Command, CommanderError } from 'commander';
import { describeError, UsageError } from '../util/errors.js';
import { registerCommands } from './commands.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('bit')
    .description('Big Transfer (BiT) on libtorch: models, official weights, the BiT-HyperRule, few-shot and VTAB evaluation, normalization studies')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or the help)
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
    }
    process.stderr.write(`bit: ${describeError(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bit: ${describeError(err)}\n`);
    process.exitCode = 1;
  },
);
