#!/usr/bin/env node
// The package's install step: checks for libtorch (printing every remedy when
// it is missing), then builds the addon with node-gyp against this Node's own
// headers when they are installed (no header download).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const check = spawnSync(process.execPath, [path.join(__dirname, 'find-libtorch.cjs'), 'summary'], { encoding: 'utf8' });
if (check.status !== 0) {
  process.stderr.write(check.stderr);
  process.exit(1);
}
const found = JSON.parse(check.stdout);
process.stdout.write(
  `bit: building the native addon against libtorch from ${found.source} (${found.lib}), distributed=${found.distributed}, cuda=${found.cuda}\n`,
);

const args = ['rebuild', '--jobs', 'max'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const gyp = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit', shell: false });
if (gyp.error) {
  process.stderr.write(`bit: could not run node-gyp (${gyp.error.message}); run the build through npm (npm rebuild) so its bundled node-gyp is on PATH\n`);
  process.exit(1);
}
process.exit(gyp.status ?? 1);
