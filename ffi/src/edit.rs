//! `x2e_edit`: one instruction-based edit, with progress and cancellation.

use crate::context::{x2e_context, CONTEXTS};
use crate::image::{x2e_image, IMAGES};
use crate::model::{x2e_model, MODELS};
use crate::params::{self, Params};
use crate::status::{guard, x2e_status, Failure, FfiResult};
use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;
use x2edit_runtime::edit::{edit, EditRequest, Progress, SizeMode, Stage};
use x2edit_runtime::text::{PromptFormat, Task, TaskChoice};

/// Stages of an edit, in order, as the progress callback reports them.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub enum x2e_stage {
    /// Text encoder, task routing and AlignNet.
    X2E_STAGE_TEXT = 0,
    /// VAE encode of the source.
    X2E_STAGE_ENCODE = 1,
    /// Denoising steps: `step` done out of `steps`.
    X2E_STAGE_DENOISE = 2,
    /// VAE decode of the result.
    X2E_STAGE_DECODE = 3,
}

/// Values of `x2e_edit_params.size`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub enum x2e_size_mode {
    /// The model's native size (1024 for full-size models, 64 for the demo model).
    X2E_SIZE_NATIVE = 0,
    /// Short side to 512, centre crop 512x512.
    X2E_SIZE_512 = 1,
    /// The nearest of X2Edit's 13 aspect buckets around 1024x1024.
    X2E_SIZE_1024 = 2,
    /// The source's size rounded down to multiples of 16.
    X2E_SIZE_SOURCE = 3,
}

/// Values of `x2e_edit_params.prompt_format`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub enum x2e_prompt_format {
    /// The prompt X2Edit's inference code builds around the instruction.
    X2E_PROMPT_X2EDIT = 0,
    /// The instruction alone.
    X2E_PROMPT_RAW = 1,
}

/// `x2e_edit_params.task`: let the text encoder classify the instruction.
pub const X2E_TASK_AUTO: i32 = -1;

/// One edit's settings. Fill with `x2e_edit_params_init(&p, sizeof p)`, then set `prompt`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_edit_params {
    pub struct_size: u32,
    /// The instruction, UTF-8, required. Borrowed for the call.
    pub prompt: *const c_char,
    /// X2E_TASK_AUTO (default) or a task id 0..15 (X2Edit's task list: 1 subject removal,
    /// 2 subject addition, 3 style change, ...).
    pub task: i32,
    /// An `x2e_prompt_format` (default X2E_PROMPT_X2EDIT).
    pub prompt_format: i32,
    /// Denoising steps; 0 (default): 28 for bases with guidance_in, 4 without.
    pub steps: u32,
    /// Guidance (default 3.5).
    pub guidance: f32,
    /// Seed of the initial noise (default 0). The same seed gives the same image as
    /// `x2edit edit --seed` on the same adapter and precision.
    pub seed: u64,
    /// An `x2e_size_mode` (default X2E_SIZE_NATIVE).
    pub size: i32,
    /// Non-zero: sample the source's VAE posterior (seeded) instead of taking its mean.
    pub cond_sample: i32,
    /// Bytes of GPU memory the edit may hold at once (0: no limit); a limit streams the
    /// transformer's blocks and tiles the VAE.
    pub memory_budget: u64,
}

// SAFETY: repr(C), u32 size first, integer, float and pointer fields only.
unsafe impl Params for x2e_edit_params {
    fn defaults() -> Self {
        x2e_edit_params {
            struct_size: 0,
            prompt: std::ptr::null(),
            task: X2E_TASK_AUTO,
            prompt_format: x2e_prompt_format::X2E_PROMPT_X2EDIT as i32,
            steps: 0,
            guidance: 3.5,
            seed: 0,
            size: x2e_size_mode::X2E_SIZE_NATIVE as i32,
            cond_sample: 0,
            memory_budget: 0,
        }
    }
}

/// Progress: called on the thread running `x2e_edit`, at the start of each stage and after each
/// denoising step. Return 0 to go on, non-zero to cancel (the edit then returns
/// X2E_ERR_CANCELLED). It may call `x2e_cancel` and the image and error functions, but not
/// `x2e_edit` on the same context (X2E_ERR_BUSY); it must not unwind (no C++ exceptions,
/// no longjmp) through the library.
#[allow(non_camel_case_types)]
pub type x2e_progress_fn = Option<unsafe extern "C" fn(stage: x2e_stage, step: u32, steps: u32, user_data: *mut c_void) -> i32>;

fn stage(s: Stage) -> x2e_stage {
    match s {
        Stage::Text => x2e_stage::X2E_STAGE_TEXT,
        Stage::Encode => x2e_stage::X2E_STAGE_ENCODE,
        Stage::Denoise => x2e_stage::X2E_STAGE_DENOISE,
        Stage::Decode => x2e_stage::X2E_STAGE_DECODE,
    }
}

fn settings<'a>(p: &x2e_edit_params, req: &mut EditRequest<'a>) -> FfiResult<()> {
    req.task = match p.task {
        X2E_TASK_AUTO => TaskChoice::Auto,
        t => TaskChoice::Fixed(u32::try_from(t).ok().and_then(Task::from_id).ok_or_else(|| Failure::arg(format!("task {t} is not X2E_TASK_AUTO (-1) or an id 0..15")))?),
    };
    req.prompt_format = match p.prompt_format {
        0 => PromptFormat::X2Edit,
        1 => PromptFormat::Raw,
        v => return Err(Failure::arg(format!("prompt_format {v} is not an x2e_prompt_format"))),
    };
    req.steps = match p.steps {
        0 => None,
        s @ 1..=1000 => Some(s as usize),
        s => return Err(Failure::arg(format!("steps {s} is over 1000"))),
    };
    if !p.guidance.is_finite() {
        return Err(Failure::arg("guidance is not finite"));
    }
    req.guidance = p.guidance;
    req.seed = p.seed;
    req.size = match p.size {
        0 => None,
        1 => Some(SizeMode::Px512),
        2 => Some(SizeMode::Px1024),
        3 => Some(SizeMode::Source),
        v => return Err(Failure::arg(format!("size {v} is not an x2e_size_mode"))),
    };
    req.cond_sample = p.cond_sample != 0;
    req.memory_budget = (p.memory_budget != 0).then_some(p.memory_budget);
    Ok(())
}

/// Fills `params` with the defaults (prompt NULL: set it before `x2e_edit`).
#[no_mangle]
pub extern "C" fn x2e_edit_params_init(params: *mut x2e_edit_params, struct_size: usize) -> x2e_status {
    guard("x2e_edit_params_init", || params::init(params, struct_size, "params"))
}

/// Edits `image` by the instruction in `params->prompt` with `model` on `ctx`'s GPU. Blocks
/// until done (seconds to minutes): call it off the UI thread. `progress` may be NULL;
/// `user_data` is passed to it untouched. On success `*out_image` owns the result (RGB8, or RGBA8
/// with the source's resized alpha when the source had alpha; free with `x2e_image_free`); on
/// failure it is NULL. One edit per context at a time: a second concurrent call on the same
/// context returns X2E_ERR_BUSY. Models and images may be shared by edits on several contexts.
#[no_mangle]
pub extern "C" fn x2e_edit(
    ctx: *mut x2e_context,
    model: *const x2e_model,
    image: *const x2e_image,
    params: *const x2e_edit_params,
    progress: x2e_progress_fn,
    user_data: *mut c_void,
    out_image: *mut *mut x2e_image,
) -> x2e_status {
    guard("x2e_edit", || {
        params::out_ptr(out_image, "out_image")?;
        let c = CONTEXTS.get(ctx as usize, "ctx")?;
        let m = MODELS.get(model as usize, "model")?;
        let img = IMAGES.get(image as usize, "image")?;
        let p = params::read(params, "params")?;
        let prompt = params::opt_str(p.prompt, "params->prompt")?.ok_or_else(|| Failure::arg("params->prompt is NULL or empty"))?;
        let mut req = EditRequest::new(&img, &prompt);
        settings(&p, &mut req)?;
        let _busy = c.begin()?;
        let mut report = |pr: &Progress| {
            if let Some(f) = progress {
                // SAFETY: a C function pointer from the caller, called with its own user_data.
                let stop = unsafe { f(stage(pr.stage), pr.step as u32, pr.steps as u32, user_data) };
                if stop != 0 {
                    c.cancel.store(true, Ordering::SeqCst);
                }
            }
        };
        let out = edit(&c.gpu, &m, &req, &mut report, &c.cancel)?;
        let h = IMAGES.insert(out.image);
        // SAFETY: checked non-null by out_ptr.
        unsafe { *out_image = h as *mut x2e_image };
        Ok(())
    })
}
