// `bit predict`'s preprocessing (src/data/decode.ts) where sharp cannot run:
// the web page of `bit export --format web`. This file imports nothing: the
// page ships its compiled form as is, and the tests import the same file and
// compare it with sharp.
//
// - resizeLinear: libvips's `vips_resize(kernel: linear)` on 8-bit images,
//   step for step: what `sharp(...).resize(w, h, { fit: 'fill', kernel:
//   'linear' })` runs (sharp 0.34.5, libvips 8.17.3);
// - exifOrientation / orient / unorient: sharp's `autoOrient`, which rotates
//   and flips after resizing (the order changes how rounding falls);
// - scaleToModelInput: x / 127.5 - 1 into an NCHW float32 batch of one.
//
// What libvips does (libvips/resample/resize.c, reducev.cpp, reduceh.cpp,
// shrinkv.c, shrinkh.c, affine.c, interpolate.c; the uchar vector paths of
// the *_hwy.cpp files compute the same integers):
//   1. vertical reduction when the height shrinks: an integer box shrink by
//      floor(H / outH / 2) first (shrinkv, rounding up, last row repeated),
//      then the residual factor r with a triangle kernel of 2 * rint(r) + 1
//      taps whose phase is quantized to 1/64 pixel and whose weights are
//      12-bit fixed point (truncated), rounded to 8 bits;
//   2. the same horizontally (shrinkh, reduceh) on that 8-bit result;
//   3. enlargement of either axis by bilinear interpolation (vips_affine,
//      12-bit fixed point, input offset 0.5, edges repeated).
// The float arithmetic (positions accumulated pixel by pixel, C truncation)
// is the same IEEE double arithmetic in JavaScript.

/** An 8-bit image, rows of `width` pixels of `channels` interleaved values. */
export interface Pixels {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

const TRANSFORM_SCALE = 64; // VIPS_TRANSFORM_SCALE: kernel phases per pixel
const INTERPOLATE_SHIFT = 12; // VIPS_INTERPOLATE_SHIFT: fixed-point weights
const INTERPOLATE_SCALE = 1 << INTERPOLATE_SHIFT;
const REDUCE_GAP = 2; // vips_resize's default gap
/**
 * Rows libvips computes per region of a vertical reduction (vips__fatstrip_height):
 * each region starts its row position afresh at (top + 0.5) * r - 0.5 - offset
 * and accumulates from there, which moves the last bit of some positions, and
 * with it a kernel phase. Horizontal positions accumulate along whole rows.
 */
export const VIPS_STRIP_HEIGHT = 16;

/** C's (int) conversion of a double: truncation toward zero. */
const cInt = (v: number): number => Math.trunc(v);
/** VIPS_ROUND_UINT. */
const roundUint = (v: number): number => Math.trunc(v + 0.5);
/** C's rint: round half to even (the default rounding mode). */
function rint(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Transposes an image (rows become columns), so one routine serves both axes. */
function transpose(p: Pixels): Pixels {
  const { width: w, height: h, channels: c } = p;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * c;
      const o = (x * h + y) * c;
      for (let b = 0; b < c; b++) out[o + b] = p.data[i + b];
    }
  }
  return { data: out, width: h, height: w, channels: c };
}

/**
 * vips_shrinkv(ceil: true) on 8-bit data: mean of every `k` rows (the last
 * row repeated to fill the last group), as libvips's fixed-point average.
 */
function shrinkRows(p: Pixels, k: number): Pixels {
  const { width: w, height: h, channels: c } = p;
  const outH = Math.ceil(h / k);
  const rowLen = w * c;
  const out = new Uint8Array(outH * rowLen);
  const amend = Math.floor(k / 2);
  const multiplier = Math.floor(2 ** 32 / (256 * k)); // (1 << 32) / ((1 << 8) * k) as unsigned int
  const sum = new Uint32Array(rowLen);
  for (let y = 0; y < outH; y++) {
    sum.fill(0);
    for (let j = 0; j < k; j++) {
      const src = Math.min(y * k + j, h - 1) * rowLen;
      for (let i = 0; i < rowLen; i++) sum[i] += p.data[src + i];
    }
    for (let i = 0; i < rowLen; i++) out[y * rowLen + i] = Math.floor(((sum[i] + amend) * multiplier) / 2 ** 24) & 0xff;
  }
  return { data: out, width: w, height: outH, channels: c };
}

/** The triangle kernel's taps for one phase (calculate_coefficients), normalized, then truncated to 12-bit fixed point. */
function linearMask(n: number, shrink: number, x: number): Int32Array {
  const half = x + n / 2.0 - 1;
  const c = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const xp = Math.abs((i - half) / shrink);
    const l = xp < 1.0 ? 1.0 - xp : 0.0;
    c[i] = l;
    sum += l;
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = cInt((c[i] / sum) * INTERPOLATE_SCALE); // (short) (c * VIPS_INTERPOLATE_SCALE)
  return out;
}

/**
 * vips_reducev(kernel: linear, gap: 2) on 8-bit data: `p`'s height divided
 * by `shrink` (>= 1), rounded to the nearest row. Row positions restart every
 * `strip` rows (vertical: libvips's regions) or never (horizontal, on the
 * transposed image).
 */
function reduceRows(p: Pixels, shrink: number, strip: number): Pixels {
  const outH = roundUint(p.height / shrink);
  let extra = outH * shrink - p.height;
  let residual = shrink;
  const intShrink = Math.max(1, Math.floor(p.height / outH / REDUCE_GAP));
  let src = p;
  if (intShrink > 1) {
    src = shrinkRows(p, intShrink);
    extra /= intShrink;
    residual /= intShrink;
  }
  if (residual === 1.0) return src;
  const n = 2 * rint(residual) + 1;
  const offset = (1 + extra) / 2.0 - 1;
  const masks: Int32Array[] = [];
  for (let t = 0; t <= TRANSFORM_SCALE; t++) masks.push(linearMask(n, residual, Math.fround(t / TRANSFORM_SCALE)));
  const { width: w, height: h, channels: c } = src;
  const rowLen = w * c;
  const top = Math.ceil(n / 2.0) - 1; // rows repeated above the image (vips_embed)
  const out = new Uint8Array(outH * rowLen);
  let Y = 0;
  for (let y = 0; y < outH; y++) {
    if (y % strip === 0) Y = (y + 0.5) * residual - 0.5 - offset;
    const py = cInt(Y);
    const sy = cInt(Y * TRANSFORM_SCALE * 2);
    const ty = ((sy & (TRANSFORM_SCALE * 2 - 1)) + 1) >> 1;
    const k = masks[ty];
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let sum = INTERPOLATE_SCALE >> 1;
      for (let t = 0; t < n; t++) {
        const row = Math.min(Math.max(py + t - top, 0), h - 1);
        sum += k[t] * src.data[row * rowLen + i];
      }
      const v = sum >> INTERPOLATE_SHIFT;
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    Y += residual;
  }
  return { data: out, width: w, height: outH, channels: c };
}

/**
 * vips_affine with the bilinear interpolator as vips_resize runs it to
 * enlarge (`scaleX`, `scaleY` >= 1, one of them may be 1): input offset 0.5,
 * edges repeated, 12-bit fixed-point weights.
 */
function enlarge(p: Pixels, scaleX: number, scaleY: number): Pixels {
  const { width: w, height: h, channels: c } = p;
  const det = scaleX * scaleY;
  const tmp = 1.0 / det;
  const ia = tmp * scaleY;
  const id = tmp * scaleX;
  const outW = cInt(scaleX * w + 0.5); // VIPS_ROUND_INT of the transformed width
  const outH = cInt(scaleY * h + 0.5);
  const out = new Uint8Array(outW * outH * c);
  // the input as vips_embed lays it out: one repeated pixel left and above
  const at = (x: number, y: number, b: number): number => p.data[(Math.min(Math.max(y - 1, 0), h - 1) * w + Math.min(Math.max(x - 1, 0), w - 1)) * c + b];
  for (let y = 0; y < outH; y++) {
    const iy = id * y + 0.5;
    let ix = 0.5;
    const iyi = cInt(iy);
    const Y = cInt((iy - iyi) * INTERPOLATE_SCALE);
    const Yd = INTERPOLATE_SCALE - Y;
    for (let x = 0; x < outW; x++) {
      const ixi = cInt(ix);
      const X = cInt((ix - ixi) * INTERPOLATE_SCALE);
      const c4 = (Y * X) >> INTERPOLATE_SHIFT;
      const c2 = (Yd * X) >> INTERPOLATE_SHIFT;
      const c3 = Y - c4;
      const c1 = Yd - c2;
      const o = (y * outW + x) * c;
      for (let b = 0; b < c; b++) {
        const v = c1 * at(ixi, iyi, b) + c2 * at(ixi + 1, iyi, b) + c3 * at(ixi, iyi + 1, b) + c4 * at(ixi + 1, iyi + 1, b);
        out[o + b] = (v + (INTERPOLATE_SCALE >> 1)) >> INTERPOLATE_SHIFT;
      }
      ix += ia;
    }
  }
  return { data: out, width: outW, height: outH, channels: c };
}

/**
 * `p` squashed to `width` x `height` as sharp's `resize(width, height, {
 * fit: 'fill', kernel: 'linear' })` does on decoded 8-bit pixels.
 */
export function resizeLinear(p: Pixels, width: number, height: number): Pixels {
  if (p.data.length !== p.width * p.height * p.channels) {
    throw new Error(`resizeLinear: ${p.data.length} bytes for ${p.width}x${p.height}x${p.channels}`);
  }
  if (!(width >= 1 && height >= 1 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new Error(`resizeLinear: bad target size ${width}x${height}`);
  }
  // sharp: hshrink = inputWidth / targetWidth (at most the input size); vips_resize(1 / hshrink, vscale: 1 / vshrink)
  const hshrink = Math.min(p.width / width, p.width);
  const vshrink = Math.min(p.height / height, p.height);
  if (hshrink === 1.0 && vshrink === 1.0) return { data: Uint8Array.from(p.data), width: p.width, height: p.height, channels: p.channels };
  const hscale = Math.max(1.0 / hshrink, 1.0 / p.width);
  const vscale = Math.max(1.0 / vshrink, 1.0 / p.height);
  let img: Pixels = p;
  if (vscale < 1.0) img = reduceRows(img, 1.0 / vscale, VIPS_STRIP_HEIGHT);
  if (hscale < 1.0) img = transpose(reduceRows(transpose(img), 1.0 / hscale, Infinity));
  if (hscale > 1.0 || vscale > 1.0) img = enlarge(img, hscale > 1.0 ? hscale : 1.0, vscale > 1.0 ? vscale : 1.0);
  return img;
}

/**
 * The EXIF orientation (1-8) of a JPEG (APP1 Exif) or PNG (eXIf chunk) file,
 * 1 when it has none or is another format.
 */
export function exifOrientation(file: Uint8Array): number {
  const u16 = (b: Uint8Array, i: number, le: boolean) => (le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (b: Uint8Array, i: number, le: boolean) => (le ? u16(b, i, le) + u16(b, i + 2, le) * 65536 : u16(b, i, le) * 65536 + u16(b, i + 2, le));
  const fromTiff = (t: Uint8Array): number => {
    if (t.length < 8) return 1;
    const le = t[0] === 0x49 && t[1] === 0x49;
    if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
    const ifd = u32(t, 4, le);
    if (ifd + 2 > t.length) return 1;
    const n = u16(t, ifd, le);
    for (let k = 0; k < n; k++) {
      const e = ifd + 2 + 12 * k;
      if (e + 12 > t.length) break;
      if (u16(t, e, le) === 0x0112) {
        const v = u16(t, e + 8, le);
        return v >= 1 && v <= 8 ? v : 1;
      }
    }
    return 1;
  };
  if (file[0] === 0xff && file[1] === 0xd8) {
    let i = 2;
    while (i + 4 <= file.length && file[i] === 0xff) {
      const marker = file[i + 1];
      const len = u16(file, i + 2, false);
      if (marker === 0xda || marker === 0xd9) break; // start of scan: no more headers
      if (marker === 0xe1 && String.fromCharCode(...file.subarray(i + 4, i + 8)) === 'Exif') return fromTiff(file.subarray(i + 10, i + 2 + len));
      i += 2 + len;
    }
    return 1;
  }
  if (file[0] === 0x89 && String.fromCharCode(...file.subarray(1, 4)) === 'PNG') {
    let i = 8;
    while (i + 8 <= file.length) {
      const len = u32(file, i, false);
      const type = String.fromCharCode(...file.subarray(i + 4, i + 8));
      if (type === 'eXIf') return fromTiff(file.subarray(i + 8, i + 8 + len));
      if (type === 'IDAT' || type === 'IEND') break;
      i += 12 + len;
    }
  }
  return 1;
}

/** Clockwise quarter turns and left-right mirroring of sharp's auto-orientation for EXIF `orientation` (its CalculateExifRotationAndFlop). */
function orientation(o: number): { turns: number; flop: boolean } {
  return { turns: ({ 6: 1, 3: 2, 8: 3, 7: 3, 4: 2, 5: 1 } as Record<number, number>)[o] ?? 0, flop: o === 2 || o === 7 || o === 4 || o === 5 };
}

function flop(p: Pixels): Pixels {
  const { width: w, height: h, channels: c } = p;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let b = 0; b < c; b++) out[(y * w + x) * c + b] = p.data[(y * w + (w - 1 - x)) * c + b];
  return { data: out, width: w, height: h, channels: c };
}

/** Shows stored pixels as EXIF `o` says: rotated clockwise, then mirrored (sharp's autoOrient). */
export function orient(p: Pixels, o: number): Pixels {
  const { turns, flop: mirror } = orientation(o);
  let img = p;
  for (let t = 0; t < turns; t++) img = rotate90(img);
  return mirror ? flop(img) : img;
}

/** The inverse of `orient`: the pixels as stored in the file, from the pixels as shown. */
export function unorient(p: Pixels, o: number): Pixels {
  const { turns, flop: mirror } = orientation(o);
  let img = mirror ? flop(p) : p;
  for (let t = 0; t < (4 - turns) % 4; t++) img = rotate90(img);
  return img;
}

function rotate90(p: Pixels): Pixels {
  const { width: w, height: h, channels: c } = p;
  const out = new Uint8Array(w * h * c);
  // clockwise: output (x, y) of size h x w reads input (y, h - 1 - x)
  for (let y = 0; y < w; y++) for (let x = 0; x < h; x++) for (let b = 0; b < c; b++) out[(y * h + x) * c + b] = p.data[((h - 1 - x) * w + y) * c + b];
  return { data: out, width: h, height: w, channels: c };
}

/** The first three channels of `p` (alpha dropped, not composited, as decodeImage does). */
export function rgb(p: Pixels): Pixels {
  if (p.channels === 3) return p;
  const n = p.width * p.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let b = 0; b < 3; b++) out[i * 3 + b] = p.data[i * p.channels + b];
  return { data: out, width: p.width, height: p.height, channels: 3 };
}

/**
 * `bit predict`'s preprocessing of decoded pixels as a browser shows them
 * (EXIF orientation `o` already applied, as createImageBitmap does): alpha
 * dropped, back to the stored orientation, squashed to size x size, then
 * oriented: sharp resizes before it rotates, and the order changes how the
 * rounding of the two resize passes falls.
 */
export function preprocess(p: Pixels, size: number, o: number): Pixels {
  return orient(resizeLinear(unorient(rgb(p), o), size, size), o);
}

/** BiT's input scaling of 8-bit RGB pixels (HWC) into an NCHW float batch of one: x / 127.5 - 1, in float32 as the model's input is. */
export function scaleToModelInput(p: Pixels): Float32Array {
  const { width: w, height: h } = p;
  const out = new Float32Array(3 * w * h);
  const scale = Math.fround(1 / 127.5);
  for (let i = 0; i < w * h; i++) {
    for (let b = 0; b < 3; b++) out[b * w * h + i] = Math.fround(Math.fround(p.data[i * p.channels + b] * scale) - 1);
  }
  return out;
}
