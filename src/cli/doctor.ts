// `bit doctor`: what the engine runs on, and what is missing.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as T from '../tensor/index.js';
import { messageOf } from '../util/errors.js';

export interface DoctorReport {
  addon: { loaded: boolean; path: string; error?: string };
  libtorch?: { version: string; library: string | null; distributed: boolean; cuda: boolean; mkldnn: boolean; lapack: boolean };
  blas?: { library: string | null; matmulGflops: number };
  threads?: { torch: number; cores: number };
}

/** Shared libraries mapped into this process whose path matches `re`. */
function mappedLibrary(re: RegExp): string | null {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    for (const line of maps.split('\n')) {
      const p = line.slice(line.indexOf('/'));
      if (line.includes('/') && re.test(p)) return p.trim();
    }
  } catch {
    /* not Linux */
  }
  return null;
}

/** GFLOP/s of a float32 matrix product (the BLAS check). */
export function matmulGflops(n = 1024, reps = 5): number {
  return T.tidy(() => {
    const a = T.randn([n, n]);
    const b = T.randn([n, n]);
    T.matmul(a, b).sum().item();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) T.tidy(() => void T.matmul(a, b).sum().item());
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    return (2 * n ** 3 * reps) / s / 1e9;
  });
}

export function doctor(): DoctorReport {
  const report: DoctorReport = { addon: { loaded: false, path: T.addonPath() } };
  let info: ReturnType<typeof T.buildInfo>;
  try {
    info = T.buildInfo();
    report.addon.loaded = true;
  } catch (err) {
    report.addon.error = messageOf(err);
    return report;
  }
  T.configureThreads();
  report.libtorch = {
    version: info.torchVersion,
    library: mappedLibrary(/libtorch_cpu\.so/),
    distributed: info.distributed,
    cuda: info.cuda,
    mkldnn: info.mkldnn,
    lapack: info.lapack,
  };
  report.blas = { library: mappedLibrary(/lib(open)?blas[^/]*\.so/), matmulGflops: matmulGflops() };
  report.threads = { torch: T.getNumThreads(), cores: availableParallelism() };
  return report;
}

export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`addon:      ${r.addon.loaded ? 'loaded' : 'NOT LOADED'} (${r.addon.path})`);
  if (r.addon.error) lines.push(r.addon.error);
  if (r.libtorch) {
    lines.push(`libtorch:   ${r.libtorch.version} (${r.libtorch.library ?? 'path unknown'})`);
    lines.push(`features:   distributed(c10d/Gloo)=${r.libtorch.distributed} cuda=${r.libtorch.cuda} oneDNN=${r.libtorch.mkldnn} LAPACK=${r.libtorch.lapack}`);
  }
  if (r.blas) {
    const ref = r.blas.library && !/openblas/.test(r.blas.library);
    lines.push(`BLAS:       ${r.blas.library ?? 'unknown'}; float32 matmul ${r.blas.matmulGflops.toFixed(1)} GFLOP/s`);
    if (ref && !existsSync('/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3')) {
      lines.push('            the reference BLAS is slow: install libopenblas0-pthread (apt-get install -y libopenblas0-pthread)');
    }
  }
  if (r.threads) lines.push(`threads:    ${r.threads.torch} (of ${r.threads.cores} cores; set with --threads or BIT_THREADS)`);
  return lines.join('\n');
}
