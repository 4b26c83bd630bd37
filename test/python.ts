// The reference Python of the checks against numpy and PyTorch (independent
// implementations nobody here wrote): finding it, and running scripts in it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { peerPython } from '../src/bench/side.js';

/** The bench peer's Python: $BIT_PYTHON, else Debian's /usr/bin/python3. */
export const referencePython = peerPython;

/** Fails (not skips) with the remedy when the reference Python lacks `modules`: the checks against numpy/PyTorch are part of the suite. */
export function requirePython(modules: readonly string[], debianPackage: string): void {
  const python = referencePython();
  const run = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8', timeout: 120_000 });
  if (run.error !== undefined || run.status !== 0) {
    assert.fail(
      `these tests check against ${modules.join(' and ')} run by ${python}, which is missing or lacks them (${run.error?.message ?? run.stderr.trim()}): apt-get install -y ${debianPackage} (scripts/setup.sh installs it)`,
    );
  }
}

/** Runs a Python script (`-c`) under the reference Python with `args` and optional stdin; its stdout parsed as JSON. */
export function pythonJson(script: string, args: readonly string[] = [], input?: string): unknown {
  const python = referencePython();
  const run = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', input, timeout: 120_000, maxBuffer: 1 << 28 });
  if (run.error !== undefined) throw run.error;
  assert.equal(run.status, 0, `${python} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** What ONNX 1.12's checker (Debian python3-onnx) says of each file: check_model(full_check=True). */
export function onnxCheck(files: readonly string[]): { file: string; ok: boolean; error: string }[] {
  requirePython(['onnx'], 'python3-onnx');
  const script = `
import json, sys, onnx
out = []
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(f), full_check=True)
        out.append({"file": f, "ok": True, "error": ""})
    except Exception as e:
        out.append({"file": f, "ok": False, "error": str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})
print(json.dumps(out))
`;
  return pythonJson(script, files) as { file: string; ok: boolean; error: string }[];
}
