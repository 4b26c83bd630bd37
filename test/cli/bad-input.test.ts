// Bad input at the command line: an output folder that cannot be made is an
// error, not a spin; thread counts are bounded with a message; usage errors
// exit 2 and failures 1, each message naming the flag or spec and the problem.
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { parseThreadCount, THREADS_PER_CORE_LIMIT } from '../../src/cli/options.js';
import { runBitSync, tinyFinetune } from '../distributed/run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const dir = tempDir('bad-input');
after(() => removeDir(dir));

const run = (args: string[], timeout = 120_000) => runBitSync(args, timeout);
const finetune = (...args: string[]) => ['finetune', '--model', 'BiT-Tiny', '--data', 'digits', '--out', path.join(dir, 'run'), '--threads', '1', ...args];

test('--out under /proc is an error naming the folder (Node would spin forever in its recursive mkdir there)', () => {
  const t0 = Date.now();
  const r = run(finetune('--steps', '1', '--out', '/proc/bit-no-such/run'), 60_000);
  assert.equal(r.signal, null, `still running after ${Date.now() - t0} ms: killed`);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^bit: cannot create the folder \/proc\/bit-no-such\/run: \/proc does not accept new folders/m);
});

test('--threads and --workers far beyond the cores are bounded, with a message', () => {
  const cores = os.availableParallelism();
  const max = THREADS_PER_CORE_LIMIT * cores;
  const out = path.join(dir, 'threads');
  const r = run(tinyFinetune(out, ['--steps', '1', '--threads', '1000', '--workers', '1000']));
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--threads', '--workers'])
    assert.match(r.stderr, new RegExp(`bit: ${flag} 1000 is more than ${THREADS_PER_CORE_LIMIT} per core \\(${cores} cores? here\\): using ${max}`));
  // the parser returns the bound; counts within it pass unchanged
  assert.equal(parseThreadCount('--threads', 2)('1000'), 2 * THREADS_PER_CORE_LIMIT);
  assert.equal(parseThreadCount('--threads', 2)('3'), 3);
});

function expectErrors(cases: [string[], 1 | 2, RegExp][]): void {
  for (const [args, code, message] of cases) {
    const r = run(args);
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.includes('    at '), false, 'no stack trace');
  }
}

test('usage errors exit 2 (a bad --data spec, an unknown --model, a --batch-split that does not divide the batch); failures exit 1', () => {
  expectErrors([
    [finetune('--data', 'digits?bogus=1'), 2, /dataset spec 'digits\?bogus=1': unknown option 'bogus'/],
    [finetune('--model', 'BiT-Nope'), 2, /unknown model 'BiT-Nope'\. Known models: BiT-S-R50x1/],
    [finetune('--batch', '10', '--batch-split', '3'), 2, /--batch 10 is not divisible by --batch-split 3/],
    [finetune('--data', path.join(dir, 'no-such-folder')), 1, /dataset folder .*no-such-folder does not exist/],
  ]);
});

test('messages name the problem: a repeated or non-boolean data option, a learning rate beyond float32, a resolution beyond the largest image', () => {
  expectErrors([
    [finetune('--data', 'digits?shots=1&shots=2'), 2, /dataset spec 'digits\?shots=1&shots=2': option shots is given more than once/],
    [finetune('--data', 'digits?skip-bad=yes'), 2, /dataset spec 'digits\?skip-bad=yes': option skip-bad must be 1, 0, true or false, but got 'yes'/],
    [finetune('--lr', '1e300'), 2, /option '--lr <x>' argument '1e300' is invalid\. '1e300' is beyond the range of float32/],
    [finetune('--resolution', '100000'), 2, /option '--resolution <n>' argument '100000' is invalid\. expected an integer in 8\.\.8192/],
    [
      finetune('--resolution', '8000'),
      2,
      /--resolution 8000 means a resize to 10000 before the random crop \(the recipe's ratio\), larger than the largest image side, 8192/,
    ],
  ]);
});
