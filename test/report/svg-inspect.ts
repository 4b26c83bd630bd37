// Helpers for tests that look inside rendered figures: the mark groups vega
// writes into its SVG, their items, the text drawn, and PNG pixel statistics.
import sharp from 'sharp';

/**
 * The contents of every leaf mark group `<g class="mark-<type> role-mark <name>...">`
 * (a group per series for lines and areas, one per panel otherwise). Leaf mark
 * groups hold their items directly, with no nested `<g>`.
 */
export function markGroups(svg: string, type: string, name?: string): string[] {
  const open = `<g class="mark-${type} role-mark${name === undefined ? '' : ` ${name}`}`;
  const groups: string[] = [];
  for (let at = svg.indexOf(open); at >= 0; at = svg.indexOf(open, at + 1)) {
    const start = svg.indexOf('>', at) + 1;
    const end = svg.indexOf('</g>', start);
    const body = svg.slice(start, end);
    if (body.includes('<g')) throw new Error(`markGroups: group of mark-${type} at ${at} has a nested <g>; not a leaf mark group`);
    groups.push(body);
  }
  return groups;
}

/** Number of drawn items (path, line, rect, circle, text elements) in a group's contents. */
export function itemCount(group: string): number {
  return (group.match(/<(path|line|rect|circle|text)\b/g) ?? []).length;
}

/** Total items over all groups of a mark type / name. */
export function markItems(svg: string, type: string, name?: string): number {
  return markGroups(svg, type, name).reduce((n, g) => n + itemCount(g), 0);
}

/** Every piece of text drawn in the SVG, entities decoded. */
export function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) =>
    (m[1] ?? '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&'),
  );
}

/** The width and height the SVG root declares. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg\b[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"/.exec(svg);
  if (m === null) throw new Error('svgSize: no <svg width=... height=...> root');
  return { width: Number(m[1]), height: Number(m[2]) };
}

export interface PngStats {
  width: number;
  height: number;
  /** Variance of the luminance over all pixels. */
  variance: number;
  /** Pixels darker than 96/255 in rows [top, bottom) (CSS pixels times scale). */
  darkIn(top: number, bottom: number): number;
}

/** Decodes a PNG with sharp and measures it. */
export async function pngStats(png: Buffer): Promise<PngStats> {
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  let sum = 0;
  let sumSq = 0;
  const n = width * height;
  for (let i = 0; i < n; i++) {
    const v = data[i * channels];
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / n;
  return {
    width,
    height,
    variance: sumSq / n - mean * mean,
    darkIn(top: number, bottom: number): number {
      let dark = 0;
      for (let y = Math.max(0, top); y < Math.min(height, bottom); y++) {
        for (let x = 0; x < width; x++) if (data[(y * width + x) * channels] < 96) dark++;
      }
      return dark;
    },
  };
}
