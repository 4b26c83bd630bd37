// One run per output folder, through the CLI and the lock module: a second
// run into a busy folder stops at once naming the first's pid; locks of dead
// processes are taken over; temporary files of dead writers are removed when a
// run starts; SIGHUP saves like SIGTERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readRunState } from '../../src/train/checkpoint.js';
import { LOCK_FILE, lockRunFolder, RunLockedError } from '../../src/train/run-lock.js';
import { runBitSync, startBit, tinyFinetune, waitFor } from '../distributed/run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const root = tempDir('run-lock');
after(() => removeDir(root));

const run = (args: string[]) => runBitSync(args);

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function stepLines(log: string): number[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((e) => e.loss !== undefined)
    .map((e) => e.step);
}

test('a second run into the same output folder stops at once, naming the first run and its pid; the first run is unharmed', async () => {
  const out = path.join(root, 'busy');
  const log = path.join(out, 'metrics.jsonl');
  const first = startBit(tinyFinetune(out, ['--steps', '3000', '--checkpoint-every', '1000']));
  try {
    await waitFor(
      'the first run to log a step',
      () => {
        if (first.child.exitCode !== null) throw new Error(`the first run ended early: ${first.output()}`);
        return existsSync(log) && stepLines(log).length > 0;
      },
      120_000,
    );
    const t0 = Date.now();
    const second = run(tinyFinetune(out, ['--steps', '3000', '--checkpoint-every', '1000']));
    assert.equal(second.status, 1, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`bit: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another run: pid ${first.child.pid} \\(bit finetune `),
    );
    assert.match(second.stderr, /Wait for it to end, or write to another folder/);
    assert.ok(Date.now() - t0 < 60_000, 'the second run stops before any work');
  } finally {
    first.child.kill('SIGINT');
  }
  const { code, output } = await first.done;
  assert.equal(code, 130, output);
  // the first run's log is its own: each step once, in order, and one final evaluation
  const steps = stepLines(log);
  assert.deepEqual(
    steps,
    Array.from({ length: steps.length }, (_, i) => i + 1),
  );
  const finals = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"final":true'));
  assert.equal(finals.length, 1);
  assert.equal(existsSync(path.join(out, LOCK_FILE)), false, 'the lock is released when the run ends');
});

test('a lock left by a dead process is taken over, and temporary files of dead writers are removed when the run starts', async () => {
  const out = path.join(root, 'stale');
  mkdirSync(out, { recursive: true });
  const dead = deadPid();
  writeFileSync(
    path.join(out, LOCK_FILE),
    JSON.stringify({ pid: dead, host: os.hostname(), command: 'bit finetune (killed)', started: '2026-01-01T00:00:00.000Z', token: 'feedfacefeedface' }),
  );
  // what SIGKILL during checkpoint writes leaves behind (atomic.ts names them .NAME.PID.HEX.tmp), and one of a live writer (this test)
  const leftovers = [`.checkpoint.npz.${dead}.0badf00d.tmp`, `.checkpoint.npz.${dead}.deadbeef.tmp`, `.metrics.json.${dead}.12345678.tmp`];
  for (const f of leftovers) writeFileSync(path.join(out, f), 'half a checkpoint');
  const live = `.checkpoint.npz.${process.pid}.cafebabe.tmp`;
  writeFileSync(path.join(out, live), 'being written');
  const r = run(tinyFinetune(out, ['--steps', '2']));
  assert.equal(r.status, 0, r.stderr);
  const files = readdirSync(out);
  for (const f of leftovers) assert.equal(files.includes(f), false, `${f} was removed`);
  assert.ok(files.includes(live), "a live writer's temporary file is kept");
  assert.ok(files.includes('model.npz') && !files.includes(LOCK_FILE), files.join(', '));
});

test('SIGHUP (the terminal closed) stops the run like SIGTERM: it saves, evaluates and exits 130', async () => {
  const out = path.join(root, 'hup');
  const log = path.join(out, 'metrics.jsonl');
  const bit = startBit(tinyFinetune(out, ['--steps', '3000', '--checkpoint-every', '1000']));
  await waitFor(
    'step 3 in metrics.jsonl',
    () => {
      if (bit.child.exitCode !== null) throw new Error(`bit ended early: ${bit.output()}`);
      return existsSync(log) && stepLines(log).length >= 3;
    },
    120_000,
  );
  bit.child.kill('SIGHUP');
  const { code, signal, output } = await bit.done;
  assert.equal(signal, null, `ended by ${signal}: nothing was saved`);
  assert.equal(code, 130, output);
  assert.match(output, /SIGHUP: finishing the current step, then saving/);
  const m = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { stopped_early: boolean; steps: number };
  assert.equal(m.stopped_early, true);
  assert.equal((await readRunState(path.join(out, 'checkpoint.npz'))).step, m.steps);
});

test('fewshot, vtab, demo and experiment hold their output folder too: a busy folder stops them before any work', () => {
  const commands: [string, string[]][] = [
    ['fewshot', ['fewshot', '--weights', 'scratch', '--model', 'BiT-Tiny', '--data', 'digits', '--shots', '1', '--seeds', '1']],
    ['vtab', ['vtab', '--weights', 'scratch', '--model', 'BiT-Tiny', '--tasks', 'digits']],
    ['demo', ['demo', '--quick']],
    ['experiment', ['experiment', 'ws-table', '--quick']],
  ];
  for (const [name, args] of commands) {
    const out = path.join(root, `busy-${name}`);
    mkdirSync(out, { recursive: true });
    // held by a live process: this test
    const holder = { pid: process.pid, host: os.hostname(), command: 'bit (the test)', started: new Date().toISOString(), token: '0123456789abcdef' };
    writeFileSync(path.join(out, LOCK_FILE), JSON.stringify(holder));
    const r = run([...args, '--out', out, '--threads', '1']);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`is in use by another run: pid ${process.pid} \\(bit \\(the test\\)\\)`), name);
    assert.deepEqual(readdirSync(out), [LOCK_FILE], `${name} wrote nothing`);
  }
});

test('the lock module: one holder per folder in a process, a live holder named, a holder on another machine named with the file to delete', async () => {
  const dir = path.join(root, 'module');
  const lock = await lockRunFolder(dir);
  await assert.rejects(lockRunFolder(dir), /is already locked by this process/);
  lock.release();
  lock.release();
  assert.equal(existsSync(dir), false, 'the folder the lock made is removed with it when nothing was written there');
  mkdirSync(dir);
  // this process's parent is alive: its lock is respected
  const record = { pid: process.ppid, host: os.hostname(), command: 'bit pretrain --out x', started: '2026-01-02T03:04:05.000Z', token: 'aaaaaaaaaaaaaaaa' };
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(record));
  await assert.rejects(lockRunFolder(dir), (err: unknown) => {
    assert.ok(err instanceof RunLockedError);
    assert.equal(err.owner.pid, process.ppid);
    assert.match(err.message, new RegExp(`is in use by another run: pid ${process.ppid} \\(bit pretrain --out x\\), started 2026-01-02T03:04:05.000Z`));
    return true;
  });
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ ...record, host: 'another-machine' }));
  await assert.rejects(lockRunFolder(dir), new RegExp(`in use by a run on another-machine: .*if it has ended, delete ${path.join(dir, LOCK_FILE)}`));
  assert.ok(existsSync(path.join(dir, LOCK_FILE)), 'a lock that is not known to be stale is never removed');
});
