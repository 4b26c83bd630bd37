// A worker killed mid-run: the survivor stops within 60 s with a message that
// names the lost rank, and re-running the same command resumes from the last
// complete checkpoint and finishes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, runBit, startBit, tinyPretrain, waitFor, waitForFile } from './run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const dir = tempDir('faults');
after(() => removeDir(dir));

const LIMIT_MS = 60_000;

test('SIGKILL of rank 1 under the launcher: rank 0 names it and stops; the same command resumes from the checkpoint', async () => {
  const out = path.join(dir, 'killed-1');
  const args = tinyPretrain(out, ['--batch', '16', '--steps', '40', '--checkpoint-every', '5', '--nproc-per-node', '2', '--master-port', '0']);
  const run = startBit(args);
  const pidOf = (rank: number) => Number(new RegExp(`worker rank ${rank} is pid (\\d+)`).exec(run.output())?.[1]);
  await waitFor('the launcher to start rank 1', () => pidOf(1) > 0, 30_000);
  await waitForFile(path.join(out, 'checkpoint.npz'), 60_000);
  const killedAt = Date.now();
  process.kill(pidOf(1), 'SIGKILL');
  const r = await run.done;
  const stopMs = Date.now() - killedAt;
  assert.notEqual(r.code, 0, r.output);
  assert.ok(stopMs < LIMIT_MS, `the run took ${stopMs} ms to stop`);
  assert.match(r.output, /worker rank 1 \(pid \d+\) was killed by SIGKILL/, 'the launcher names the dead worker');
  assert.match(r.output, /bit: worker rank 1 was lost \(pid \d+ on [^)]+\): its heartbeat stopped/, 'rank 0 names the lost rank');
  const resumeStep = Number(/resume from the last complete checkpoint \(step (\d+)/.exec(r.output)?.[1]);
  assert.ok(resumeStep >= 5 && resumeStep % 5 === 0 && resumeStep < 40, r.output);

  const again = await runBit(args);
  assert.equal(again.code, 0, again.output);
  assert.match(again.output, new RegExp(`resuming from .*checkpoint\\.npz at step ${resumeStep}/40`));
  const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { steps: number; resumed_from_step: number; world_size: number };
  assert.deepEqual([metrics.steps, metrics.resumed_from_step, metrics.world_size], [40, resumeStep, 2]);
});

test('SIGKILL of rank 0 (which hosts the store), workers started by hand with torchrun variables: rank 1 stops on its own within 60 s naming rank 0', async () => {
  const out = path.join(dir, 'killed-0');
  const port = await freePort();
  const args = tinyPretrain(out, ['--batch', '16', '--steps', '400', '--checkpoint-every', '5', '--threads', '1', '--workers', '1']);
  const env = (rank: number) => ({
    RANK: String(rank),
    WORLD_SIZE: '2',
    LOCAL_RANK: String(rank),
    LOCAL_WORLD_SIZE: '2',
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
  });
  const rank0 = startBit(args, env(0));
  const rank1 = startBit(args, env(1));
  try {
    await waitForFile(path.join(out, 'checkpoint.npz'), 60_000);
    const killedAt = Date.now();
    rank0.child.kill('SIGKILL');
    const r = await rank1.done;
    const stopMs = Date.now() - killedAt;
    assert.equal(r.code, 1, `exit code ${r.code}, signal ${r.signal}:\n${r.output}`);
    assert.ok(stopMs < LIMIT_MS, `rank 1 took ${stopMs} ms to stop`);
    assert.match(r.output, /bit: worker rank 0 was lost \(pid \d+ on [^)]+\): it hosts the rendezvous store at 127\.0\.0\.1:\d+, which no longer answers/);
    assert.match(
      r.output,
      /resume from the last complete checkpoint, .*checkpoint\.npz on rank 0's machine \(step \d+ (or later|if rank 0 finished writing it)\)/,
    );
  } finally {
    rank0.child.kill('SIGKILL');
    rank1.child.kill('SIGKILL');
  }
});
