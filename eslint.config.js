import { readdirSync } from 'node:fs';
import { URL } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layer rule (README, "Layers import only downward"): the folders of
 * src/ each folder may import from. native -> tensor -> nn -> models -> data
 * -> train/eval -> cli/experiments, with util (helpers), io (file formats)
 * and report (tables and figures) below what uses them; only tensor touches
 * native; models never imports data. A folder missing here is an error: give
 * a new folder its place.
 */
const BASE = ['util'];
const TENSOR = [...BASE, 'tensor'];
const MODELS = [...TENSOR, 'io', 'nn', 'models'];
const TRAIN = [...MODELS, 'data', 'report', 'train'];
const TOP = [...TRAIN, 'eval'];
const LAYERS = {
  util: [],
  io: BASE,
  native: BASE,
  report: [...BASE, 'io'],
  tensor: [...BASE, 'native'],
  nn: [...TENSOR, 'io'],
  models: [...TENSOR, 'io', 'nn'],
  data: MODELS,
  train: [...MODELS, 'data', 'report'],
  eval: TRAIN,
  experiments: TOP,
  demo: TOP,
  serve: TOP,
  bench: TOP,
  cli: [...TOP, 'experiments', 'demo', 'bench', 'serve'],
};
const FOLDERS = Object.keys(LAYERS);
const unplaced = readdirSync(new URL('./src', import.meta.url), { withFileTypes: true })
  .filter((e) => e.isDirectory() && !FOLDERS.includes(e.name))
  .map((e) => `src/${e.name}`);
if (unplaced.length > 0) throw new Error(`eslint.config.js: ${unplaced.join(', ')} has no place in LAYERS (the folders each src/ folder may import)`);

/** A no-restricted-imports rule forbidding the folders of src/ that `allowed` does not list (relative imports from `prefix`). */
function layerRule(where, prefix, allowed) {
  const forbidden = FOLDERS.filter((f) => !allowed.includes(f));
  return [
    'error',
    {
      patterns: [
        {
          regex: `^${prefix.replace(/\./g, '\\.')}(${forbidden.join('|')})(/|$)`,
          message: `${where} may import only from src/{${allowed.join(', ') || 'nothing'}} (layers import only downward: native -> tensor -> nn -> models -> data -> train/eval -> cli/experiments; see LAYERS in eslint.config.js)`,
        },
      ],
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'runs/**', '.build-*/**', 'bit-demo/**', 'bit-fewshot/**', 'bit-vtab/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...Object.entries(LAYERS).map(([folder, allowed]) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': layerRule(`src/${folder}`, '../', [folder, ...allowed]) },
  })),
  // the library entry point exports the layers, not the commands or the addon
  { files: ['src/index.ts'], rules: { 'no-restricted-imports': layerRule('src/index.ts', './', TOP) } },
  {
    // the page of `bit export --format web`: a plain ES module run by browsers
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'navigator', 'fetch', 'performance', 'createImageBitmap', 'Blob', 'OffscreenCanvas', 'ImageData', 'URL'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
