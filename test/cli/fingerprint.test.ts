// The training commands' fingerprints are derived from their parsed flags:
// every flag but the local ones, so a flag added to a command is part of the
// check that workers agree and that a resumed run is the same run, without
// being listed anywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerCommands } from '../../src/cli/commands.js';
import { CADENCE_FLAGS, LOCAL_FLAGS, resultFingerprint, workerFingerprint } from '../../src/cli/training-run.js';

/** The `name` command of a fresh program, with `args` parsed into it (no action runs). */
function parsed(name: string, args: string[], extra?: (cmd: Command) => void): Command {
  const program = new Command();
  registerCommands(program);
  const cmd = program.commands.find((c) => c.name() === name);
  assert.ok(cmd, name);
  extra?.(cmd);
  cmd.parseOptions(args);
  return cmd;
}

for (const name of ['finetune', 'pretrain']) {
  test(`bit ${name}: the fingerprint is every parsed flag but the local ones, a new flag included`, () => {
    const args = [
      '--model',
      'BiT-Tiny',
      '--data',
      'digits',
      '--out',
      'x',
      '--batch',
      '64',
      '--no-flip',
      '--threads',
      '2',
      '--eval-every',
      '5',
      '--new-knob',
      '3',
    ];
    const cmd = parsed(name, args, (c) => c.option('--new-knob <n>', 'a flag no list names'));
    const result = resultFingerprint(cmd);
    assert.equal(result.bit, name);
    assert.equal(result['--batch'], 64);
    assert.equal(result['--no-flip'], true);
    assert.equal(result['--new-knob'], '3');
    assert.equal(result['--model'], 'BiT-Tiny');
    for (const local of ['--out', '--threads', '--eval-every', '--nproc-per-node', '--master-port']) assert.equal(local in result, false, local);
    // workers also agree on the cadence (evaluations and checkpoints are collectives), not on the local flags
    const workers = workerFingerprint(cmd);
    assert.deepEqual(workers, { ...result, '--eval-every': 5 });
    // every local or cadence name is a flag of the command (a renamed flag cannot silently leave the list)
    const attributes = new Set(cmd.options.map((o) => o.attributeName()));
    for (const key of [...LOCAL_FLAGS, ...CADENCE_FLAGS]) assert.ok(attributes.has(key), `${key} is not a flag of bit ${name}`);
  });
}
