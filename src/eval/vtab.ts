// The VTAB-1k protocol (Zhai et al. 2020) as BiT runs it: every task has
// 1,000 training examples (VTAB's 800 train + 200 val, merged: the
// BiT-HyperRule needs no validation split) and is evaluated on its full test
// split; fine-tuning follows the HyperRule (1,000 examples: the 500-step
// schedule). Reported: accuracy per task, the mean of each category
// (Natural, Specialized, Structured) and the overall mean.
//
// Folder layout under --data-root DIR (one folder per task, named as below):
//   DIR/<task>/train/<class>/<image>   the 1,000 training examples (train800 + val200)
//   DIR/<task>/test/<class>/<image>    the full test split
// Where the VTAB datasets cannot be had, the same protocol runs on stand-in
// tasks built from the datasets that can (mnist, fashion-mnist, digits):
// 1,000 training examples drawn (stratified, seeded) from their train split.
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { formatDataSpec, openDataset, parseDataSpec } from '../data/index.js';
import type { RecipeOverrides, ResolutionRule } from '../train/recipes.js';
import { UsageError } from '../util/errors.js';
import { RunProgress } from '../util/progress.js';
import { finetuneOnce } from './runs.js';

export type VtabCategory = 'Natural' | 'Specialized' | 'Structured';

export interface VtabTask {
  /** Folder name under the data root. */
  name: string;
  title: string;
  category: VtabCategory;
  classes: number;
  /** Size of the dataset's full training split (VTAB-1k uses 1,000 of it). */
  trainSize: number;
  reference: string;
}

/** The 19 tasks of VTAB-1k (the BiT lecture's table). */
export const VTAB_TASKS: readonly VtabTask[] = [
  { name: 'caltech101', title: 'Caltech101', category: 'Natural', classes: 102, trainSize: 3060, reference: 'Li et al., 2006' },
  { name: 'cifar100', title: 'CIFAR-100', category: 'Natural', classes: 100, trainSize: 50000, reference: 'Krizhevsky, 2009' },
  { name: 'dtd', title: 'DTD', category: 'Natural', classes: 47, trainSize: 3760, reference: 'Cimpoi et al., 2014' },
  { name: 'flowers102', title: 'Flowers102', category: 'Natural', classes: 102, trainSize: 2040, reference: 'Nilsback & Zisserman, 2008' },
  { name: 'pets', title: 'Pets', category: 'Natural', classes: 37, trainSize: 3680, reference: 'Parkhi et al., 2012' },
  { name: 'sun397', title: 'Sun397', category: 'Natural', classes: 397, trainSize: 87003, reference: 'Xiao et al., 2010' },
  { name: 'svhn', title: 'SVHN', category: 'Natural', classes: 10, trainSize: 73257, reference: 'Netzer et al., 2011' },
  { name: 'eurosat', title: 'EuroSAT', category: 'Specialized', classes: 10, trainSize: 21600, reference: 'Helber et al., 2019' },
  { name: 'resisc45', title: 'Resisc45', category: 'Specialized', classes: 45, trainSize: 25200, reference: 'Cheng et al., 2017' },
  { name: 'patch_camelyon', title: 'Patch Camelyon', category: 'Specialized', classes: 2, trainSize: 294912, reference: 'Veeling et al., 2018' },
  { name: 'retinopathy', title: 'Retinopathy', category: 'Specialized', classes: 5, trainSize: 46032, reference: 'Kaggle & EyePacs, 2015' },
  { name: 'clevr_count', title: 'Clevr/count', category: 'Structured', classes: 8, trainSize: 70000, reference: 'Johnson et al., 2017' },
  { name: 'clevr_distance', title: 'Clevr/distance', category: 'Structured', classes: 6, trainSize: 70000, reference: 'Johnson et al., 2017' },
  { name: 'dsprites_location', title: 'dSprites/location', category: 'Structured', classes: 16, trainSize: 663552, reference: 'Matthey et al., 2017' },
  { name: 'dsprites_orientation', title: 'dSprites/orientation', category: 'Structured', classes: 16, trainSize: 663552, reference: 'Matthey et al., 2017' },
  { name: 'smallnorb_azimuth', title: 'SmallNORB/azimuth', category: 'Structured', classes: 18, trainSize: 36450, reference: 'LeCun et al., 2004' },
  { name: 'smallnorb_elevation', title: 'SmallNORB/elevation', category: 'Structured', classes: 9, trainSize: 36450, reference: 'LeCun et al., 2004' },
  { name: 'dmlab', title: 'DMLab', category: 'Structured', classes: 6, trainSize: 88178, reference: 'Beattie et al., 2016' },
  { name: 'kitti_distance', title: 'KITTI/distance', category: 'Structured', classes: 4, trainSize: 5711, reference: 'Geiger et al., 2013' },
];

/** VTAB-1k: 800 train + 200 validation examples per task. */
export const VTAB_TRAIN_EXAMPLES = 800;
export const VTAB_VAL_EXAMPLES = 200;
export const VTAB_EXAMPLES = VTAB_TRAIN_EXAMPLES + VTAB_VAL_EXAMPLES;

/** Datasets available here that run in the same protocol (not VTAB tasks; reported apart). */
export const STAND_IN_TASKS: readonly string[] = ['mnist', 'fashion-mnist', 'digits'];

export interface VtabTaskResult {
  task: string;
  category: VtabCategory | 'stand-in';
  top1: number;
  testImages: number;
  trainImages: number;
}

export interface VtabReport {
  results: VtabTaskResult[];
  /** VTAB tasks asked for (or all 19) that were not found under the data root. */
  missing: string[];
  /** Mean accuracy per category over the tasks that ran (null: none ran). */
  categoryMeans: Record<VtabCategory, number | null>;
  /** Mean over the VTAB tasks that ran (null: none). */
  vtabMean: number | null;
  /** Mean over every task that ran, stand-ins included. */
  overallMean: number;
}

export interface VtabOptions {
  model: string;
  weights: string | null;
  /** Folder holding the task folders. */
  dataRoot?: string;
  /** Task names (VTAB folder names and/or stand-ins); default: every VTAB task under dataRoot. */
  tasks?: readonly string[];
  out: string;
  seed?: number;
  overrides?: RecipeOverrides;
  resolutionRule?: ResolutionRule;
  workers?: number;
  signal?: AbortSignal;
  onTask?: (r: VtabTaskResult, reused: boolean) => void;
  /** Prints a line as each task starts: which of how many, about how long the rest will take. */
  log?: (line: string) => void;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

/** Checks a task folder's layout; returns the data spec for it. */
export function taskFolderSpec(root: string, task: string): string {
  const dir = path.join(root, task);
  const problems: string[] = [];
  for (const split of ['train', 'test']) {
    const d = path.join(dir, split);
    if (!isDir(d)) problems.push(`no ${split}/ folder`);
    else if (readdirSync(d).filter((c) => isDir(path.join(d, c))).length === 0) problems.push(`${split}/ has no class folders`);
  }
  if (problems.length) {
    throw new UsageError(
      `${dir}: bad VTAB task layout (${problems.join(', ')}); expected ${dir}/train/<class>/<image> (the 1,000 training examples) and ${dir}/test/<class>/<image>`,
    );
  }
  return `folder:${dir}`;
}

/** The task list to run: which are VTAB folders, which stand-ins, which are missing. */
export function planTasks(o: Pick<VtabOptions, 'dataRoot' | 'tasks'>): {
  run: { name: string; spec: string; category: VtabCategory | 'stand-in' }[];
  missing: string[];
} {
  const known = new Map(VTAB_TASKS.map((t) => [t.name, t]));
  const wanted = o.tasks ?? VTAB_TASKS.map((t) => t.name);
  const unknown = wanted.filter((t) => !known.has(t) && !STAND_IN_TASKS.includes(t));
  if (unknown.length) {
    throw new UsageError(
      `unknown task(s) ${unknown.join(', ')}; VTAB tasks: ${VTAB_TASKS.map((t) => t.name).join(', ')}; stand-ins: ${STAND_IN_TASKS.join(', ')}`,
    );
  }
  if (o.dataRoot !== undefined && !isDir(o.dataRoot)) throw new UsageError(`--data-root ${o.dataRoot} is not a folder`);
  const run: { name: string; spec: string; category: VtabCategory | 'stand-in' }[] = [];
  const missing: string[] = [];
  for (const name of wanted) {
    const task = known.get(name);
    if (!task) {
      run.push({ name, spec: name, category: 'stand-in' });
    } else if (o.dataRoot !== undefined && isDir(path.join(o.dataRoot, name))) {
      run.push({ name, spec: taskFolderSpec(o.dataRoot, name), category: task.category });
    } else {
      missing.push(name);
    }
  }
  if (run.length === 0) {
    throw new UsageError(
      `no task to run: none of ${wanted.join(', ')} was found${o.dataRoot ? ` under ${o.dataRoot}` : ' (give --data-root DIR)'}; expected folders named ${VTAB_TASKS.map((t) => t.name).join(', ')}, or stand-ins ${STAND_IN_TASKS.join(', ')}`,
    );
  }
  return { run, missing };
}

/** A 1,000-example training subset of a task, in the data spec language. */
async function thousandSpec(spec: string, seed: number): Promise<{ spec: string; trainImages: number }> {
  const parsed = parseDataSpec(spec);
  const full = await openDataset(parsed, 'train');
  if (full.length <= VTAB_EXAMPLES) return { spec, trainImages: full.length };
  const fraction = VTAB_EXAMPLES / full.length;
  return { spec: formatDataSpec({ ...parsed, fraction, seed }), trainImages: Math.round(fraction * full.length) };
}

function mean(xs: readonly number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

export async function runVtab(o: VtabOptions): Promise<VtabReport> {
  const { run, missing } = planTasks(o);
  const results: VtabTaskResult[] = [];
  const progress = o.log ? new RunProgress(run.length, 'vtab', o.log) : null;
  for (const t of run) {
    progress?.start(`${t.name} (${t.category})`);
    const { spec, trainImages } = await thousandSpec(t.spec, o.seed ?? 0);
    const { metrics, reused } = await finetuneOnce({
      model: o.model,
      weights: o.weights ?? undefined,
      data: spec,
      out: path.join(o.out, t.name),
      seed: o.seed ?? 0,
      overrides: o.overrides,
      resolutionRule: o.resolutionRule,
      workers: o.workers,
      signal: o.signal,
      quiet: true,
    });
    const r: VtabTaskResult = { task: t.name, category: t.category, top1: metrics.top1!, testImages: metrics.eval_images, trainImages };
    results.push(r);
    progress?.end(reused);
    o.onTask?.(r, reused);
  }
  const cats: VtabCategory[] = ['Natural', 'Specialized', 'Structured'];
  const categoryMeans = Object.fromEntries(cats.map((c) => [c, mean(results.filter((r) => r.category === c).map((r) => r.top1))])) as Record<
    VtabCategory,
    number | null
  >;
  return {
    results,
    missing,
    categoryMeans,
    vtabMean: mean(results.filter((r) => r.category !== 'stand-in').map((r) => r.top1)),
    overallMean: mean(results.map((r) => r.top1))!,
  };
}
