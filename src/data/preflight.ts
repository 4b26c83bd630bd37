// What a training run checks of its data before its first step, and what it
// reports: the header of every image file of both splits is read (a corrupt
// test image is an error before training, not after it), and what the
// datasets left out at open time (unreadable images with skip-bad=1, folders
// reached again through a symbolic link) is listed, for the terminal and for
// metrics.json.
import type { Dataset, SkippedImage } from './dataset.js';
import { imageHeaderProblem } from './decode.js';
import { DataError } from './errors.js';
import { scanImages } from './folder.js';

/** Header reads in flight at once. */
const HEADER_CONCURRENCY = 8;
/** Paths a message names before '...'. */
const NAMED_IN_MESSAGES = 5;

/** An entry a dataset left out, with the dataset it was left out of. */
export interface SkippedEntry extends SkippedImage {
  readonly dataset: string;
}

/** Reads the header of every image file `ds` uses; an error names the first unreadable one and how many there are. */
export async function checkImageHeaders(ds: Dataset): Promise<void> {
  if (ds.source.kind !== 'files') return;
  const paths = ds.source.paths;
  const files = [...new Set(ds.sourceIndex)].sort((a, b) => a - b).map((i) => paths[i]);
  const { skipped } = await scanImages(files, HEADER_CONCURRENCY, imageHeaderProblem);
  if (skipped.length === 0) return;
  const [first] = skipped;
  throw new DataError(
    `${ds.name}: ${skipped.length} of ${files.length} image files cannot be read (first: ${first.path}: ${first.reason}). ` +
      `Replace or remove ${skipped.length === 1 ? 'it' : 'them'}, or add skip-bad=1 to the data spec to leave unreadable images out`,
    { path: first.path },
  );
}

/** What the datasets left out at open time (each path once: subsets share their parent's list). */
export function skippedEntries(sets: readonly (Dataset | null)[]): SkippedEntry[] {
  const seen = new Set<string>();
  const out: SkippedEntry[] = [];
  for (const ds of sets) {
    for (const s of ds?.skipped ?? []) {
      if (seen.has(s.path)) continue;
      seen.add(s.path);
      out.push({ dataset: ds!.name, path: s.path, reason: s.reason });
    }
  }
  return out;
}

/** One message on what was left out: the count and the first few paths with their reasons; null when nothing was. */
export function describeSkipped(entries: readonly SkippedEntry[]): string | null {
  if (entries.length === 0) return null;
  const named = entries.slice(0, NAMED_IN_MESSAGES).map((e) => `  ${e.path}: ${e.reason}`);
  const more = entries.length > NAMED_IN_MESSAGES ? [`  ... and ${entries.length - NAMED_IN_MESSAGES} more`] : [];
  return [`left out ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'} of the data:`, ...named, ...more].join('\n');
}

/**
 * The checks before a run's first step: the image headers of every dataset
 * given. Returns what the datasets left out at open time.
 */
export async function preflightData(sets: readonly (Dataset | null)[]): Promise<SkippedEntry[]> {
  for (const ds of sets) if (ds) await checkImageHeaders(ds);
  return skippedEntries(sets);
}
