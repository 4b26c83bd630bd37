// groups: GroupNorm with a given number of groups (64 ... 1 = LayerNorm) and
// with a given number of channels per group (64 ... 1 = InstanceNorm); error
// and the difference to the best setting (Wu & He 2018, the group-division
// table on the lecture's "Group Normalization: cases" slide).
//
// The model is a classic ResNet whose narrowest layer has 64 channels
// (ResNet-8-64), so every group count of the table divides every layer; the
// group choice is a NormSpec option of the model zoo ({kind: 'group', groups}
// or {kind: 'group', channelsPerGroup}).
import { hconcatFigures, lineChart, markdownTable, PANEL_WIDTH, pointFromSeeds, summarize, type Cell } from '../report/index.js';
import { UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import {
  band,
  defineExperiment,
  describeData,
  describeOptim,
  meanOrNull,
  openData,
  pct,
  trainVariant,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
  type Outcome,
} from './common.js';

export interface GroupsConfig {
  data: DataConfig;
  model: string;
  /** Number of groups in every layer. */
  groups: number[];
  /** Channels per group in every layer. */
  channelsPerGroup: number[];
  optim: OptimConfig;
  seeds: number[];
}

/**
 * Wu & He 2018, group division: ResNet-50 ImageNet validation error (%) with
 * 32 images per GPU; the difference to the best setting of each row
 * (the lecture's "Group Normalization: cases" slide).
 */
export const GROUPS_PUBLISHED = {
  groups: { setting: [64, 32, 16, 8, 4, 2, 1], error: [24.6, 24.1, 24.6, 24.4, 24.6, 24.7, 25.3] },
  channelsPerGroup: { setting: [64, 32, 16, 8, 4, 2, 1], error: [24.4, 24.5, 24.2, 24.3, 24.8, 25.6, 28.4] },
  source: 'Wu & He 2018, group division (ResNet-50, ImageNet val error %, 32 images/GPU)',
};

const SETTINGS = [64, 32, 16, 8, 4, 2, 1];

const FULL: GroupsConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-64',
  groups: SETTINGS,
  channelsPerGroup: SETTINGS,
  // Wu & He: 32 images per GPU. GroupNorm does not depend on the batch, so one device holds all 32.
  optim: { batch: 32, lr: 0.05, steps: 1000, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
};

const QUICK: GroupsConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-64',
  groups: [64, 1],
  channelsPerGroup: [64, 1],
  optim: { batch: 8, lr: 0.05, steps: 2, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  seeds: [0],
};

export interface GroupsRun {
  row: 'groups' | 'channelsPerGroup';
  setting: number;
  seed: number;
  /** Test error in [0, 1]; null when the run diverged. */
  error: number | null;
  /** Mean test cross-entropy; null when the run diverged. */
  testLoss: number | null;
  diverged: boolean;
  seconds: number;
}

export interface GroupsRow {
  row: 'groups' | 'channelsPerGroup';
  setting: number;
  /** Mean test error over seeds (null: a seed diverged) and its difference to the best setting of the row. */
  error: number | null;
  deltaToBest: number | null;
}

export interface GroupsResults {
  runs: GroupsRun[];
  rows: GroupsRow[];
}

const ROW_TITLE = { groups: '# groups (G)', channelsPerGroup: '# channels per group' } as const;

/** The lecture's layout: one row of errors, one of differences to the best (– marks the best). */
function tableOf(
  what: 'groups' | 'channelsPerGroup',
  settings: readonly number[],
  errors: readonly (number | null)[],
  decimals: number,
  scale: number,
): string {
  const valid = errors.filter((e): e is number => e !== null);
  const best = valid.length > 0 ? Math.min(...valid) : null;
  const label = (s: number) => (s === 1 ? `1 (=${what === 'groups' ? 'LN' : 'IN'})` : String(s));
  return markdownTable({
    columns: [{ header: ROW_TITLE[what] }, ...settings.map((s) => ({ header: label(s), decimals, align: 'right' as const }))],
    rows: [
      ['error (%)', ...errors.map((e): Cell => (e === null ? 'diverged' : scale * e))],
      ['Δ to best', ...errors.map((e): Cell => (e === null || best === null ? null : e === best ? '–' : scale * (e - best)))],
    ],
  });
}

/** The error difference to the best setting (points) of `row` at `setting`. */
function deltaAt(r: GroupsResults, row: 'groups' | 'channelsPerGroup', setting: number): number | null {
  const x = r.rows.find((y) => y.row === row && y.setting === setting);
  return x?.deltaToBest === null || x?.deltaToBest === undefined ? null : 100 * x.deltaToBest;
}

/** The results as checked numbers (docs/experiments.md; full bands around the run there, quick bands around the quick form's value). */
const GROUPS_OUTCOMES: Outcome<GroupsResults>[] = [
  {
    name: 'LayerNorm (1 group) minus the best group count, test error (points; published 1.2)',
    measure: (r) => deltaAt(r, 'groups', 1),
    bands: { full: band(0.5, 2.5, '1.45 (1 seed, 2-core Xeon)') },
  },
  {
    name: 'InstanceNorm (1 channel per group) minus the best, test error (points; published 4.2)',
    measure: (r) => deltaAt(r, 'channelsPerGroup', 1),
    bands: { full: band(0, 1, '0.22 (1 seed, 2-core Xeon)') },
  },
  {
    // the quick form's 2 steps leave every setting at chance accuracy, but not at the same test loss
    name: 'LayerNorm (1 group) minus 64 groups, test cross-entropy',
    measure: (r) => {
      const at = (g: number) => meanOrNull(r.runs.filter((x) => x.row === 'groups' && x.setting === g).map((x) => x.testLoss));
      const a = at(1);
      const b = at(64);
      return a === null || b === null ? null : a - b;
    },
    bands: { quick: band(0.6, 1.6, '+1.10 (quick form, seed 0, 2-core EPYC); 0 if the group count had no effect') },
  },
];

export const groups = defineExperiment<GroupsConfig, GroupsResults>({
  name: 'groups',
  title: 'GroupNorm: number of groups and channels per group',
  echoes: 'Wu & He 2018, the group-division table (the lecture\'s "Group Normalization: cases" slide)',
  published: {
    markdown: (() => {
      const p = GROUPS_PUBLISHED;
      return `${p.source}:\n\n${tableOf('groups', p.groups.setting, p.groups.error, 1, 1)}\n${tableOf('channelsPerGroup', p.channelsPerGroup.setting, p.channelsPerGroup.error, 1, 1)}`;
    })(),
    data: GROUPS_PUBLISHED,
  },
  configs: { full: FULL, quick: QUICK },
  outcomes: GROUPS_OUTCOMES,
  trainingRuns: (c) => c.seeds.length * (c.groups.length + c.channelsPerGroup.length),
  expectedMinutes: 15,
  async run(cfg, ctx) {
    const data = await openData(cfg.data);
    const { train, test } = data;
    const plan: { row: 'groups' | 'channelsPerGroup'; setting: number; variant: NormVariant }[] = [
      ...cfg.groups.map((g) => ({
        row: 'groups' as const,
        setting: g,
        variant: { label: `G=${g}`, norm: { kind: 'group' as const, groups: g }, standardize: false },
      })),
      ...cfg.channelsPerGroup.map((c) => ({
        row: 'channelsPerGroup' as const,
        setting: c,
        variant: { label: `${c} ch/group`, norm: { kind: 'group' as const, channelsPerGroup: c }, standardize: false },
      })),
    ];
    const runs: GroupsRun[] = [];
    for (const seed of cfg.seeds) {
      for (const p of plan) {
        const o = await trainVariant(ctx, cfg, data, p.variant, seed, `${p.row === 'groups' ? 'groups' : 'channels-per-group'}-${p.setting}-seed-${seed}`);
        runs.push({
          row: p.row,
          setting: p.setting,
          seed,
          error: o.top1 === null ? null : 1 - o.top1,
          testLoss: o.testLoss,
          diverged: o.diverged,
          seconds: o.seconds,
        });
      }
    }
    const rows: GroupsRow[] = [];
    for (const row of ['groups', 'channelsPerGroup'] as const) {
      const settings = row === 'groups' ? cfg.groups : cfg.channelsPerGroup;
      const errs = settings.map((s) => {
        const xs = runs.filter((r) => r.row === row && r.setting === s).map((r) => r.error);
        return xs.every((x): x is number => x !== null) ? summarize(xs as number[]).mean : null;
      });
      const valid = errs.filter((e): e is number => e !== null);
      const best = valid.length > 0 ? Math.min(...valid) : null;
      settings.forEach((s, i) =>
        rows.push({ row, setting: s, error: errs[i], deltaToBest: errs[i] === null || best === null ? null : (errs[i] as number) - best }),
      );
    }
    const measured = (row: 'groups' | 'channelsPerGroup') => {
      const settings = row === 'groups' ? cfg.groups : cfg.channelsPerGroup;
      return tableOf(
        row,
        settings,
        settings.map((s) => rows.find((r) => r.row === row && r.setting === s)?.error ?? null),
        2,
        100,
      );
    };
    const chart = (row: 'groups' | 'channelsPerGroup', title: string) => {
      const settings = row === 'groups' ? cfg.groups : cfg.channelsPerGroup;
      const pub = row === 'groups' ? GROUPS_PUBLISHED.groups : GROUPS_PUBLISHED.channelsPerGroup;
      const points = settings
        .map((s) => ({ s, errs: runs.filter((r) => r.row === row && r.setting === s).map((r) => r.error) }))
        .filter(({ errs }) => errs.every((e) => e !== null))
        .map(({ s, errs }) =>
          pointFromSeeds(
            s,
            errs.map((e) => 100 * (e ?? 0)),
          ),
        );
      const best = Math.min(...points.map((p) => p.y));
      const pubBest = Math.min(...pub.error);
      return lineChart(
        [
          { name: `measured (${cfg.model})`, points: points.map((p) => ({ x: p.x, y: p.y - best })) },
          { name: 'published (ResNet-50, ImageNet)', points: pub.setting.map((s, i) => ({ x: s, y: pub.error[i] - pubBest })) },
        ].filter((s) => s.points.length > 0),
        {
          title,
          xTitle: row === 'groups' ? 'groups (1 = LayerNorm)' : 'channels per group (1 = InstanceNorm)',
          yTitle: 'error − best error (pts)',
          logX: true,
          xTicks: [...SETTINGS].reverse(),
          width: PANEL_WIDTH,
        },
      );
    };
    const figure = hconcatFigures([chart('groups', 'A given number of groups'), chart('channelsPerGroup', 'A given number of channels per group')], {
      title: `GroupNorm group division: ${cfg.model} on ${cfg.data.spec} vs Wu & He`,
    });
    const findings: string[] = [];
    for (const row of ['groups', 'channelsPerGroup'] as const) {
      const rs = rows.filter((r) => r.row === row && r.error !== null);
      if (rs.length === 0) continue;
      const best = rs.reduce((a, b) => ((a.error ?? 1) <= (b.error ?? 1) ? a : b));
      const one = rs.find((r) => r.setting === 1);
      const pub = row === 'groups' ? GROUPS_PUBLISHED.groups : GROUPS_PUBLISHED.channelsPerGroup;
      const pubBestIdx = pub.error.indexOf(Math.min(...pub.error));
      const what = row === 'groups' ? 'groups' : 'channels per group';
      const norm = row === 'groups' ? 'LayerNorm (1 group)' : 'InstanceNorm (1 channel per group)';
      findings.push(
        `${what}: best ${best.setting} (${pct(best.error ?? NaN)}% error; published best ${pub.setting[pubBestIdx]})` +
          (one
            ? `; ${norm} is ${pct(one.deltaToBest ?? NaN)} pts worse than the best (published ${(pub.error[pub.error.length - 1] - pub.error[pubBestIdx]).toFixed(1)}).`
            : '.'),
      );
    }
    return {
      results: { runs, rows },
      setup: [
        `model ${cfg.model} (classic ResNet, 3 stages of 1 basic unit, widths 64/128/256) with GroupNorm in every norm layer, plain convolutions`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)} (Wu & He: 32 images per GPU; GroupNorm does not depend on the batch)`,
        `seeds ${cfg.seeds.join(', ')}`,
      ],
      sections: [
        {
          heading: 'Measured: test error (%) and difference to the best',
          markdown: `${cfg.model} on ${cfg.data.spec}${cfg.seeds.length > 1 ? ` (mean over ${cfg.seeds.length} seeds)` : ''}:\n\n${measured('groups')}\n${measured('channelsPerGroup')}`,
        },
      ],
      figures: [{ file: 'groups', caption: 'Error minus the best error of each row, measured here and published (Wu & He)', spec: figure }],
      findings,
    };
  },
});
