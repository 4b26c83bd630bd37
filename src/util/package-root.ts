// The installed package's own folder (where package.json, binding.gyp, bench/
// and scripts/ are), found from this module's location, so that it works from
// src/ (tests with a TypeScript loader) and from dist/src/ alike.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The nearest folder above this module that holds a package.json: this package's root. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = fileURLToPath(import.meta.url);
  let dir = path.dirname(here);
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`bit: cannot find this package's folder (no package.json above ${here})`);
    dir = up;
  }
  root = dir;
  return dir;
}
