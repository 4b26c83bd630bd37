// The page of `bit export --format web`: decodes the picked image, prepares it
// exactly as `bit predict` does (browser-preprocess.js: libvips's resize,
// EXIF orientation, x / 127.5 - 1) and runs model.onnx with ONNX Runtime Web
// (WebAssembly), all in this browser.
import * as ort from './ort.wasm.bundle.min.mjs';
import { exifOrientation, preprocess, scaleToModelInput } from './browser-preprocess.js';

const $ = (id) => document.getElementById(id);
const status = $('status');

const config = await (await fetch('labels.json')).json(); // { model, resolution, labels, input, output }
const size = config.resolution;
document.title = `${config.model}: image classifier`;
$('title').textContent = `${config.model}: classify an image`;

// WebAssembly threads need SharedArrayBuffer, which browsers give only to cross-origin-isolated pages.
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
const session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
status.textContent = `${config.model} ready (${size}x${size} input, ${config.labels.length} classes, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'})`;

/**
 * RGBA pixels of the file as shown (EXIF orientation applied: preprocess()
 * undoes it and re-applies it after resizing, as sharp does), with no colour
 * management and no premultiplication.
 */
async function decode(bytes) {
  const orientation = exifOrientation(bytes);
  const bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { pixels: { data, width: canvas.width, height: canvas.height, channels: 4 }, orientation };
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function show(top, img) {
  const table = $('results');
  table.replaceChildren(
    ...top.map((t) => {
      const tr = document.createElement('tr');
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, 100 * t.probability).toFixed(1)}%`;
      tr.append(Object.assign(document.createElement('td'), { textContent: t.label }));
      const barCell = document.createElement('td');
      barCell.style.width = '40%';
      barCell.append(bar);
      tr.append(barCell, Object.assign(document.createElement('td'), { className: 'p', textContent: `${(100 * t.probability).toFixed(2)}%` }));
      return tr;
    }),
  );
  const view = $('input-view');
  view.width = img.width;
  view.height = img.height;
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba.data.set(img.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba.data[i * 4 + 3] = 255;
  }
  view.getContext('2d').putImageData(rgba, 0, 0);
  view.hidden = false;
}

/**
 * Where bit predict's pixels differ: sharp decodes a JPEG at 1/2, 1/4 or 1/8 size
 * inside libjpeg when it shrinks it 3x or more, and a WebP at reduced size
 * inside libwebp whenever it shrinks it; a browser decodes at full size.
 */
function shrinkOnLoadNote(bytes, pixels, size) {
  const shrink = Math.min(pixels.width, pixels.height) / size;
  const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  const webp = String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP';
  if ((jpeg && shrink >= 3) || (webp && shrink > 1)) {
    return `Note: bit predict decodes ${jpeg ? 'JPEG' : 'WebP'} images this large at reduced size inside ${jpeg ? 'libjpeg' : 'libwebp'}, which a browser cannot, so its numbers differ slightly.`;
  }
  return '';
}

/** Classifies one image file; the result is also left on #results as JSON (data-result) for scripts. */
async function classify(file) {
  status.textContent = `classifying ${file.name}…`;
  const preview = $('preview');
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const t0 = performance.now();
  const bytes = new Uint8Array(await file.arrayBuffer());
  const { pixels, orientation } = await decode(bytes);
  const img = preprocess(pixels, size, orientation);
  const input = new ort.Tensor('float32', scaleToModelInput(img), [1, 3, size, size]);
  const t1 = performance.now();
  const output = await session.run({ [session.inputNames[0]]: input });
  const t2 = performance.now();
  const probs = softmax(Array.from(output[session.outputNames[0]].data));
  const top = probs
    .map((probability, index) => ({ index, label: config.labels[index] ?? String(index), probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5);
  show(top, img);
  const note = shrinkOnLoadNote(bytes, pixels, size);
  status.innerHTML = '';
  status.append(`${file.name}: ${(t2 - t0).toFixed(0)} ms (decoding and preparing ${(t1 - t0).toFixed(0)} ms, model ${(t2 - t1).toFixed(0)} ms)`);
  if (note) status.append(Object.assign(document.createElement('div'), { className: 'warn', textContent: note }));
  $('results').dataset.result = JSON.stringify({ image: file.name, top, probabilities: probs, ms: { prepare: t1 - t0, model: t2 - t1 } });
}

const drop = $('drop');
const run = (file) => classify(file).catch((err) => (status.textContent = `could not classify ${file.name}: ${err.message ?? err}`));
$('file').addEventListener('change', (e) => e.target.files[0] && run(e.target.files[0]));
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files[0]) run(e.dataTransfer.files[0]);
});
document.body.dataset.ready = 'true';
