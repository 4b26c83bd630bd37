/**
 * Multi-label data for upstream pre-training (ImageNet-21k / JFT style, where
 * an image can have several labels):
 *
 *   DIR/classes.txt     one class name per line; line k (0-based, blank lines
 *                       not counted) is class k
 *   DIR/train.tsv       one image per line: relative/path<TAB>3,17,20
 *   DIR/test.tsv        (optional; also val.tsv)
 *   DIR/images/...      the images; paths in the .tsv files are relative to DIR/images
 *
 * In the .tsv files, labels are class indices separated by commas (an empty
 * list is allowed: an image with no positive label); blank lines and lines
 * starting with '#' are skipped; repeated labels count once. Labels come out
 * of the loader as multi-hot rows (numClasses bytes of 0/1 per image), the
 * targets of BiT's upstream sigmoid cross-entropy. Missing or unreadable
 * images are reported when decoded (naming the file), or skipped at open
 * time with `skipBadImages`. `originalSize` is the median size of up to 16
 * images (from their headers).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Dataset } from './dataset.js';
import { DataError, messageOf } from './errors.js';
import { probeSize, scanImages, type FolderSplit } from './folder.js';

export interface OpenMultiLabelOptions {
  readonly skipBadImages?: boolean;
}

/** True when `dir` looks like a multi-label folder (it has classes.txt and train.tsv). */
export function isMultiLabelFolder(dir: string): boolean {
  return existsSync(path.join(dir, 'classes.txt')) && existsSync(path.join(dir, 'train.tsv'));
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DataError(missing ? `${what} ${file} does not exist` : `cannot read ${what} ${file}: ${messageOf(err)}`, { path: file, cause: err });
  }
}

/** Reads classes.txt: the non-blank lines, trimmed. */
export async function readClassNames(file: string): Promise<string[]> {
  const names = (await readText(file, 'class list'))
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new DataError(`${file} lists no classes: expected one class name per line`, { path: file });
  return names;
}

/** Opens split `split` of the multi-label folder `root`. */
export async function openMultiLabel(root: string, split: FolderSplit, options: OpenMultiLabelOptions = {}): Promise<Dataset> {
  if (!existsSync(root)) throw new DataError(`multi-label folder ${root} does not exist`, { path: root });
  const classNames = await readClassNames(path.join(root, 'classes.txt'));
  const listFile = path.join(root, `${split}.tsv`);
  if (!existsSync(listFile)) {
    throw new DataError(
      `multi-label folder ${root} has no ${split}.tsv: expected lines 'relative/path<TAB>3,17,20' naming images under ${path.join(root, 'images')}`,
      { path: listFile },
    );
  }
  const imagesDir = path.join(root, 'images');
  const lines = (await readText(listFile, 'label list')).split(/\r?\n/);
  const files: string[] = [];
  const offsets: number[] = [0];
  const values: number[] = [];
  const n = classNames.length;
  lines.forEach((line, k) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const where = `${listFile}:${k + 1}`;
    const tab = line.indexOf('\t');
    if (tab < 0) throw new DataError(`${where}: expected 'relative/path<TAB>labels', found no tab in '${line.slice(0, 80)}'`, { path: listFile });
    const rel = line.slice(0, tab);
    if (rel === '') throw new DataError(`${where}: empty image path`, { path: listFile });
    const field = line.slice(tab + 1).trim();
    const seen = new Set<number>();
    if (field !== '') {
      for (const tok of field.split(',')) {
        const t = tok.trim();
        const v = Number(t);
        if (t === '' || !Number.isInteger(v))
          throw new DataError(`${where}: label '${t}' is not a class index: expected integers 0..${n - 1} separated by commas`, { path: listFile });
        if (v < 0 || v >= n)
          throw new DataError(`${where}: label ${v} is out of range: expected 0..${n - 1} (${n} classes in ${path.join(root, 'classes.txt')})`, {
            path: listFile,
          });
        seen.add(v);
      }
    }
    files.push(path.resolve(imagesDir, rel));
    for (const v of [...seen].sort((a, b) => a - b)) values.push(v);
    offsets.push(values.length);
  });
  if (files.length === 0) throw new DataError(`${listFile} lists no images`, { path: listFile });
  let keep: Int32Array | null = null;
  let skipped: { path: string; reason: string }[] = [];
  if (options.skipBadImages === true) {
    const scan = await scanImages(files);
    skipped = scan.skipped;
    keep = scan.keep;
    if (keep.length === 0)
      throw new DataError(`${listFile}: all ${files.length} images are unreadable (first: ${skipped[0].path}: ${skipped[0].reason})`, { path: listFile });
  }
  const good = keep === null ? files : Array.from(keep, (i) => files[i]);
  const all = new Dataset({
    name: `multilabel:${root}/${split}`,
    classNames,
    source: { kind: 'files', paths: files },
    labelSets: { offsets: Int32Array.from(offsets), values: Int32Array.from(values) },
    originalSize: await probeSize(good),
    defaultFlip: true,
    skipped,
  });
  return keep === null ? all : all.subset(keep, all.name);
}
