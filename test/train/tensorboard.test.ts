// --tensorboard on bit finetune, bit pretrain and bit fewshot: the event files,
// read back by the independent decoder (test/report/tensorboard.ts), hold the
// same numbers as metrics.jsonl and fewshot.json, and the figure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
  const args = [
    'finetune',
    '--model',
    'BiT-Tiny',
    '--data',
    'digits?shots=4',
    '--out',
    out,
    '--steps',
    '6',
    '--batch',
    '8',
    '--resolution',
    '16',
    '--precrop',
    '18',
  ];
  await bit([...args, '--eval-every', '3', '--workers', '1', '--tensorboard', tb]);
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
  await bit([...args, '--eval-every', '3', '--workers', '1', '--tensorboard', tb]);
  const second = eventFiles(tb).filter((f) => f !== file);
  assert.equal(second.length, 1);
  const again: DecodedEvent[] = decodeEventFile(second[0]);
  assert.deepEqual(
    again.slice(1, 2).map((e) => [e.what, e.step, e.session_status]),
    [['session_log', 7, 'START']],
  );
});

test('bit pretrain --tensorboard writes the training scalars of every step', async () => {
  const out = path.join(tmp, 'pt');
  const tb = path.join(tmp, 'pt-tb');
  await bit([
    'pretrain',
    '--model',
    'BiT-Tiny',
    '--data',
    'digits',
    '--out',
    out,
    '--steps',
    '4',
    '--batch',
    '8',
    '--resolution',
    '16',
    '--eval-split',
    'none',
    '--workers',
    '1',
    '--tensorboard',
    tb,
  ]);
  const events = decodeEventFile(eventFiles(tb)[0]);
  assert.deepEqual(sorted(scalarSeries(events)), sorted(expectedScalars(metricsRows(path.join(out, 'metrics.jsonl')))));
  assert.deepEqual(
    scalarSeries(events)
      .get('train/loss')!
      .map(([s]) => s),
    [1, 2, 3, 4],
  );
});

test('bit fewshot --tensorboard: the accuracy curves (step = shots) and the figure', async () => {
  const out = path.join(tmp, 'fs');
  const tb = path.join(tmp, 'fs-tb');
  await bit([
    'fewshot',
    '--weights',
    'scratch',
    '--model',
    'BiT-Tiny',
    '--data',
    'digits',
    '--shots',
    '1,2',
    '--seeds',
    '1',
    '--resolution',
    '16',
    '--out',
    out,
    '--tensorboard',
    tb,
  ]);
  const events = decodeEventFile(eventFiles(tb)[0]);
  const curves = (JSON.parse(readFileSync(path.join(out, 'fewshot.json'), 'utf8')) as { curves: { rows: { shots: number; mean: number }[] }[] }).curves;
  assert.deepEqual(
    scalarSeries(events).get('fewshot/linear/from scratch'),
    curves[0].rows.map((r) => [r.shots, Math.fround(r.mean)]),
  );
  const images = events.flatMap((e) => e.values ?? []).filter((v) => v.image);
  assert.deepEqual(
    images.map((v) => [v.tag, v.image!.png_sha256]),
    [
      [
        'figures/fewshot',
        createHash('sha256')
          .update(readFileSync(path.join(out, 'fewshot.png')))
          .digest('hex'),
      ],
    ],
  );
});
