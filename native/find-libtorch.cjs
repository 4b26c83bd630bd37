#!/usr/bin/env node
// Locates libtorch for the addon build. Order: $LIBTORCH, then the system
// library (Debian's libtorch-dev). Never downloads anything. Prints one of
// the gyp lists asked for (include | libs | defines | ldflags | summary) or,
// when libtorch is missing, every remedy, and exits 1.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function multiarchLibDirs() {
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
}

function locate() {
  const env = process.env.LIBTORCH;
  if (env) {
    const root = path.resolve(env);
    const inc = path.join(root, 'include');
    const lib = path.join(root, 'lib');
    if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h')) || !fs.existsSync(lib)) {
      return { error: `LIBTORCH=${env} does not hold include/ATen/ATen.h and lib/` };
    }
    const cfg = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
    return { source: 'LIBTORCH', root, inc, lib, cfg };
  }
  if (fs.existsSync('/usr/include/ATen/ATen.h')) {
    const lib = multiarchLibDirs().find((d) => fs.existsSync(path.join(d, 'libtorch_cpu.so')));
    if (!lib) return { error: 'headers in /usr/include/ATen but no libtorch_cpu.so in the system library folders' };
    return { source: 'system', root: '/usr', inc: '/usr/include', lib, cfg: path.join(lib, 'cmake', 'Torch', 'TorchConfig.cmake') };
  }
  return { error: 'no libtorch headers in /usr/include/ATen and LIBTORCH is not set' };
}

function remedies(why) {
  return [
    `bit: libtorch was not found (${why}).`,
    "The native addon needs libtorch (PyTorch's C++ library). Remedies, any one of:",
    '  1. Debian/Ubuntu: sudo apt-get install -y libtorch-dev libopenblas0-pthread libgloo-dev',
    '     (or run `sh scripts/setup.sh` as root, which installs them), then `npm rebuild`.',
    '  2. Use the libtorch inside a Python PyTorch install (CUDA builds included):',
    "     LIBTORCH=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))') npm rebuild",
    '  3. Unpack a libtorch C++ distribution and point LIBTORCH at its folder, then `npm rebuild`.',
  ].join('\n');
}

function cxxAbi(cfg) {
  try {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(cfg, 'utf8'));
    if (m) return m[1];
  } catch {
    /* no cmake config: fall through to the default */
  }
  return '1';
}

const loc = locate();
const mode = process.argv[2] || 'summary';
if (loc.error) {
  process.stderr.write(remedies(loc.error) + '\n');
  process.exit(1);
}
const apiInc = path.join(loc.inc, 'torch', 'csrc', 'api', 'include');
const glooInc = [loc.inc, '/usr/include'].find((d) => fs.existsSync(path.join(d, 'gloo', 'algorithm.h')));
const withDist = fs.existsSync(path.join(loc.inc, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')) && !!glooInc;
const has = (name) => fs.existsSync(path.join(loc.lib, name));
const cuda = has('libtorch_cuda.so');
// oneDNN's own headers (Debian's libdnnl-dev) beside a system libtorch, which links the same
// libdnnl.so.2: the addon then calls oneDNN directly for its packed inference convolutions
// (native/src/inference.cc). The oneDNN 2.x API only; BIT_ONEDNN=0 builds without.
const onednnVersion = (() => {
  try {
    return /#define DNNL_VERSION_MAJOR (\d+)/.exec(fs.readFileSync('/usr/include/oneapi/dnnl/dnnl_version.h', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
})();
const withOnednn = process.env.BIT_ONEDNN !== '0' && loc.source === 'system' && onednnVersion === '2' && fs.existsSync(path.join(loc.lib, 'libdnnl.so'));
const libs = [`-L${loc.lib}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10'];
if (cuda) libs.push('-ltorch_cuda', has('libc10_cuda.so') ? '-lc10_cuda' : '');
if (withOnednn) libs.push('-ldnnl');
libs.push('-Wl,--as-needed');
const defines = [`_GLIBCXX_USE_CXX11_ABI=${cxxAbi(loc.cfg)}`];
if (withDist) defines.push('BIT_WITH_DIST', 'USE_C10D_GLOO');
if (withOnednn) defines.push('BIT_WITH_ONEDNN');

const out = {
  include: [loc.inc, apiInc].filter((d) => fs.existsSync(d)),
  libs: libs.filter(Boolean),
  defines,
  ldflags: loc.source === 'LIBTORCH' ? [`-Wl,-rpath,${loc.lib}`] : [],
};
if (mode === 'summary') {
  process.stdout.write(
    JSON.stringify({ source: loc.source, root: loc.root, lib: loc.lib, cuda, distributed: withDist, onednn: withOnednn, ...out }, null, 2) + '\n',
  );
} else if (out[mode]) {
  process.stdout.write(out[mode].join(' ') + '\n');
} else {
  process.stderr.write(`find-libtorch: unknown mode '${mode}'\n`);
  process.exit(2);
}
