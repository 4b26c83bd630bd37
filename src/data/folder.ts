/**
 * Image folders, in the layout torchvision's ImageFolder and most tools use:
 *
 *   DIR/train/<class>/<image>      e.g. DIR/train/cat/0001.jpg
 *   DIR/test/<class>/<image>       (or DIR/val/<class>/<image>)
 *
 * - Classes are the sub-folder names of DIR/train, sorted (JavaScript string
 *   order, i.e. by UTF-16 code unit); class i is the i-th name. The test and
 *   val splits use the train split's classes, so labels agree; a class folder
 *   there that train lacks is an error. (When DIR/train does not exist, a
 *   split's own sub-folders give the classes.)
 * - Images: files ending in .jpg .jpeg .png .webp .gif .tif .tiff (any case),
 *   also in nested folders below a class folder; other files and hidden
 *   files (starting with '.') are ignored. Files are sorted by path.
 * - Symbolic links are followed, but each real folder is read once per
 *   split: a link back into a folder already read (a loop like
 *   `ln -s .. DIR/train/a/loop`, or a link to another class's folder) is
 *   not followed and is listed in `dataset.skipped`; two class folders that
 *   are one folder are an error.
 * - Images are decoded on demand (never all held in memory): grey images
 *   become 3 channels, alpha is dropped, EXIF orientation is applied.
 * - Split 'test' reads DIR/test, or DIR/val when there is no DIR/test
 *   (ImageNet-style layouts). Split 'val' reads DIR/val.
 * - Errors: a missing or empty folder, a class folder without images, or an
 *   image file directly in DIR/train.
 * - `skipBadImages`: every image is decoded once at open time (at reduced
 *   scale); unreadable ones are left out and listed in `dataset.skipped`. Without it, a bad image is an error naming the file
 *   when it is decoded.
 * - `originalSize`: the median height and width of up to 16 images spread
 *   over the split (read from their headers).
 */
import { promises as fs, type Dirent } from 'node:fs';
import * as path from 'node:path';
import { Dataset, type ImageSize, type SkippedImage } from './dataset.js';
import { checkImageFile, IMAGE_EXTENSIONS, imageFileSize } from './decode.js';
import { DataError, messageOf } from './errors.js';

export type FolderSplit = 'train' | 'val' | 'test';

export interface OpenFolderOptions {
  /** Leave out images that cannot be decoded (checked at open time) instead of failing on them later. */
  readonly skipBadImages?: boolean;
  /** Class names to use instead of those of DIR/train (e.g. from a checkpoint). */
  readonly classNames?: readonly string[];
}

/** True for a file name with an image extension. */
export function isImageFile(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

async function readDirOrFail(dir: string, what: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${what} ${dir} does not exist`, { path: dir, cause: err });
    if (code === 'ENOTDIR') throw new DataError(`${what} ${dir} is not a folder`, { path: dir, cause: err });
    throw new DataError(`cannot read ${what} ${dir}: ${messageOf(err)}`, { path: dir, cause: err });
  }
}

/** What a directory entry is, following a symbolic link (one stat); null for anything else or a broken link. */
async function entryKind(entry: Dirent, full: string): Promise<'dir' | 'file' | null> {
  if (entry.isDirectory()) return 'dir';
  if (entry.isFile()) return 'file';
  if (!entry.isSymbolicLink()) return null;
  try {
    const st = await fs.stat(full);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

/**
 * The folders of one split read so far, by real path (symbolic links
 * resolved), each with the path it was first read at; and what was left out.
 */
interface FolderWalk {
  readonly read: Map<string, string>;
  readonly skipped: SkippedImage[];
}

/**
 * Image files below `dir`, recursively, sorted. Each real folder is read
 * once: a folder reached again through a symbolic link (a loop such as
 * `ln -s .. loop`, or a second way into a folder) is not followed, and is
 * listed in `walk.skipped`.
 */
async function walkImages(dir: string, walk: FolderWalk): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    const entries = await readDirOrFail(d, 'folder');
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      const kind = await entryKind(e, full);
      if (kind === 'dir') {
        const real = await fs.realpath(full);
        const first = walk.read.get(real);
        if (first !== undefined) {
          walk.skipped.push({ path: full, reason: `the same folder as ${first} (through a symbolic link), already read: not followed` });
          continue;
        }
        walk.read.set(real, full);
        await visit(full);
      } else if (kind === 'file' && isImageFile(e.name)) out.push(full);
    }
  };
  await visit(dir);
  return out.sort();
}

/** Image files below `dir`, recursively, sorted, each real folder read once; `skipped`: the symbolic links not followed. */
export async function listImages(dir: string): Promise<{ images: string[]; skipped: SkippedImage[] }> {
  const walk: FolderWalk = { read: new Map([[await fs.realpath(dir), dir]]), skipped: [] };
  const images = await walkImages(dir, walk);
  return { images, skipped: walk.skipped };
}

/** A walk of split folder `dir` of `root`, where the root, the split and its class folders count as read before any is walked. */
async function startWalk(root: string, dir: string, classes: readonly string[]): Promise<FolderWalk> {
  const read = new Map<string, string>();
  for (const p of [root, dir]) read.set(await fs.realpath(p), p);
  for (const name of classes) {
    const p = path.join(dir, name);
    const real = await fs.realpath(p);
    const other = read.get(real);
    if (other !== undefined)
      throw new DataError(`class folders ${other} and ${p} are the same folder (through a symbolic link): each class needs a folder of its own`, { path: p });
    read.set(real, p);
  }
  return { read, skipped: [] };
}

/** Sub-folder names of a split folder, sorted; errors for a missing or empty folder. */
async function classFolders(splitDir: string): Promise<string[]> {
  const entries = await readDirOrFail(splitDir, 'split folder');
  const names: string[] = [];
  const strayImages: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(splitDir, e.name);
    if ((await entryKind(e, full)) === 'dir') names.push(e.name);
    else if (isImageFile(e.name)) strayImages.push(e.name);
  }
  if (strayImages.length > 0) {
    throw new DataError(`${splitDir} holds image files directly (e.g. ${strayImages[0]}): expected one sub-folder per class, DIR/<split>/<class>/<image>`, {
      path: splitDir,
    });
  }
  if (names.length === 0) {
    throw new DataError(`${splitDir} has no class folders: expected DIR/<split>/<class>/<image>, one sub-folder per class`, { path: splitDir });
  }
  return names.sort();
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The folder that holds `split` (see the layout above), or an error saying what is there. */
export async function splitFolder(root: string, split: FolderSplit): Promise<string> {
  const entries = await readDirOrFail(root, 'image folder');
  const candidates = split === 'test' ? ['test', 'val'] : [split];
  for (const c of candidates) {
    if (await exists(path.join(root, c))) return path.join(root, c);
  }
  const found = entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => e.name)
    .slice(0, 10);
  const hint = split === 'val' ? ' (or carve a validation split from train with the dataset option val=N or val=FRACTION)' : '';
  throw new DataError(
    `image folder ${root} has no ${candidates.join('/ or ')}/ folder for the ${split} split: expected ${root}/${candidates[0]}/<class>/<image>; found ${found.length > 0 ? found.join(', ') : 'nothing'}${hint}`,
    { path: root },
  );
}

/** The upper median of a non-empty list (of an even count, the larger middle value): a size one of the images has. */
function upperMedian(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The (upper) median height and width of up to 16 of the files (spread over the list), from their headers; null if none is readable. */
export async function probeSize(files: readonly string[]): Promise<ImageSize | null> {
  const picks = Math.min(16, files.length);
  const sizes: ImageSize[] = [];
  await Promise.all(
    Array.from({ length: picks }, async (_, k) => {
      const size = await imageFileSize(files[Math.floor((k * files.length) / picks)]);
      if (size !== null) sizes.push(size);
    }),
  );
  if (sizes.length === 0) return null;
  return { height: upperMedian(sizes.map((s) => s.height)), width: upperMedian(sizes.map((s) => s.width)) };
}

/**
 * Checks every file once with `check` (default: a full decode at reduced
 * size), `concurrency` at a time; returns the indices of the good ones (in
 * order) and the bad ones with the reason `check` gave.
 */
export async function scanImages(
  files: readonly string[],
  concurrency = 4,
  check: (file: string) => Promise<string | null> = checkImageFile,
): Promise<{ keep: Int32Array; skipped: SkippedImage[] }> {
  const bad = new Map<number, string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const reason = await check(files[i]);
      if (reason !== null) bad.set(i, reason);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  const keep: number[] = [];
  const skipped: SkippedImage[] = [];
  files.forEach((f, i) => {
    const reason = bad.get(i);
    if (reason === undefined) keep.push(i);
    else skipped.push({ path: f, reason });
  });
  return { keep: Int32Array.from(keep), skipped };
}

/**
 * Image files without labels (for embeddings and predictions): each
 * argument is an image file, or a folder whose images (recursively, sorted)
 * are taken. The dataset has no classes; every sample's label set is empty.
 */
export async function openImageFiles(inputs: readonly string[]): Promise<Dataset> {
  const files: string[] = [];
  const skipped: SkippedImage[] = [];
  for (const input of inputs) {
    const kind = await fs.stat(input).then(
      (st) => (st.isDirectory() ? 'dir' : 'file'),
      () => null,
    );
    if (kind === null) throw new DataError(`${input} does not exist`, { path: input });
    if (kind === 'file') files.push(input);
    else {
      const { images, skipped: links } = await listImages(input);
      skipped.push(...links);
      if (images.length === 0) throw new DataError(`folder ${input} has no images: expected files ending in ${IMAGE_EXTENSIONS.join(' ')}`, { path: input });
      files.push(...images);
    }
  }
  if (files.length === 0) throw new DataError('no images given');
  return new Dataset({
    name: inputs.length === 1 ? inputs[0] : `${files.length} images`,
    classNames: [],
    source: { kind: 'files', paths: files },
    labelSets: { offsets: new Int32Array(files.length + 1), values: new Int32Array(0) },
    originalSize: await probeSize(files),
    defaultFlip: false,
    skipped,
  });
}

/** Opens split `split` of the image folder `root`. */
export async function openImageFolder(root: string, split: FolderSplit, options: OpenFolderOptions = {}): Promise<Dataset> {
  const dir = await splitFolder(root, split);
  const own = await classFolders(dir);
  let classNames: readonly string[];
  if (options.classNames !== undefined) classNames = options.classNames;
  else if (path.basename(dir) !== 'train' && (await exists(path.join(root, 'train')))) classNames = await classFolders(path.join(root, 'train'));
  else classNames = own;
  const classIndex = new Map(classNames.map((c, i) => [c, i]));
  const files: string[] = [];
  const labels: number[] = [];
  const walk = await startWalk(root, dir, own);
  for (const name of own) {
    const label = classIndex.get(name);
    if (label === undefined) {
      throw new DataError(
        `class folder ${path.join(dir, name)} is not a known class: the classes are ${classNames.length <= 20 ? classNames.join(', ') : `${classNames.length} folders`} (from ${options.classNames !== undefined ? 'the given class names' : path.join(root, 'train')})`,
        { path: path.join(dir, name) },
      );
    }
    const images = await walkImages(path.join(dir, name), walk);
    if (images.length === 0) {
      throw new DataError(`class folder ${path.join(dir, name)} has no images: expected files ending in ${IMAGE_EXTENSIONS.join(' ')}`, {
        path: path.join(dir, name),
      });
    }
    for (const f of images) {
      files.push(f);
      labels.push(label);
    }
  }
  let good = files;
  let goodLabels = Int32Array.from(labels);
  const skipped: SkippedImage[] = walk.skipped;
  if (options.skipBadImages === true) {
    const scan = await scanImages(files);
    skipped.push(...scan.skipped);
    if (scan.keep.length === 0)
      throw new DataError(`${dir}: all ${files.length} images are unreadable (first: ${scan.skipped[0].path}: ${scan.skipped[0].reason})`, { path: dir });
    good = Array.from(scan.keep, (i) => files[i]);
    goodLabels = Int32Array.from(scan.keep, (i) => labels[i]);
  }
  return new Dataset({
    name: `folder:${root}/${path.basename(dir)}`,
    classNames,
    source: { kind: 'files', paths: good },
    labels: goodLabels,
    originalSize: await probeSize(good),
    defaultFlip: true,
    skipped,
  });
}
