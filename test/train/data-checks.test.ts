// What a training run checks of its data before the first step, and what it
// says it left out, through the CLI on small image folders: a corrupt test
// image stops the run before training (not after it); skip-bad=1 prints the
// count and the first paths of what it skipped and records them all in
// metrics.json.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { makeDigitFolder, writeCorrupt, writeTruncatedJpeg } from '../data/fixtures.js';
import { runBitSync, tinyFinetune } from '../distributed/run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const root = tempDir('data-checks');
after(() => removeDir(root));

const finetune = (data: string, out: string, steps: number) => runBitSync(tinyFinetune(out, ['--steps', String(steps)], data));

let folder: string;
before(async () => {
  folder = (await makeDigitFolder(path.join(root, 'digits'), 4, 2)).root;
});

test('a corrupt image in the test split stops the run before its first step, naming the file', async () => {
  const data = path.join(root, 'bad-test');
  await makeDigitFolder(data, 4, 2);
  const bad = path.join(data, 'test', 'one', 'broken.png');
  await writeCorrupt(bad);
  const out = path.join(root, 'bad-test-run');
  const r = finetune(`folder:${data}`, out, 40);
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`bit: folder:${data}/test: 1 of 7 image files cannot be read \\(first: ${bad}: .*\\)\\. Replace or remove it, or add skip-bad=1`),
  );
  const log = path.join(out, 'metrics.jsonl');
  assert.equal(existsSync(log) ? readFileSync(log, 'utf8') : '', '', 'no training step ran');
});

test('skip-bad=1: the count and the first paths of what was left out are printed, and all of them recorded in metrics.json', async () => {
  const junk = path.join(folder, 'train', 'zero', 'junk.png');
  const cut = path.join(folder, 'train', 'two', 'cut.jpg');
  const testJunk = path.join(folder, 'test', 'two', 'junk.png');
  await writeCorrupt(junk);
  await writeTruncatedJpeg(cut, 3);
  await writeCorrupt(testJunk);
  const out = path.join(root, 'skip-run');
  const r = finetune(`folder:${folder}?skip-bad=1`, out, 2);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /left out 3 entries of the data:\n/);
  for (const f of [junk, cut, testJunk]) assert.ok(r.stderr.includes(`  ${f}: `), `${f} is named: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`all of them are listed in ${path.join(out, 'metrics.json')}`));
  const m = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { skipped: { dataset: string; path: string; reason: string }[] };
  assert.deepEqual(m.skipped.map((s) => s.path).sort(), [cut, junk, testJunk].sort());
  for (const s of m.skipped) {
    assert.ok(s.reason.length > 0);
    assert.equal(s.dataset, `folder:${folder}/${s.path === testJunk ? 'test' : 'train'}`);
  }
});
