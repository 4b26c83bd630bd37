// Runs an experiment's quick form into a temporary folder and checks what
// every experiment must write: report.md (with its figures), results.json
// (finite numbers) and each figure as PNG and SVG; and that it announced each
// of its training runs, numbered up to the count it declared; and that every
// outcome the study declares lies in its quick band (the values the quick form
// measured here, src/experiments/*.ts), so a change that breaks a study's
// mechanism fails here. The per-experiment tests then check the shape of their
// own results.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getExperiment } from '../../src/experiments/index.js';
import * as T from '../../src/tensor/index.js';
import { decodeEventFile, eventFiles, expectedScalars, metricsRows, scalarSeries, sorted } from '../report/tensorboard.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface QuickRun {
  out: string;
  /** results.json's `config` and `results`. */
  config: Record<string, Json>;
  results: Record<string, Json>;
  cleanup(): void;
}

export function obj(x: Json | undefined, what: string): Record<string, Json> {
  assert.ok(typeof x === 'object' && x !== null && !Array.isArray(x), `${what} is an object`);
  return x as Record<string, Json>;
}

export function arr(x: Json | undefined, what: string, length?: number): Json[] {
  assert.ok(Array.isArray(x), `${what} is an array`);
  if (length !== undefined) assert.equal(x.length, length, `${what} has ${length} entries`);
  return x;
}

/** A finite number, optionally within [lo, hi]. */
export function num(x: Json | undefined, what: string, lo = -Infinity, hi = Infinity): number {
  assert.equal(typeof x, 'number', `${what} is a number (got ${JSON.stringify(x)})`);
  const v = x as number;
  assert.ok(Number.isFinite(v) && v >= lo && v <= hi, `${what} = ${v} is finite and in [${lo}, ${hi}]`);
  return v;
}

/** Asserts every number in `x` is finite and collects the paths of nulls (JSON writes NaN as null). */
function walk(x: Json, where: string, nulls: string[]): void {
  if (x === null) nulls.push(where);
  else if (typeof x === 'number') assert.ok(Number.isFinite(x), `${where} is finite`);
  else if (Array.isArray(x)) x.forEach((v, i) => walk(v, `${where}[${i}]`, nulls));
  else if (typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, `${where}.${k}`, nulls);
}

/** Runs `name --quick` and checks the common outputs. `nullable` lists result paths allowed to be null (matched as suffixes). */
export async function runQuick(name: string, nullable: readonly RegExp[] = []): Promise<QuickRun> {
  T.configureThreads(1);
  const out = mkdtempSync(path.join(os.tmpdir(), `bit-exp-${name}-`));
  const cleanup = () => rmSync(out, { recursive: true, force: true });
  try {
    const before = T.memory().numTensors;
    const tensorboard = path.join(out, 'tensorboard');
    const lines: string[] = [];
    const outcome = await getExperiment(name).execute({ form: 'quick', out, log: (line) => lines.push(line), tensorboard });
    assert.equal(T.memory().numTensors, before, 'the experiment left no live tensor behind');
    // a progress line as each training run starts: run 1/n, ..., run n/n, as many as the experiment declared
    const runs = lines.map((l) => new RegExp(`^${name}: run (\\d+)/(\\d+): `).exec(l)).filter((m) => m !== null);
    assert.ok(runs.length > 0, `no progress line among: ${lines.join(' | ')}`);
    assert.deepEqual(
      runs.map((m) => `${m[1]}/${m[2]}`),
      runs.map((_, i) => `${i + 1}/${runs.length}`),
      'one progress line per training run, counting up to the declared number of runs',
    );
    assert.ok(outcome.findings.length > 0, 'findings');

    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Json;
    const top = obj(results, 'results.json');
    assert.equal(top.experiment, name);
    assert.equal(top.form, 'quick');
    num(top.seconds, 'seconds', 0);
    obj(top.machine, 'machine');
    obj(top.published, 'published');
    arr(top.findings, 'findings').forEach((f, i) => assert.equal(typeof f, 'string', `findings[${i}]`));
    const nulls: string[] = [];
    walk(top, 'results.json', nulls);
    const unexpected = nulls.filter((p) => !nullable.some((re) => re.test(p)));
    assert.deepEqual(unexpected, [], 'no nulls (NaN in JSON) outside the allowed places');

    // every declared outcome measured and inside its quick band (the same checks as `bit experiment NAME --quick --check`)
    const outcomes = arr(top.outcomes, 'outcomes').map((o, i) => obj(o, `outcomes[${i}]`));
    assert.ok(outcomes.length > 0, 'the study declares at least one checked outcome');
    assert.deepEqual(
      outcomes.map((o) => o.name),
      outcome.checks.map((c) => c.name),
    );
    for (const o of outcomes) {
      const v = num(o.value, `outcome '${String(o.name)}'`);
      assert.ok(
        o.inside === true && v >= (o.lo as number) && v <= (o.hi as number),
        `outcome '${String(o.name)}' = ${v} is outside its quick band [${String(o.lo)}, ${String(o.hi)}] (measured here: ${String(o.measured)})`,
      );
    }

    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.match(report, new RegExp(`^# ${name}: `));
    for (const h of ['## Setup', '## Published', '## Figures', '## Findings', '## Outcomes checked']) assert.ok(report.includes(h), `report.md has '${h}'`);
    const figures = [...report.matchAll(/!\[[^\]]*\]\(([^)]+)\.png\)/g)].map((m) => m[1]);
    assert.ok(figures.length > 0, 'report.md shows at least one figure');
    for (const f of figures) {
      const png = readFileSync(path.join(out, `${f}.png`));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${f}.png is a PNG`);
      assert.ok(existsSync(path.join(out, `${f}.svg`)), `${f}.svg exists`);
      assert.match(readFileSync(path.join(out, `${f}.svg`), 'utf8'), /<svg/, `${f}.svg is an SVG`);
    }
    // TensorBoard: every figure as a PNG image; the first training run's metrics as in its metrics.jsonl
    const images = decodeEventFile(eventFiles(tensorboard)[0])
      .flatMap((e) => e.values ?? [])
      .map((v) => [v.tag, v.image?.png_sha256]);
    const sha = (f: string) =>
      createHash('sha256')
        .update(readFileSync(path.join(out, `${f}.png`)))
        .digest('hex');
    assert.deepEqual(images.sort(), figures.map((f) => [`figures/${f}`, sha(f)]).sort(), 'the figures in TensorBoard');
    const runDirs = existsSync(path.join(out, 'runs')) ? readdirSync(path.join(out, 'runs')).sort() : [];
    if (runDirs.length > 0) {
      const events = decodeEventFile(eventFiles(path.join(tensorboard, 'runs', runDirs[0]))[0]);
      assert.deepEqual(
        sorted(scalarSeries(events)),
        sorted(expectedScalars(metricsRows(path.join(out, 'runs', runDirs[0], 'metrics.jsonl')))),
        `${runDirs[0]} in TensorBoard`,
      );
    }
    return { out, config: obj(top.config, 'config'), results: obj(top.results, 'results'), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
