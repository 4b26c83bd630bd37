import sharp from 'sharp';
import { resizeLinear } from './dist/src/data/vips-resize.js';
let seed = 12345; const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2**32; };
const N = +process.argv[2] || 200;
let bad = 0, worst = 0;
for (let k = 0; k < N; k++) {
  const big = rnd() < 0.3; const w = 1 + Math.floor(rnd() * (big ? 2500 : 400)), h = 1 + Math.floor(rnd() * (big ? 2500 : 400));
  const tw = 1 + Math.floor(rnd() * (rnd() < 0.2 ? 600 : 160)), th = 1 + Math.floor(rnd() * (rnd()<0.2 ? 600 : 160));
  const data = new Uint8Array(w * h * 3);
  const fx = rnd() * 0.3, fy = rnd() * 0.3;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let b = 0; b < 3; b++) data[(y*w+x)*3+b] = Math.max(0, Math.min(255, Math.round(128 + 100*Math.sin(fx*x + fy*y + b) + 40*(rnd()-0.5))));
  const ref = await sharp(data, { raw: { width: w, height: h, channels: 3 } }).resize(tw, th, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  const got = resizeLinear({ data, width: w, height: h, channels: 3 }, tw, th);
  let d = 0, n = 0;
  if (got.width !== ref.info.width || got.height !== ref.info.height) { console.log('size', w, h, tw, th, got.width, got.height, ref.info.width, ref.info.height); bad++; continue; }
  for (let i = 0; i < got.data.length; i++) { const e = Math.abs(got.data[i] - ref.data[i]); if (e) n++; d = Math.max(d, e); }
  if (d) { bad++; console.log(`${w}x${h} -> ${tw}x${th}: max diff ${d}, ${n} values`); }
  worst = Math.max(worst, d);
}
console.log('cases', N, 'mismatched', bad, 'worst', worst);
