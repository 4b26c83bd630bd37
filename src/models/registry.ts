// One registry of named models, derived once. Each entry says what it builds;
// build options (head size, norm, conv type, virtual) are injected, never forked.
import { GN_GROUPS, countMacs } from '../nn/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { overridesOf, type ArchitectureOverrides, type ImageClassifier } from './classifier.js';
import { ResNet, type ResNetConfig } from './resnet.js';
import { ResNetV2, type ResNetV2Config } from './resnetv2.js';

export interface BuildOptions extends ArchitectureOverrides {
  /** Outputs of the head (default: the upstream head of the entry). */
  headSize?: number;
  /** Zero-initialized head (default true for BiT models). */
  zeroHead?: boolean;
  /** Shape-only parameters: count without memory. */
  virtual?: boolean;
}

export interface ModelEntry {
  readonly name: string;
  readonly family: 'bit' | 'bit-small' | 'resnet';
  readonly description: string;
  /** Head size of the upstream model (ILSVRC-2012: 1000, ImageNet-21k: 21843). */
  readonly defaultHeadSize: number;
  /** The BiT-HyperRule's large model: fine-tuned at 512 -> 480 px whatever the resolution rule (R152x4 in the paper's table). */
  readonly hyperRuleLarge: boolean;
  build(opts?: BuildOptions): ImageClassifier;
}

const BIT_DEPTHS: Record<number, readonly number[]> = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3] };
/** The published BiT-S and BiT-M architectures (depth, width factor). */
const BIT_PUBLISHED: readonly [number, number][] = [
  [50, 1],
  [50, 3],
  [101, 1],
  [101, 3],
  [152, 2],
  [152, 4],
];
const UPSTREAM = {
  S: { data: 'ILSVRC-2012 (1.28M images, 1k classes)', head: 1000 },
  M: { data: 'ImageNet-21k (14.2M images, 21k classes)', head: 21843 },
} as const;

function bitEntry(
  name: string,
  family: ModelEntry['family'],
  description: string,
  head: number,
  cfg: Omit<ResNetV2Config, 'headSize'>,
  hyperRuleLarge = false,
): ModelEntry {
  return {
    name,
    family,
    description,
    defaultHeadSize: head,
    hyperRuleLarge,
    build: (o = {}) =>
      new ResNetV2({
        ...cfg,
        headSize: o.headSize ?? head,
        norm: o.norm ?? cfg.norm,
        standardize: o.standardize ?? cfg.standardize,
        zeroHead: o.zeroHead ?? true,
        virtual: o.virtual,
      }),
  };
}

function resnetEntry(name: string, description: string, head: number, cfg: Omit<ResNetConfig, 'headSize' | 'norm' | 'standardize' | 'virtual'>): ModelEntry {
  return {
    name,
    family: 'resnet',
    description,
    defaultHeadSize: head,
    hyperRuleLarge: false,
    build: (o = {}) => new ResNet({ ...cfg, headSize: o.headSize ?? head, norm: o.norm, standardize: o.standardize, virtual: o.virtual }),
  };
}

/** A classic ResNet of the architecture table (He et al. 2016). */
function classicResnetEntry(depth: number, block: ResNetConfig['block'], blockUnits: readonly number[]): ModelEntry {
  const description = `He et al. 2016 ResNet-${depth} (${block} blocks${block === 'bottleneck' ? ', stride on the first 1x1' : ''}), BatchNorm, plain convs`;
  return resnetEntry(`ResNet-${depth}`, description, 1000, { blockUnits, block });
}

/** A classic ResNet with three stages of one basic unit and base width `width` (BatchNorm, plain convs by default). */
function smallResnetEntry(name: string, width: number, purpose: string): ModelEntry {
  const description = `He et al. 2016 ResNet in miniature: 3 stages of 1 basic unit, base width ${width}, BatchNorm, plain convs; ${purpose}`;
  return resnetEntry(name, description, 10, { blockUnits: [1, 1, 1], block: 'basic', baseWidth: width });
}

/** Every build records its architecture overrides on the model, whichever entry built it. */
function recordingOverrides(e: ModelEntry): ModelEntry {
  return {
    ...e,
    build: (o = {}) => {
      const model = e.build(o);
      model.overrides = overridesOf(o);
      return model;
    },
  };
}

const SMALL_GROUPS = 8;

const ENTRIES: readonly ModelEntry[] = [
  ...(['S', 'M'] as const).flatMap((tier) =>
    BIT_PUBLISHED.map(([depth, wf]) => {
      const name = `BiT-${tier}-R${depth}x${wf}`;
      return bitEntry(
        name,
        'bit',
        `BiT ResNet-v2 ${depth} layers, width x${wf}, GroupNorm(${GN_GROUPS}) + WS, upstream ${UPSTREAM[tier].data}`,
        UPSTREAM[tier].head,
        { blockUnits: BIT_DEPTHS[depth], widthFactor: wf },
        // the HyperRule's table fine-tunes its largest model, R152x4, at 512 -> 480 px
        depth === 152 && wf === 4,
      );
    }),
  ),
  // Small variants for CPU work: the same ResNet-v2 code with fewer units and
  // narrower stages; GroupNorm uses 8 groups because their narrowest layers have 16 channels.
  bitEntry(
    'BiT-Tiny',
    'bit-small',
    'ResNet-v2 with 1 unit per stage, root width 16, GN(8)+WS: the full BiT architecture in miniature, for tests (forward+backward in milliseconds at 32-64 px)',
    10,
    {
      blockUnits: [1, 1, 1, 1],
      widthFactor: 1,
      baseWidth: 16,
      norm: { kind: 'group', groups: SMALL_GROUPS },
    },
  ),
  bitEntry(
    'BiT-Mini',
    'bit-small',
    'ResNet-v2 with 2 units per stage, root width 16, GN(8)+WS: for CPU demos (pre-training on MNIST-sized data in minutes)',
    10,
    {
      blockUnits: [2, 2, 2, 2],
      widthFactor: 1,
      baseWidth: 16,
      norm: { kind: 'group', groups: SMALL_GROUPS },
    },
  ),
  bitEntry(
    'BiT-Small',
    'bit-small',
    'ResNet-v2 with 2 units per stage, root width 32, GN(16)+WS: twice the width of BiT-Mini, for the model-size studies',
    10,
    {
      blockUnits: [2, 2, 2, 2],
      widthFactor: 1,
      baseWidth: 32,
      norm: { kind: 'group', groups: 16 },
    },
  ),
  classicResnetEntry(18, 'basic', [2, 2, 2, 2]),
  classicResnetEntry(34, 'basic', [3, 4, 6, 3]),
  classicResnetEntry(50, 'bottleneck', BIT_DEPTHS[50]),
  classicResnetEntry(101, 'bottleneck', BIT_DEPTHS[101]),
  classicResnetEntry(152, 'bottleneck', BIT_DEPTHS[152]),
  // Small classic ResNets for the CPU-sized normalization studies (src/experiments):
  // the same ResNet code with three stages of one basic unit each (stem, 6 convs
  // and the fc layer: 8 layers). At 28x28 input the stages see 7x7, 4x4 and 2x2
  // maps, so even InstanceNorm has more than one value to normalize. BatchNorm
  // by default like their big siblings; the studies inject GN / WS / noise.
  smallResnetEntry('ResNet-8-16', 16, 'widths 16/32/64 (GroupNorm needs <= 16 groups): for batch-size, noisy-BN, landscape and mixup studies on CPU'),
  smallResnetEntry('ResNet-8-64', 64, "widths 64/128/256, so every group count 1..64 of Wu & He's group-division table divides every layer"),
].map(recordingOverrides);

const BY_NAME = new Map(ENTRIES.map((e) => [e.name.toLowerCase(), e]));

export function listModels(): readonly ModelEntry[] {
  return ENTRIES;
}

/** The entry of `name` (case-insensitive); the error lists every name. */
export function getModel(name: string): ModelEntry {
  const e = BY_NAME.get(name.toLowerCase());
  if (!e) throw new UsageError(`unknown model '${name}'. Known models: ${ENTRIES.map((m) => m.name).join(', ')}`);
  return e;
}

export function buildModel(name: string, opts?: BuildOptions): ImageClassifier {
  return getModel(name).build(opts);
}

/** Parameter count and parameter keys of `name`'s model with `headSize` outputs, counted on a virtual model (no memory). */
export function modelParams(name: string, headSize?: number): { params: number; keys: string[] } {
  const model = getModel(name).build({ virtual: true, headSize });
  try {
    return { params: model.store.numParams(), keys: model.store.entries().map((e) => e.key) };
  } finally {
    model.dispose();
  }
}

/** Parameters and multiply-accumulates of one forward pass of one image at `resolution`, counted on a virtual model. */
export function modelCost(entry: ModelEntry, resolution: number, headSize?: number): { params: number; macs: number } {
  const model = entry.build({ virtual: true, headSize }).eval();
  try {
    const macs = countMacs(() =>
      T.tidy(() => {
        T.noGrad(() => model.forward(T.zeros([0, 3, resolution, resolution])));
      }),
    );
    return { params: model.store.numParams(), macs };
  } finally {
    model.dispose();
  }
}
