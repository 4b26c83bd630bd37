// --tensorboard on bit finetune (the run flags bit pretrain shares): the event
// files, read back by the independent decoder (test/report/tensorboard.ts),
// hold the numbers of metrics.jsonl; a resumed run marks its restart. (bit
// fewshot: test/eval/vtab.test.ts; bit pretrain: test/train/pretrain.test.ts;
// the experiments: test/experiments/quick.ts.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, removeDir, tempDir } from '../helpers.js';
import { decodeEventFile, eventFiles, expectedScalars, metricsRows, scalarSeries, sorted, type DecodedEvent } from '../report/tensorboard.js';

const tmp = tempDir('tb-cli');
after(() => removeDir(tmp));
const bit = (args: string[]) => promisify(execFile)(process.execPath, [cliPath(), ...args], { env: { ...process.env, BIT_THREADS: '1' } });

test('bit finetune --tensorboard: loss, lr, images/s and evaluations, as in metrics.jsonl; a rerun marks its restart', async () => {
  const out = path.join(tmp, 'ft');
  const tb = path.join(tmp, 'ft-tb');
  const args =
    `finetune --model BiT-Tiny --data digits?shots=4 --out ${out} --steps 6 --batch 8 --resolution 16 --precrop 18 --eval-every 3 --workers 1 --tensorboard ${tb}`.split(
      ' ',
    );
  await bit(args);
  const [file] = eventFiles(tb);
  const events = decodeEventFile(file);
  assert.equal(events[0].file_version, 'brain.Event:2');
  assert.deepEqual(sorted(scalarSeries(events)), sorted(expectedScalars(metricsRows(path.join(out, 'metrics.jsonl')))));
  assert.deepEqual(
    scalarSeries(events)
      .get('eval/top1')!
      .map(([s]) => s),
    [3, 6],
  );
  // the same command again resumes from the final checkpoint (step 6): a new file that starts with SessionLog START at step 7
  await bit(args);
  const second = eventFiles(tb).filter((f) => f !== file);
  assert.equal(second.length, 1);
  const again: DecodedEvent[] = decodeEventFile(second[0]);
  assert.deepEqual(
    again.slice(1, 2).map((e) => [e.what, e.step, e.session_status]),
    [['session_log', 7, 'START']],
  );
});
