// Image decoding and resizing with sharp (libvips), shared by the main thread,
// the loader workers and `bit serve` (bytes from a request), so that an image
// is decoded the same way in all of them.
//
// - Files: EXIF orientation is applied; alpha is dropped (not composited);
//   grey, palette, CMYK and 16-bit images become 8-bit sRGB, 3 channels.
//   Truncated or corrupt files are errors (sharp `failOn: 'error'`), which
//   name the file.
// - Resizing squashes to a square (like torchvision `Resize((s, s))` in
//   bit_pytorch/train.py) with sharp's `linear` kernel: a triangle
//   (bilinear) filter whose support grows with the reduction factor when
//   shrinking (antialiased, like PIL's BILINEAR that torchvision uses), and
//   bilinear interpolation when enlarging. JPEGs may be shrunk on load by a
//   power of two first (libjpeg DCT scaling, sharp's default
//   `fastShrinkOnLoad`), which keeps large photos fast.
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { DataError, messageOf } from './errors.js';

/** The sharp kernel used for every resize in the data layer. */
export const RESIZE_KERNEL = 'linear';

/** File extensions recognised as images (compared lower-case). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff'];

/** Decoded pixels, HWC, uint8. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
}

/** Pixels held in memory: `count` images of height*width*channels bytes, back to back. */
export interface MemoryPixels {
  readonly pixels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
}

/**
 * Sets how much sharp may parallelise inside one image and whether it caches
 * operations; loader workers call it with 1 and false, since they parallelise
 * across images.
 */
export function configureSharp(threadsPerImage: number, cache: boolean): void {
  sharp.concurrency(threadsPerImage);
  sharp.cache(cache);
}

async function toRgb(img: sharp.Sharp, name: string): Promise<RawImage> {
  const { data, info } = await img.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new DataError(
      `cannot decode image ${name}: expected 8-bit RGB after conversion, got ${info.channels} channels and ${data.length} bytes for ${info.width}x${info.height}`,
      { path: name },
    );
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width, channels: 3 };
}

/** An image whose header declares more pixels than the caller allows (refused before its pixels are decoded). */
export class PixelLimitError extends DataError {
  override name = 'PixelLimitError';
}

export interface DecodeOptions {
  /** What errors call an in-memory image (a file is named by its path); default 'image'. */
  readonly name?: string;
  /**
   * Most pixels (width x height) an image may declare; larger ones are
   * refused from the header, before decoding (a decompression bomb). Default:
   * sharp's own limit (0x3FFF x 0x3FFF).
   */
  readonly maxPixels?: number;
}

/**
 * Decodes an image (a file path, or the encoded bytes in memory: the same
 * decoder and numerics) to 8-bit RGB (HWC); with `size`, squashed to size x
 * size. Errors name the file (or `opts.name`).
 */
export async function decodeImage(input: string | Buffer, size: number | null = null, opts: DecodeOptions = {}): Promise<RawImage> {
  const name = typeof input === 'string' ? input : (opts.name ?? 'image');
  const limit = opts.maxPixels === undefined ? {} : { limitInputPixels: opts.maxPixels };
  try {
    // With a limit of our own, the header is read without sharp's (it would refuse without saying the size).
    const meta = await sharp(input, { failOn: 'error', ...(opts.maxPixels === undefined ? {} : { limitInputPixels: false }) }).metadata();
    if (opts.maxPixels !== undefined && meta.width * meta.height > opts.maxPixels) {
      throw new PixelLimitError(
        `image ${name} is ${meta.width}x${meta.height} (${((meta.width * meta.height) / 1e6).toFixed(1)} megapixels), over the limit of ${(opts.maxPixels / 1e6).toFixed(1)} megapixels: refused before decoding`,
        { path: name },
      );
    }
    let img = sharp(input, { failOn: 'error', autoOrient: true, ...limit });
    if (meta.hasAlpha === true) {
      // Drop the alpha channel before resizing: sharp resizes images with
      // alpha premultiplied, which would change the colours of the RGB part.
      const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      img = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
    }
    if (size !== null) img = img.resize(size, size, { fit: 'fill', kernel: RESIZE_KERNEL });
    return await toRgb(img, name);
  } catch (err) {
    if (err instanceof DataError) throw err;
    if (typeof input === 'string') {
      // sharp says 'unsupported image format' of a folder or a missing file: say what the path is instead
      const st = await stat(input).catch(() => null);
      if (st === null || st.isDirectory())
        throw new DataError(`cannot decode image ${input}: ${st === null ? 'it does not exist' : 'it is a folder, not an image file'}`, { path: input });
    }
    throw new DataError(`cannot decode image ${name}: ${messageOf(err)}`, { path: name, cause: err });
  }
}

/**
 * Fully decodes a file at reduced size to check it is readable (for
 * `skipBadImages`); returns null when it is, else the reason.
 */
export async function checkImageFile(file: string): Promise<string | null> {
  try {
    await sharp(file, { failOn: 'error' }).resize(8, 8, { fit: 'fill' }).raw().toBuffer();
    return null;
  } catch (err) {
    return messageOf(err);
  }
}

/** Width and height of an image file after EXIF orientation, from its header; else why the header cannot be read. */
async function readImageHeader(file: string): Promise<{ height: number; width: number } | string> {
  try {
    const meta = await sharp(file).metadata();
    const { width, height } = meta.autoOrient;
    return width > 0 && height > 0 ? { height, width } : `its header gives no size (${width}x${height})`;
  } catch (err) {
    return messageOf(err);
  }
}

/** Width and height of an image file after EXIF orientation, from its header; null if unreadable. */
export async function imageFileSize(file: string): Promise<{ height: number; width: number } | null> {
  const header = await readImageHeader(file);
  return typeof header === 'string' ? null : header;
}

/** Why the header of an image file cannot be read, or null when it can (a cheap check: the pixels are not decoded). */
export async function imageHeaderProblem(file: string): Promise<string | null> {
  const header = await readImageHeader(file);
  return typeof header === 'string' ? header : null;
}

/** Image `index` of in-memory pixels; with `size`, squashed to size x size (channels kept). */
export async function memoryImage(src: MemoryPixels, index: number, size: number | null = null): Promise<RawImage> {
  const bytes = src.height * src.width * src.channels;
  const own = { data: src.pixels.subarray(index * bytes, (index + 1) * bytes), height: src.height, width: src.width, channels: src.channels };
  if (size === null || (size === src.height && size === src.width)) return own;
  return resizeRaw(own, size, null, `in-memory image ${index}`);
}

/** A window of an image: rows top .. top+height-1, columns left .. left+width-1. */
export interface Region {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** The `region` of raw pixels (the whole image when null) squashed to size x size with the data layer's kernel (channels kept). */
export async function resizeRaw(img: RawImage, size: number, region: Region | null, name = 'image'): Promise<RawImage> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (region !== null) s = s.extract(region);
  // Without an explicit output colourspace sharp would write grey input as 3 channels.
  const { data, info } = await s
    .resize(size, size, { fit: 'fill', kernel: RESIZE_KERNEL })
    .toColourspace(img.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels || data.length !== size * size * img.channels) {
    throw new DataError(`resizing ${name}: expected ${size}x${size}x${img.channels} bytes, got ${info.width}x${info.height}x${info.channels}`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: size, width: size, channels: img.channels };
}

/** Copies an image to 3 channels (grey replicated); returns 3-channel input as is. */
export function toThreeChannels(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const n = img.height * img.width;
  const out = new Uint8Array(n * 3);
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const v = img.data[i];
    out[o] = v;
    out[o + 1] = v;
    out[o + 2] = v;
  }
  return { data: out, height: img.height, width: img.width, channels: 3 };
}
