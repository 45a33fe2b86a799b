// The editor's thread: WebGPU work and model file reads (FileReaderSync) happen here, and this
// worker's message loop runs between GPU readbacks, so a 'cancel' message lands mid-edit.
import init, { Editor } from '../pkg/x2edit_web.js';

let editor = null;
const post = (m, transfer) => self.postMessage(m, transfer || []);
const fail = (id, e) => post({ type: 'error', id, message: String(e && e.message ? e.message : e) });

self.onmessage = async (ev) => {
  const m = ev.data;
  try {
    switch (m.type) {
      case 'init': {
        await init();
        if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu is missing)');
        editor = await Editor.create(m.precision || 'auto', Number(m.maxBinding || 0));
        const label = editor.load_demo();
        const info = JSON.parse(editor.info());
        // wgpu leaves the adapter's name empty on the web; the browser's own description names it.
        const a = await navigator.gpu.requestAdapter();
        if (a && a.info) info.browser_adapter = [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' ');
        post({ type: 'ready', id: m.id, info, tasks: Editor.tasks(), model: label });
        break;
      }
      case 'load-demo':
        post({ type: 'loaded', id: m.id, model: editor.load_demo() });
        break;
      case 'load-files': {
        const f = m.files;
        post({ type: 'loaded', id: m.id, model: editor.load_files(f.transformer, f.adapter, f.text_encoder, f.vae) });
        break;
      }
      case 'edit': {
        const t0 = performance.now();
        const progress = (stage, step, steps) => post({ type: 'progress', id: m.id, stage, step, steps });
        const r = await editor.edit(new Uint8Array(m.rgba), m.width, m.height, m.prompt, m.task, m.steps, BigInt(m.seed), m.guidance, progress);
        const rgba = r.rgba;
        post({
          type: 'result', id: m.id, rgba: rgba.buffer, width: r.width, height: r.height, task: r.task, steps: r.steps,
          timings: JSON.parse(r.timings), peakMemory: r.peak_memory, seconds: (performance.now() - t0) / 1000,
        }, [rgba.buffer]);
        r.free();
        break;
      }
      case 'cancel':
        if (editor) editor.cancel();
        break;
      default:
        throw new Error(`unknown message ${m.type}`);
    }
  } catch (e) {
    fail(m.id, e);
  }
};
