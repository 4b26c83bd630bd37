#!/usr/bin/env node
// The `bit` command line.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { describeError, InterruptedError, UsageError } from '../util/errors.js';
import { registerCommands } from './commands.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('bit')
    .version(packageVersion())
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
    return err instanceof UsageError ? 2 : err instanceof InterruptedError ? 130 : 1;
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
