// `bit export --format web`: a static folder that classifies images in the
// browser. It holds the page (web/index.html, web/app.js), the compiled
// browser preprocessing (src/data/browser-preprocess.ts, the same module the
// tests compare with sharp), model.onnx, labels.json and onnxruntime-web's own
// files copied from its npm package: nothing is fetched from another host.
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/atomic.js';
import { onnxModelBytes, type ImageClassifier, type OnnxExportOptions, type OnnxExportResult } from '../models/index.js';
import * as T from '../tensor/index.js';
import { packageRoot } from '../util/package-root.js';
import { UsageError } from '../util/errors.js';

/** onnxruntime-web's files the page loads: the WebAssembly-only ES module (its loader bundled in) and the WebAssembly binary. */
export const ORT_WEB_FILES = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm'] as const;
/** The page's own files, from the package's web/ folder. */
const PAGE_FILES = ['index.html', 'app.js'] as const;
/** A file every export folder holds, so that re-exporting may replace a folder this command wrote, and nothing else. */
const MARKER = '.bit-web-export';

function ortWebDist(): string {
  return path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
}

function browserPreprocessModule(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../data/browser-preprocess.ts' : '../data/browser-preprocess.js', import.meta.url));
}

/** What labels.json holds: what the page needs beside the model. */
export interface WebLabels {
  readonly model: string;
  readonly resolution: number;
  readonly labels: readonly string[];
}

async function isReplaceable(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir).catch(() => null);
  return entries !== null && (entries.length === 0 || entries.includes(MARKER));
}

/**
 * Writes the web folder `out` (its parent must exist). The folder is built
 * beside it under a temporary name and renamed into place, so a failure
 * leaves no half-written folder; an existing `out` is replaced only when it
 * is empty or an earlier web export.
 */
export async function exportWeb(model: ImageClassifier, out: string, o: OnnxExportOptions): Promise<OnnxExportResult> {
  const target = path.resolve(out);
  const parent = path.dirname(target);
  const parentStat = await fs.stat(parent).catch(() => null);
  if (!parentStat?.isDirectory())
    throw new UsageError(`--out: the folder ${parent} does not exist (the web export creates only ${path.basename(target)} inside it)`);
  const existing = await fs.stat(target).catch(() => null);
  if (existing && !(existing.isDirectory() && (await isReplaceable(target)))) {
    throw new UsageError(`--out: ${target} exists and is not an earlier web export; choose a new folder`);
  }
  const { bytes, result } = T.tidy(() => onnxModelBytes(model, o));
  const labels: WebLabels = {
    model: o.modelName,
    resolution: o.resolution,
    labels: o.classNames ? [...o.classNames] : Array.from({ length: model.headSize }, (_, i) => String(i)),
  };
  const tmp = await fs.mkdtemp(path.join(parent, `.${path.basename(target)}.tmp-`));
  try {
    await fs.writeFile(path.join(tmp, 'model.onnx'), bytes);
    await fs.writeFile(path.join(tmp, 'labels.json'), JSON.stringify(labels, null, 1) + '\n');
    for (const f of PAGE_FILES) await fs.copyFile(path.join(packageRoot(), 'web', f), path.join(tmp, f));
    // the compiled module, without the pointer to a source map the folder does not hold
    const code = (await fs.readFile(browserPreprocessModule(), 'utf8')).replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    await fs.writeFile(path.join(tmp, 'browser-preprocess.js'), code);
    for (const f of ORT_WEB_FILES) await fs.copyFile(path.join(ortWebDist(), f), path.join(tmp, f));
    await writeFileAtomic(path.join(tmp, MARKER), 'written by bit export --format web\n');
    if (existing) {
      const old = `${tmp}.old`;
      await fs.rename(target, old);
      await fs.rename(tmp, target);
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(tmp, target);
    }
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return result;
}
