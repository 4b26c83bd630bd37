// Names for the outputs of ImageNet heads, so that `bit predict` on an
// official BiT file prints classes rather than indices.
//
// ILSVRC-2012 (1,000 classes): BiT's heads follow the WordNet ids sorted
// (the TFDS `imagenet2012` label order, n01440764 "tench" first). The names are
// OpenCV's classification_classes_ILSVRC2012.txt (Debian opencv-doc), shipped
// in data/ (data/README.md); it is in that order, which the tests check
// against darknet's WordNet id -> name lists.
//
// ImageNet-21k (21,843 classes, the BiT-M heads): Google's ImageNet-21k is the
// 21,841 synsets of the fall 2011 release plus n03931044 ("picture") and
// n09859684 ("bleacher"), in WordNet id order (timm's
// imagenet21k_goog_synsets.txt, which timm uses to name the 21,843 outputs of
// the BiT-M and other Google in21k models: "Google's ImageNet full has two
// classes not in fall11"). Debian's darknet ships imagenet.labels.list
// (WordNet ids) with imagenet.shortnames.list (names), 21,842 lines: the fall
// 2011 synsets plus n04399382 ("teddy", an ILSVRC-2012 class missing from
// fall11), in darknet's own order (its first 1,000 are its ILSVRC-2012 order),
// so its order is not BiT's. BiT's order is rebuilt from it: darknet's ids
// without n04399382, with the two Google additions, sorted. Checked against
// timm's list when this was written: the same 21,843 ids in the same order
// (identical files); the tests pin ids at known indices of that list. When
// darknet's lists are missing, heads print indices.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';
import { readClassNames } from './multilabel.js';
import { dataCacheDir } from './paths.js';

/** The ILSVRC-2012 class names shipped with the package (data/README.md). */
export function ilsvrc2012NamesFile(): string {
  return path.join(packageRoot(), 'data', 'classification_classes_ILSVRC2012.txt');
}

/** Where scripts/fetch-debian-data.sh puts darknet's ImageNet lists. */
export function darknetListFiles(): { ids: string; names: string } {
  const dir = path.join(dataCacheDir(), 'darknet');
  return { ids: path.join(dir, 'imagenet.labels.list'), names: path.join(dir, 'imagenet.shortnames.list') };
}

/** The synsets of Google's ImageNet-21k that darknet's list lacks, with their WordNet names. */
export const IMAGENET21K_EXTRA: Readonly<Record<string, string>> = { n03931044: 'picture', n09859684: 'bleacher' };
/** darknet's synset that Google's ImageNet-21k lacks (ILSVRC-2012's "teddy, teddy bear", not in fall11). */
export const IMAGENET21K_ABSENT = 'n04399382';

/** The 1,000 ILSVRC-2012 class names in the order of BiT's 1,000-class heads. */
export async function ilsvrc2012ClassNames(): Promise<string[]> {
  const names = await readClassNames(ilsvrc2012NamesFile());
  if (names.length !== 1000) throw new Error(`${ilsvrc2012NamesFile()} has ${names.length} names, expected 1000`);
  return names;
}

/**
 * The 21,843 ImageNet-21k synsets in the order of the BiT-M heads, with
 * darknet's short names; null when darknet's lists have not been fetched.
 */
export async function imagenet21kClasses(): Promise<{ ids: string[]; names: string[] } | null> {
  const files = darknetListFiles();
  if (!existsSync(files.ids) || !existsSync(files.names)) return null;
  const [ids, names] = await Promise.all([readClassNames(files.ids), readClassNames(files.names)]);
  if (ids.length !== names.length) throw new Error(`${files.ids} has ${ids.length} lines but ${files.names} has ${names.length}`);
  const byId = new Map(ids.map((id, i) => [id, names[i]]));
  byId.delete(IMAGENET21K_ABSENT);
  for (const [id, name] of Object.entries(IMAGENET21K_EXTRA)) byId.set(id, name);
  const sorted = [...byId.keys()].sort();
  if (sorted.length !== 21843) throw new Error(`${files.ids}: expected darknet's 21,842 ImageNet synsets, found ${ids.length} lines`);
  return { ids: sorted, names: sorted.map((id) => byId.get(id)!) };
}

/** Names for a head's outputs, where they come from, and why there are none. */
export interface HeadClassNames {
  names: readonly string[] | null;
  /** Where the names come from, or why the head has none. */
  source: string;
}

/**
 * Class names for the outputs of a weights file, given its metadata (models.readMeta): its own (files this
 * project writes), else the ILSVRC-2012 names for a 1,000-way head of a file
 * without class names (the official BiT-S, -ILSVRC2012 and distilled files),
 * else the ImageNet-21k names for a 21,843-way head (BiT-M), when darknet's
 * lists are there.
 */
export async function headClassNames(meta: { classNames?: readonly string[]; data?: string } | null, headSize: number): Promise<HeadClassNames> {
  if (meta?.classNames) return { names: meta.classNames, source: 'the weights file' };
  if (headSize === 1000 && (meta?.data ?? 'ILSVRC-2012') === 'ILSVRC-2012') {
    return { names: await ilsvrc2012ClassNames(), source: 'ILSVRC-2012 (data/classification_classes_ILSVRC2012.txt)' };
  }
  if (headSize === 21843) {
    const c = await imagenet21kClasses();
    if (c) return { names: c.names, source: `ImageNet-21k (darknet's lists in ${path.dirname(darknetListFiles().ids)}, in BiT's order)` };
    return {
      names: null,
      source: `no names for the 21,843 ImageNet-21k classes: run \`sh ${path.join(packageRoot(), 'scripts', 'fetch-debian-data.sh')}\` to fetch them from Debian's darknet package`,
    };
  }
  return { names: null, source: 'the weights file names no classes' };
}

/**
 * The class names of a head of `headSize` outputs: those of a `--labels` file (one per line; its count must match
 * the head), else what `headClassNames` finds for the weights.
 */
export async function classNamesFor(labels: string | undefined, meta: Parameters<typeof headClassNames>[0], headSize: number): Promise<HeadClassNames> {
  if (labels === undefined) return headClassNames(meta, headSize);
  const names = await readClassNames(labels);
  if (names.length !== headSize) throw new UsageError(`${labels} has ${names.length} class names but the model has ${headSize} outputs`);
  return { names, source: labels };
}
