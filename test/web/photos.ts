// The real photos the prediction and export tests use: fetched from Debian's
// archive by scripts/fetch-debian-data.sh (python3-skimage, darknet).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { dataCacheDir } from '../../src/data/paths.js';

/** The path of a fetched photo; fails with the remedy when it is missing. */
export function photo(name: string): string {
  const file = path.join(dataCacheDir(), 'photos', name);
  assert.ok(existsSync(file), `${file} is missing: run sh scripts/fetch-debian-data.sh (scripts/setup.sh does)`);
  return file;
}
