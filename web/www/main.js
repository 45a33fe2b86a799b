// The demo page: UI on this thread, the editor in worker.js.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// For tests and the console: the page's state, the last result and any error.
const state = (window.x2edit = { state: 'starting', info: null, source: null, sourceLoads: 0, result: null, error: null, progress: [] });

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();
let onProgress = null;
function call(type, body = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ type, id, ...body }, transfer);
  });
}
worker.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === 'progress') return onProgress && onProgress(m);
  const p = pending.get(m.id);
  if (!p) return;
  pending.delete(m.id);
  m.type === 'error' ? p.reject(new Error(m.message)) : p.resolve(m);
};
worker.onerror = (e) => setStatus('error', `worker failed: ${e.message || 'could not start (is web/pkg built?)'}`);

function setStatus(s, text) {
  state.state = s;
  $('status').dataset.state = s;
  $('status').textContent = text;
  if (s === 'error') state.error = text;
}
function busy(b) {
  $('run').disabled = b || !state.info || !state.source;
  $('cancel').disabled = !b;
  for (const id of ['load-files', 'load-demo']) $(id).disabled = b;
}

// ---- source image ----
function showSource(img, w, h) {
  const c = $('source');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  if (img) ctx.drawImage(img, 0, 0);
  state.source = { rgba: new Uint8Array(ctx.getImageData(0, 0, w, h).data.buffer), width: w, height: h };
  state.sourceLoads++;
  busy(false);
}
function defaultSource() {
  // A small synthetic scene (sky, sun, hills) so the page works before any image is chosen.
  const c = $('source');
  c.width = 64;
  c.height = 64;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  const g = ctx.createLinearGradient(0, 0, 0, 40);
  g.addColorStop(0, '#3a6fd8');
  g.addColorStop(1, '#a9c8f0');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 64, 64);
  ctx.fillStyle = '#ffd23a';
  ctx.beginPath();
  ctx.arc(46, 16, 7, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = '#3d8b3d';
  ctx.beginPath();
  ctx.moveTo(0, 44);
  ctx.quadraticCurveTo(20, 30, 40, 42);
  ctx.quadraticCurveTo(54, 50, 64, 40);
  ctx.lineTo(64, 64);
  ctx.lineTo(0, 64);
  ctx.fill();
  showSource(null, 64, 64);
}
async function loadImage(file) {
  try {
    // No colour conversion or premultiplication: the pixels the CLI would decode from the file.
    const bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    showSource(bmp, bmp.width, bmp.height);
    bmp.close();
    setStatus(state.info ? 'ready' : state.state, `Loaded ${file.name} (${state.source.width}x${state.source.height}).`);
  } catch (e) {
    setStatus('error', `${file.name}: not an image this browser can decode (${e.message})`);
  }
}
$('image').addEventListener('change', (e) => e.target.files[0] && loadImage(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = [...e.dataTransfer.files].find((f) => f.type.startsWith('image/')) || e.dataTransfer.files[0];
  if (f) loadImage(f);
});

// ---- models ----
const MODEL_PARTS = ['transformer', 'adapter', 'text_encoder', 'vae'];
async function opfsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('x2edit-models', { create: true });
}
async function rememberFiles(files) {
  const dir = await opfsDir();
  for (const k of MODEL_PARTS) {
    const w = await (await dir.getFileHandle(`${k}.gguf`, { create: true })).createWritable();
    await files[k].stream().pipeTo(w); // streamed: never the whole file in memory
  }
}
async function rememberedFiles() {
  try {
    const dir = await opfsDir();
    const files = {};
    for (const k of MODEL_PARTS) files[k] = await (await dir.getFileHandle(`${k}.gguf`)).getFile();
    return files;
  } catch {
    return null;
  }
}
async function loadFiles(files, label) {
  busy(true);
  setStatus('loading', `Reading model headers (${label})...`);
  try {
    const r = await call('load-files', { files });
    $('model-label').textContent = r.model;
    setStatus('ready', `Model: ${r.model}`);
  } catch (e) {
    setStatus('error', `Model files: ${e.message}`);
  }
  busy(false);
}
$('load-files').addEventListener('click', async () => {
  const files = {};
  for (const k of MODEL_PARTS) {
    files[k] = $(`f-${k}`).files[0];
    if (!files[k]) return setStatus('error', `Choose ${k}.gguf first.`);
  }
  if ($('cache').checked) {
    try {
      setStatus('loading', 'Copying the files into browser storage...');
      await rememberFiles(files);
    } catch (e) {
      setStatus('error', `Could not store the files: ${e.message}`);
    }
  }
  await loadFiles(files, 'chosen files');
});
$('load-demo').addEventListener('click', async () => {
  const r = await call('load-demo');
  $('model-label').textContent = r.model;
  setStatus('ready', `Model: ${r.model}`);
});

// ---- edit ----
const STAGES = { text: [0, 0.1, 'Reading the instruction'], encode: [0.1, 0.15, 'Encoding the image'], denoise: [0.15, 0.9, 'Denoising'], decode: [0.9, 1, 'Decoding'] };
$('run').addEventListener('click', async () => {
  if (!state.source) return;
  const req = {
    prompt: $('prompt').value,
    task: $('task').value,
    steps: Number($('steps').value) || 0,
    seed: Math.max(0, Math.floor(Number($('seed').value) || 0)),
    guidance: Number($('guidance').value) || 3.5,
  };
  state.result = null;
  state.error = null;
  state.progress = [];
  busy(true);
  setStatus('running', 'Editing...');
  onProgress = (p) => {
    state.progress.push([p.stage, p.step, p.steps]);
    const [a, b, what] = STAGES[p.stage] || [0, 1, p.stage];
    const f = p.stage === 'denoise' && p.steps ? p.step / p.steps : 0;
    $('progress').value = a + (b - a) * f;
    $('status').textContent = p.stage === 'denoise' ? `${what}: step ${p.step} of ${p.steps}` : `${what}...`;
  };
  const src = state.source;
  const rgba = src.rgba.slice().buffer;
  try {
    const r = await call('edit', { ...req, rgba, width: src.width, height: src.height }, [rgba]);
    const px = new Uint8ClampedArray(r.rgba);
    const c = $('result');
    c.width = r.width;
    c.height = r.height;
    c.getContext('2d').putImageData(new ImageData(px, r.width, r.height), 0, 0);
    state.result = { rgba: new Uint8Array(r.rgba), width: r.width, height: r.height, task: r.task, steps: r.steps, timings: r.timings, seconds: r.seconds, peakMemory: r.peakMemory };
    c.toBlob((blob) => {
      const a = $('download');
      if (a.href) URL.revokeObjectURL(a.href);
      a.href = URL.createObjectURL(blob);
      a.hidden = false;
    }, 'image/png');
    $('progress').value = 1;
    $('summary').textContent = `${r.width}x${r.height}, task ${r.task}, ${r.steps} steps, ${r.seconds.toFixed(1)} s, peak GPU memory ${(r.peakMemory / 2 ** 20).toFixed(1)} MiB`;
    setStatus('done', `Done in ${r.seconds.toFixed(1)} s.`);
  } catch (e) {
    $('progress').value = 0;
    setStatus(e.message === 'cancelled' || /cancel/i.test(e.message) ? 'cancelled' : 'error', /cancel/i.test(e.message) ? 'Cancelled.' : `Edit failed: ${e.message}`);
  }
  onProgress = null;
  busy(false);
});
$('cancel').addEventListener('click', () => worker.postMessage({ type: 'cancel' }));

// ---- start ----
defaultSource();
(async () => {
  if (!('gpu' in navigator)) {
    setStatus('error', 'This browser has no WebGPU. Use Chrome or Edge 113+, Safari 26, or Firefox 141+ with WebGPU enabled.');
    $('gpu').textContent = 'No WebGPU.';
    return;
  }
  try {
    const r = await call('init', { precision: params.get('precision') || 'auto', maxBinding: Number(params.get('maxBinding') || 0) });
    state.info = r.info;
    const sel = $('task');
    for (const t of r.tasks.slice(1)) sel.add(new Option(t.replace(/_/g, ' '), t));
    const i = r.info;
    $('gpu').textContent = `${i.adapter || i.browser_adapter || 'WebGPU adapter'} (${i.device_type}), ${i.precision}${i.shader_f16 ? '' : ' (no shader-f16)'}, max binding ${(i.max_binding / 2 ** 20).toFixed(0)} MiB`;
    $('model-label').textContent = r.model;
    setStatus('ready', 'Ready.');
    const remembered = await rememberedFiles();
    if (remembered) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = 'load-remembered';
      b.textContent = 'Use remembered files';
      b.onclick = () => loadFiles(remembered, 'remembered files');
      $('load-demo').after(b);
    }
  } catch (e) {
    setStatus('error', `WebGPU start failed: ${e.message}`);
    $('gpu').textContent = 'WebGPU unavailable.';
  }
  busy(false);
})();
