// Server-side rendering of Vega-Lite specs: compile with vega-lite, run a
// headless vega View (renderer 'none', no canvas or DOM needed) to get SVG, then
// rasterise the SVG with sharp (librsvg + fontconfig) to PNG.
import * as path from 'node:path';

import sharp from 'sharp';
import type * as Vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';

import { writeFileAtomic } from '../io/atomic.js';
import { ensureFolder } from '../io/folders.js';
import type { EventWriter } from './tensorboard.js';

/** PNG pixels per SVG (CSS) pixel unless told otherwise: 2x keeps lines and text crisp. */
export const DEFAULT_PNG_SCALE = 2;

/** The density librsvg treats as 1 CSS pixel per PNG pixel. */
const SVG_BASE_DPI = 72;

export interface RenderOptions {
  /** PNG pixels per SVG pixel (default {@link DEFAULT_PNG_SCALE}). */
  scale?: number;
  /**
   * When true (the default), any warning from vega-lite or vega (a dropped
   * channel, a field missing from the data, an infinite extent) fails the render
   * with all the warnings listed, instead of producing a silently wrong figure.
   */
  strict?: boolean;
}

export interface RenderedFigure {
  svg: string;
  png: Buffer;
}

export interface SavedFigure {
  svg: string;
  png: string;
}

/** Vega log levels (vega-util): None 0, Error 1, Warn 2. */
const LOG_LEVEL_WARN = 2;

/** A vega / vega-lite logger that keeps warnings and errors for the caller instead of printing them. */
interface CollectingLogger {
  messages: string[];
  level(value?: number): number | CollectingLogger;
  error(...args: unknown[]): CollectingLogger;
  warn(...args: unknown[]): CollectingLogger;
  info(...args: unknown[]): CollectingLogger;
  debug(...args: unknown[]): CollectingLogger;
}

// Vega calls these methods detached from the object (as methods of the View),
// so they close over `logger` rather than use `this` or private fields.
function collectingLogger(): CollectingLogger {
  let level = LOG_LEVEL_WARN;
  const logger: CollectingLogger = {
    messages: [],
    level(value?: number) {
      if (value === undefined) return level;
      level = value;
      return logger;
    },
    error(...args: unknown[]) {
      logger.messages.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: unknown[]) {
      if (level >= LOG_LEVEL_WARN) logger.messages.push(`warning: ${args.map(String).join(' ')}`);
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/** A loader that refuses every URL: figures carry their data inline and rendering never touches the network or disk. */
function inlineOnlyLoader(): Vega.Loader {
  const refuse = (uri: string): Promise<never> =>
    Promise.reject(new Error(`renderFigure: spec asks to load '${uri}'; figures must carry their data inline (data.values)`));
  return {
    load: refuse,
    sanitize: refuse,
    http: refuse,
    file: refuse,
  };
}

/**
 * Renders a Vega-Lite spec to SVG text and a PNG buffer. Text is drawn by
 * librsvg with the system fonts (DejaVu Sans, see `FIGURE_FONT`).
 */
export async function renderFigure(spec: TopLevelSpec, options: RenderOptions = {}): Promise<RenderedFigure> {
  const scale = options.scale ?? DEFAULT_PNG_SCALE;
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new Error(`renderFigure: option 'scale' must be a positive number, got ${scale}`);
  }
  const strict = options.strict ?? true;
  const logger = collectingLogger();

  // loaded on first use: vega and vega-lite take a quarter of a second to import, which every `bit` command would pay
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const vgSpec = compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(vgSpec), {
    renderer: 'none',
    logger,
    logLevel: LOG_LEVEL_WARN,
    loader: inlineOnlyLoader(),
  });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  if (strict && logger.messages.length > 0) {
    const title = titleOf(spec);
    throw new Error(`renderFigure: ${logger.messages.length} problem(s) rendering figure${title ? ` '${title}'` : ''}:\n  ${logger.messages.join('\n  ')}`);
  }
  const png = await sharp(Buffer.from(svg, 'utf8'), { density: SVG_BASE_DPI * scale })
    .png()
    .toBuffer();
  return { svg, png };
}

/**
 * Renders `spec` and writes `<outBase>.svg` and `<outBase>.png`, each
 * atomically (nothing is written if rendering fails). Creates the parent
 * folder if needed. Returns the two paths. With `tensorboard`, the PNG also
 * goes into that event file as the image `figures/<name>`.
 */
export async function saveFigure(spec: TopLevelSpec, outBase: string, options: RenderOptions & { tensorboard?: EventWriter } = {}): Promise<SavedFigure> {
  const { svg, png } = await renderFigure(spec, options);
  const paths: SavedFigure = { svg: `${outBase}.svg`, png: `${outBase}.png` };
  await ensureFolder(path.dirname(paths.svg));
  await writeFileAtomic(paths.svg, svg);
  await writeFileAtomic(paths.png, png);
  options.tensorboard?.image(`figures/${path.basename(outBase)}`, png);
  return paths;
}

function titleOf(spec: TopLevelSpec): string | undefined {
  const title = spec.title;
  if (typeof title === 'string') return title;
  if (Array.isArray(title)) return title.join(' ');
  if (title !== undefined && typeof title === 'object' && 'text' in title) {
    const text = title.text;
    if (typeof text === 'string') return text;
    if (Array.isArray(text)) return text.join(' ');
  }
  return undefined;
}
