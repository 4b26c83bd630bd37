// `bit weights list | fetch | path`: the official BiT files by name, and the cache they are downloaded into.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  cachedWeightsPath,
  fetchOfficialWeights,
  findOfficialWeights,
  officialWeights,
  sizeByConstruction,
  weightsBaseUrl,
  weightsCacheDir,
  type OfficialWeights,
} from '../models/index.js';
import { textTable } from '../report/index.js';
import { UsageError } from '../util/errors.js';

function official(name: string): OfficialWeights {
  const w = findOfficialWeights(name);
  if (!w)
    throw new UsageError(
      `unknown weights name '${name}'; the official files: ${officialWeights()
        .map((o) => o.name)
        .join(', ')}`,
    );
  return w;
}

export function registerWeightsCommand(program: Command): void {
  const cmd = program
    .command('weights')
    .description('the official BiT weights by name: list them, download them into the cache ($BIT_CACHE), say where they go');

  cmd
    .command('list')
    .description('every official file with its model, head, resolution and size, and whether it is in the cache')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const rows = officialWeights().map((w) => ({ ...w, bytes: sizeByConstruction(w), cached: existsSync(cachedWeightsPath(w)) }));
      if (o.json) {
        process.stdout.write(JSON.stringify(rows.map((r) => ({ ...r, url: weightsBaseUrl() + r.file, path: cachedWeightsPath(r) }))) + '\n');
        return;
      }
      const table = textTable({
        columns: [
          { header: 'name', align: 'left' },
          { header: 'model', align: 'left' },
          { header: 'head', align: 'left' },
          { header: 'px', decimals: 0 },
          { header: 'MB', decimals: 0 },
          { header: 'cached', align: 'left' },
          { header: 'what', align: 'left' },
        ],
        rows: rows.map((r) => [r.name, r.model, `${r.headSize} ${r.head}`, r.crop, r.bytes / 1e6, r.cached ? 'yes' : '', r.description]),
      });
      process.stdout.write(
        `${table}\n` +
          `MB: the size by construction (float32 parameters + .npz headers, computed from the model), not measured.\n` +
          `Downloaded from ${weightsBaseUrl()} ($BIT_WEIGHTS_URL) into ${weightsCacheDir()} ($BIT_CACHE) on first use: --weights NAME works in every command.\n`,
      );
    });

  cmd
    .command('fetch')
    .description('download official files into the cache (resumes a partial download; checks the checksum of a cached one)')
    .argument('<names...>', 'official names, e.g. BiT-M-R50x1 distill/R50x1_224')
    .option('--quiet', 'no progress line')
    .action(async (names: string[], o: { quiet?: boolean }) => {
      const wanted = names.map(official);
      for (const w of wanted) process.stdout.write(`${await fetchOfficialWeights(w, { quiet: o.quiet })}\n`);
    });

  cmd
    .command('path')
    .description('where an official file is (or goes) in the cache: the place to put a copy downloaded elsewhere')
    .argument('<names...>', 'official names')
    .action((names: string[]) => {
      for (const w of names.map(official)) process.stdout.write(`${cachedWeightsPath(w)}\n`);
    });
}
