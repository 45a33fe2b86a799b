//! X2Edit in the browser: the runtime's Editor for JavaScript through wasm-bindgen.
//!
//! The demo page runs it inside a module Web Worker (`www/worker.js`): WebGPU work and model
//! file reads (`FileReaderSync`, synchronous, allowed only in workers) stay off the page's thread,
//! and the worker's message loop runs between GPU readbacks, so `cancel()` lands mid-edit.
//!
//! ```js
//! const ed = await Editor.create("auto", 0);          // precision auto|f32|f16, max binding (0: adapter's)
//! ed.load_demo();                                     // the embedded demo model, no files
//! ed.load_files(transformer, adapter, textEncoder, vae); // or four GGUF `File`s, read tensor by tensor
//! const r = await ed.edit(rgba, w, h, "make it red", "auto", 0, 7n, 3.5, (stage, step, steps) => {});
//! r.rgba; r.width; r.height; r.task;
//! ```
//!
//! Everything here is wasm32-only; on native targets the crate is empty (its `x2edit-serve`
//! binary serves the page).
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use x2edit_quantize::{Checkpoint, RangeSource};
use x2edit_runtime::edit::{demo, edit_async, EditRequest, Image, ModelSet, Progress, Stage};
use x2edit_runtime::text::task::ALL as ALL_TASKS;
use x2edit_runtime::text::TaskChoice;
use x2edit_runtime::{Gpu, GpuOptions, Precision};

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("x2edit panicked: {info}").into());
    }));
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The editor: one WebGPU device and the loaded models.
#[wasm_bindgen]
pub struct Editor {
    gpu: Gpu,
    models: Option<Rc<ModelSet>>,
    model_label: String,
    cancel: Arc<AtomicBool>,
    busy: Rc<AtomicBool>,
}

#[wasm_bindgen]
impl Editor {
    /// Opens the browser's WebGPU adapter (asynchronously) with its real limits. `precision`:
    /// "auto" (f16 where the adapter has shader-f16, else f32), "f32" or "f16". `max_binding`:
    /// bytes, caps the storage binding size below the adapter's (0: the adapter's limit), to
    /// test phone-sized limits.
    pub async fn create(precision: String, max_binding: f64) -> Result<Editor, JsError> {
        let precision = match precision.trim() {
            "" | "auto" => None,
            p => Some(p.parse::<Precision>().map_err(js_err)?),
        };
        let opts = GpuOptions {
            backend: Some(x2edit_runtime::gpu::BackendChoice::BrowserWebGpu),
            precision,
            max_binding: (max_binding > 0.0).then_some(max_binding as u64),
            ..Default::default()
        };
        let gpu = Gpu::new_async(opts).await.map_err(js_err)?;
        Ok(Editor { gpu, models: None, model_label: String::new(), cancel: Arc::new(AtomicBool::new(false)), busy: Rc::new(AtomicBool::new(false)) })
    }

    /// Adapter, precision and limits as a JSON object string.
    pub fn info(&self) -> String {
        let a = self.gpu.adapter();
        serde_json::json!({
            "adapter": a.name,
            "backend": a.backend,
            "device_type": a.device_type,
            "precision": match self.gpu.precision() {
                Precision::F32 => "f32",
                Precision::F16 => "f16",
            },
            "shader_f16": self.gpu.has_f16(),
            "subgroup": self.gpu.has_subgroup(),
            "max_binding": self.gpu.binding_limit(),
            "max_buffer": self.gpu.max_buffer_size(),
            "model": self.model_label,
        })
        .to_string()
    }

    /// The embedded demo model (the one `x2edit edit` uses when given no model flags).
    pub fn load_demo(&mut self) -> Result<String, JsError> {
        self.check_idle()?;
        self.models = None;
        self.models = Some(Rc::new(demo::demo_models().map_err(js_err)?));
        self.model_label = demo::DESCRIPTION.to_string();
        Ok(self.model_label.clone())
    }

    /// Four GGUF files chosen by the user (as `x2edit-quantize convert` writes them; the text
    /// encoder's carries the tokenizer). Only headers are read now; each tensor's bytes are
    /// read from its file when a stage loads it and go straight into a GPU buffer, so the
    /// model is never whole in memory. Needs a worker (`FileReaderSync`).
    pub fn load_files(&mut self, transformer: web_sys::File, adapter: web_sys::File, text_encoder: web_sys::File, vae: web_sys::File) -> Result<String, JsError> {
        self.check_idle()?;
        self.models = None;
        let open = |f: web_sys::File| -> Result<Checkpoint, JsError> {
            let name = f.name();
            Checkpoint::from_source(&name, Box::new(FileSource::new(f)?)).map_err(js_err)
        };
        let label = format!("{}, {}, {}, {}", transformer.name(), adapter.name(), text_encoder.name(), vae.name());
        let set = ModelSet::from_checkpoints(open(transformer)?, open(adapter)?, open(text_encoder)?, open(vae)?).map_err(js_err)?;
        self.models = Some(Rc::new(set));
        self.model_label = label.clone();
        Ok(label)
    }

    /// Task names for a select box (`auto` first, then every named task, ids 1..15).
    pub fn tasks() -> Vec<String> {
        std::iter::once("auto".to_string()).chain(ALL_TASKS[1..].iter().map(|t| t.name().to_string())).collect()
    }

    /// One edit of an RGBA image (`rgba`: width * height * 4 bytes; an opaque image is edited as
    /// RGB, as the CLI does with an RGB file). `task`: auto, an id or a name; `steps` 0: the
    /// model's default; `seed`: the noise seed (same noise as the CLI's). `progress(stage, step,
    /// steps)` is called as stages start and after each denoising step. Resolves to an
    /// [`EditResult`]; rejects with "cancelled" after `cancel()`.
    #[allow(clippy::too_many_arguments)]
    pub fn edit(&self, rgba: Vec<u8>, width: u32, height: u32, prompt: String, task: String, steps: u32, seed: u64, guidance: f32, progress: js_sys::Function) -> js_sys::Promise {
        let gpu = self.gpu.clone();
        let models = self.models.clone();
        let cancel = self.cancel.clone();
        let busy = self.busy.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let models = models.ok_or_else(|| JsValue::from(js_err("no model loaded (load_demo or load_files first)")))?;
            if busy.swap(true, Ordering::SeqCst) {
                return Err(js_err("an edit is already running").into());
            }
            cancel.store(false, Ordering::SeqCst);
            let r = run_edit(&gpu, &models, rgba, width, height, &prompt, &task, steps, seed, guidance, &progress, &cancel).await;
            gpu.trim();
            busy.store(false, Ordering::SeqCst);
            r.map(JsValue::from).map_err(|e| JsValue::from(js_err(e)))
        })
    }

    /// Asks a running edit to stop at its next step boundary.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Editor {
    fn check_idle(&self) -> Result<(), JsError> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(js_err("an edit is running"));
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_edit(
    gpu: &Gpu,
    models: &ModelSet,
    rgba: Vec<u8>,
    width: u32,
    height: u32,
    prompt: &str,
    task: &str,
    steps: u32,
    seed: u64,
    guidance: f32,
    progress: &js_sys::Function,
    cancel: &AtomicBool,
) -> Result<EditResult, String> {
    let (w, h) = (width as usize, height as usize);
    if rgba.len() != w * h * 4 {
        return Err(format!("image: {} bytes for {w}x{h} RGBA", rgba.len()));
    }
    let opaque = rgba.chunks_exact(4).all(|p| p[3] == 255);
    let image = if opaque { Image::new(w, h, 3, rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()) } else { Image::new(w, h, 4, rgba) }.map_err(|e| e.to_string())?;
    let task: TaskChoice = task.parse().map_err(|e: x2edit_runtime::Error| e.to_string())?;
    let req = EditRequest { task, steps: (steps > 0).then_some(steps as usize), seed, guidance, ..EditRequest::new(&image, prompt) };
    let mut on_progress = |p: &Progress| {
        let stage = match p.stage {
            Stage::Text => "text",
            Stage::Encode => "encode",
            Stage::Denoise => "denoise",
            Stage::Decode => "decode",
        };
        let _ = progress.call3(&JsValue::NULL, &stage.into(), &(p.step as u32).into(), &(p.steps as u32).into());
    };
    let out = edit_async(gpu, models, &req, &mut on_progress, cancel).await.map_err(|e| e.to_string())?;
    let img = out.image;
    let rgba = if img.channels == 4 { img.data } else { img.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect() };
    let timings: serde_json::Map<String, serde_json::Value> = out.timings.iter().map(|(s, t)| (format!("{s:?}"), ((t * 1000.0).round() / 1000.0).into())).collect();
    Ok(EditResult {
        rgba,
        width: img.width as u32,
        height: img.height as u32,
        task: out.task.name().to_string(),
        steps: out.steps as u32,
        timings: serde_json::Value::Object(timings).to_string(),
        peak_memory: out.peak_memory as f64,
    })
}

/// An edited image (always RGBA) and what the edit did.
#[wasm_bindgen(getter_with_clone)]
pub struct EditResult {
    pub rgba: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The task used (the classified one under auto).
    pub task: String,
    pub steps: u32,
    /// Seconds per stage, a JSON object.
    pub timings: String,
    /// Peak GPU memory held during the edit, bytes.
    pub peak_memory: f64,
}

/// A browser `File` read by ranges with `FileReaderSync` (worker only).
struct FileSource {
    file: web_sys::File,
    reader: web_sys::FileReaderSync,
    len: u64,
}

// wasm32-unknown-unknown without the atomics feature has one thread: the JS objects are never
// shared across threads (`RangeSource` asks Send + Sync for native multi-threaded loaders).
unsafe impl Send for FileSource {}
unsafe impl Sync for FileSource {}

impl FileSource {
    fn new(file: web_sys::File) -> Result<FileSource, JsError> {
        let reader = web_sys::FileReaderSync::new()
            .map_err(|_| js_err("reading model files needs a Web Worker (FileReaderSync is not available on the page's thread)"))?;
        let len = file.size() as u64;
        Ok(FileSource { file, reader, len })
    }
}

impl RangeSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let io = |what: &str| std::io::Error::other(format!("{}: {what}", self.file.name()));
        let end = offset + len as u64;
        if end > self.len {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{}: range {offset}..{end} past the end ({})", self.file.name(), self.len)));
        }
        let blob = self.file.slice_with_f64_and_f64(offset as f64, end as f64).map_err(|_| io("slice failed"))?;
        let buf = self.reader.read_as_array_buffer(&blob).map_err(|_| io("read failed"))?;
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        if bytes.len() != len {
            return Err(io("short read"));
        }
        Ok(bytes)
    }
}
