// Clear errors when a data-parallel run cannot start: the master port is in
// use, the master cannot be reached, the machines disagree on the world size,
// or on the command. Each through the real command line, on loopback.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, runBit, startBit, tinyPretrain } from './run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const dir = tempDir('rdzv');
after(() => removeDir(dir));

const SHORT = ['--batch', '16', '--steps', '2'];

test('port in use: rank 0 says which port and what to do', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, () => resolve()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = await runBit(tinyPretrain(path.join(dir, 'busy'), [...SHORT, '--nproc-per-node', '2', '--master-port', String(port)]));
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, new RegExp(`bit: rank 0 cannot host the rendezvous store on port ${port} \\(master 127\\.0\\.0\\.1:${port}\\): the port is in use`));
    assert.match(r.output, /Choose a free --master-port/);
    assert.match(r.output, /bit launch: worker rank 0 \(pid \d+\) exited with code 1; stopping the other workers/);
  } finally {
    blocker.close();
  }
});

test('a master address of another machine: rank 0 says it must be its own', async () => {
  const port = await freePort();
  // 192.0.2.1: TEST-NET-1 (RFC 5737), never an address of this machine
  const r = await runBit(
    tinyPretrain(path.join(dir, 'elsewhere'), [...SHORT, '--nnodes', '2', '--node-rank', '0', '--master-addr', '192.0.2.1', '--master-port', String(port)]),
  );
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, new RegExp(`rank 0 cannot host the rendezvous store at 192\\.0\\.2\\.1:${port}: 192\\.0\\.2\\.1 is not an address of this machine`));
  assert.match(r.output, /--master-addr must be an address of the machine that runs rank 0/);
});

test('unreachable master: a worker of node 1 gives up after --join-timeout, naming host, port and rank', async () => {
  const port = await freePort();
  const t0 = Date.now();
  const r = await runBit(
    tinyPretrain(path.join(dir, 'nomaster'), [
      ...SHORT,
      '--nnodes',
      '2',
      '--node-rank',
      '1',
      '--master-addr',
      '127.0.0.1',
      '--master-port',
      String(port),
      '--join-timeout',
      '1.5',
    ]),
  );
  const ms = Date.now() - t0;
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, new RegExp(`worker rank 1 could not reach the master at 127\\.0\\.0\\.1:${port} within 1\\.5 s`));
  assert.match(r.output, /Start rank 0 \(--node-rank 0\) at that address/);
  assert.ok(ms < 20_000, `took ${ms} ms`);
});

test('unknown master host: the address is named', async () => {
  const r = await runBit(
    tinyPretrain(path.join(dir, 'nohost'), [
      ...SHORT,
      '--nnodes',
      '2',
      '--node-rank',
      '1',
      '--master-addr',
      'no-such-host.invalid',
      '--master-port',
      '29500',
      '--join-timeout',
      '1',
    ]),
  );
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /rank 1 cannot resolve the master address 'no-such-host\.invalid'/);
});

test('mismatched world sizes (--nnodes 2 on one machine, 3 on the other): both sides stop and say so', async () => {
  const port = String(await freePort());
  const common = [...SHORT, '--master-port', port, '--join-timeout', '60'];
  const [node0, node1] = await Promise.all([
    runBit(tinyPretrain(path.join(dir, 'mismatch'), [...common, '--nnodes', '2', '--node-rank', '0'])),
    runBit(tinyPretrain(path.join(dir, 'mismatch'), [...common, '--nnodes', '3', '--node-rank', '1'])),
  ]);
  const expected =
    /mismatched world sizes: rank 1 \(on [^)]+\) was started for 3 workers, but rank 0 \(on [^)]+\) for 2: give every machine the same --nnodes and --nproc-per-node/;
  for (const [name, r] of [
    ['node 0', node0],
    ['node 1', node1],
  ] as const) {
    assert.equal(r.code, 1, `${name}: ${r.output}`);
    assert.match(r.output, expected, name);
    // far less than the join timeout: neither side waits for the other to give up (two cold starts on a busy machine take seconds)
    assert.ok(r.ms < 45_000, `${name} took ${r.ms} ms`);
  }
});

test('a different command on one machine: the differing flags are named', async () => {
  // a recipe flag, and a run flag that changes which collectives run (evaluations)
  const cases: [string[], string[], RegExp][] = [
    [['--batch', '16'], ['--batch', '32'], /rank 0 --batch 16 \(rank 1: --batch 32\)/],
    [['--eval-every', '1'], [], /rank 0 --eval-every 1 \(rank 1: --eval-every not given\)/],
  ];
  for (const [i, [flags0, flags1, difference]] of cases.entries()) {
    const port = String(await freePort());
    const common = ['--master-port', port, '--nnodes', '2', '--join-timeout', '20', '--steps', '2'];
    const [node0, node1] = await Promise.all([
      runBit(tinyPretrain(path.join(dir, `differ-${i}`), [...common, '--node-rank', '0', ...flags0])),
      runBit(tinyPretrain(path.join(dir, `differ-${i}`), [...common, '--node-rank', '1', ...flags1])),
    ]);
    for (const r of [node0, node1]) {
      assert.equal(r.code, 1, r.output);
      assert.match(
        r.output,
        new RegExp(`rank 1 \\(on [^)]+\\) was started with a different command than rank 0 \\(on [^)]+\\): ${difference.source}\\. Run the same command`),
      );
    }
  }
});

test('another program at the master port (a web server, a silent service): the worker says so, within --join-timeout', async () => {
  for (const answer of ['HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n', null]) {
    const service = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', () => {
        if (answer !== null) socket.end(answer);
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', () => resolve()));
    const port = (service.address() as { port: number }).port;
    const bit = startBit(
      tinyPretrain(path.join(dir, 'foreign'), [...SHORT, '--nnodes', '2', '--node-rank', '1', '--master-port', String(port), '--join-timeout', '3']),
    );
    // before: a web server was taken for a second worker of rank 1, and a silent service hung the worker for good
    const guard = setTimeout(() => bit.child.kill('SIGKILL'), 60_000);
    try {
      const r = await bit.done;
      const what = answer === null ? 'a silent service' : 'a web server';
      assert.equal(r.code, 1, `${what}: ${r.output}`);
      assert.match(
        r.output,
        new RegExp(
          `worker rank 1 reached 127\\.0\\.0\\.1:${port}, but what answers there is not the rendezvous of a bit run \\(rank 0's record could not be read: .*\\): --master-addr and --master-port must name the machine and port where rank 0`,
        ),
        what,
      );
      assert.doesNotMatch(r.output, /two workers were started as rank/);
    } finally {
      clearTimeout(guard);
      service.close();
    }
  }
});
