// Loads the native libtorch addon and gives it a typed face. Only the tensor
// layer (src/tensor) may import this module: everything above it works with
// `Tensor` objects, never with raw handles.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { NativeBinding } from './binding.js';

export * from './binding.js';

/** Where the compiled addon is expected. */
export function addonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'bit_native.node');
}

function loadError(file: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const lines = [
    `bit: the native libtorch addon could not be loaded from ${file}`,
    `  reason: ${reason.split('\n')[0]}`,
    'Remedies, any one of:',
    '  1. Build it: `npm rebuild` in the package folder (or `sh scripts/setup.sh`, which also installs what is missing).',
    '  2. Install libtorch and its BLAS: `sudo apt-get install -y libtorch-dev libopenblas0-pthread libgloo-dev`, then `npm rebuild`.',
    '  3. If you built against a libtorch elsewhere (LIBTORCH=...), make its lib/ folder findable (the build sets an rpath; a moved libtorch needs `npm rebuild`).',
    '  4. If Node.js was upgraded since the build, rebuild: `npm rebuild`.',
  ];
  return new Error(lines.join('\n'), { cause });
}

let binding: NativeBinding | undefined;
const loaderSet = new Set<string>();

/**
 * The environment variables that loading the addon set for libtorch (the
 * user had not set them), which child processes running other software (the
 * PyTorch peer of `bit bench`) should not inherit.
 */
export function loaderEnvironment(): ReadonlySet<string> {
  return loaderSet;
}

/** The loaded addon (loaded once, on first use). Throws one error listing every remedy. */
export function native(): NativeBinding {
  if (binding) return binding;
  const file = addonPath();
  if (!existsSync(file)) throw loadError(file, new Error('the file does not exist (the addon was never built)'));
  // libgomp reads this once, when libtorch loads. Its default busy-waiting
  // collapses throughput (measured 8x slower) as soon as another thread wants
  // a core: our own data-loader threads, or any other process.
  if (process.env.OMP_WAIT_POLICY === undefined) {
    process.env.OMP_WAIT_POLICY = 'PASSIVE';
    loaderSet.add('OMP_WAIT_POLICY');
  }
  try {
    const req = createRequire(import.meta.url);
    binding = req(file) as NativeBinding;
  } catch (err) {
    throw loadError(file, err);
  }
  return binding;
}
