// Few-shot results as a table (mean ± std over seeds), JSON and a figure
// (accuracy vs shots, one line per model or upstream).
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { lineChart, markdownTable, meanStd, pointFromSeeds, saveFigure, textTable, type EventWriter, type Table } from '../report/index.js';
import type { FewShotRow } from './fewshot.js';

export interface FewShotCurve {
  /** Line label, e.g. 'BiT-Mini, MNIST 100%' or 'from scratch'. */
  label: string;
  method: 'linear' | 'finetune';
  rows: FewShotRow[];
}

/** Rows: one per curve; columns: one per shot count, accuracy in % (mean ± std over seeds). */
export function fewShotTable(curves: readonly FewShotCurve[]): Table {
  const shots = [...new Set(curves.flatMap((c) => c.rows.map((r) => r.shots)))].sort((a, b) => a - b);
  return {
    columns: [{ header: 'model / upstream', align: 'left' }, { header: 'method', align: 'left' }, ...shots.map((k) => ({ header: `${k}-shot`, decimals: 1 }))],
    rows: curves.map((c) => [
      c.label,
      c.method,
      ...shots.map((k) => {
        const r = c.rows.find((x) => x.shots === k);
        return r ? meanStd(r.accuracies.map((a) => 100 * a)) : null;
      }),
    ]),
  };
}

export function formatFewShot(curves: readonly FewShotCurve[], markdown = false): string {
  const t = fewShotTable(curves);
  return markdown ? markdownTable(t) : textTable(t);
}

/**
 * Writes `<base>.json`, `<base>.md`, `<base>.svg` and `<base>.png`; with
 * `tensorboard`, also each curve's mean accuracy as the scalar
 * `fewshot/<method>/<label>` with the shot count as its step, and the figure.
 */
export async function saveFewShot(
  curves: readonly FewShotCurve[],
  base: string,
  title: string,
  extra: Record<string, unknown> = {},
  tensorboard?: EventWriter,
): Promise<string[]> {
  for (const c of curves) for (const r of c.rows) tensorboard?.scalars(r.shots, { [`fewshot/${c.method}/${c.label}`]: r.mean });
  await writeFileAtomic(`${base}.json`, JSON.stringify({ ...extra, curves }, null, 2) + '\n');
  await writeFileAtomic(`${base}.md`, formatFewShot(curves, true) + '\n');
  const shots = [...new Set(curves.flatMap((c) => c.rows.map((r) => r.shots)))].sort((a, b) => a - b);
  const spec = lineChart(
    curves.map((c) => ({
      name: curves.some((d) => d.method !== c.method) ? `${c.label} (${c.method})` : c.label,
      points: c.rows.map((r) =>
        pointFromSeeds(
          r.shots,
          r.accuracies.map((a) => 100 * a),
        ),
      ),
    })),
    {
      title,
      subtitle: 'mean over seeds; bars: min-max',
      xTitle: 'examples per class (shots)',
      yTitle: 'test accuracy (%)',
      logX: true,
      xTicks: shots,
      legendTitle: 'model / upstream',
    },
  );
  const fig = await saveFigure(spec, base, { tensorboard });
  return [`${base}.json`, `${base}.md`, fig.svg, fig.png].map((p) => path.resolve(p));
}
