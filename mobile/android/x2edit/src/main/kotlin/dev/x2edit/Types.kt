package dev.x2edit

/** Stages of an edit, in order (x2e_stage). */
enum class Stage { TEXT, ENCODE, DENOISE, DECODE }

/** One progress report: [step] denoising steps done out of [steps] (both 0 outside DENOISE). */
data class Progress(val stage: Stage, val step: Int, val steps: Int)

/** Activation precision (x2e_precision): AUTO is f16 where the GPU has it, else f32. */
enum class Precision(internal val code: Int) { AUTO(0), F32(1), F16(2) }

/** Output size (x2e_size_mode). */
enum class SizeMode(internal val code: Int) {
    /** The model's native size (1024 for full-size models). */
    NATIVE(0),
    /** Short side to 512, centre crop 512x512. */
    PX512(1),
    /** The nearest of X2Edit's aspect buckets around 1024x1024. */
    PX1024(2),
    /** The source's size rounded down to multiples of 16. */
    SOURCE(3),
}

/** How the instruction is given to the text encoder (x2e_prompt_format). */
enum class PromptFormat(internal val code: Int) { X2EDIT(0), RAW(1) }

/** Pixel layouts (x2e_pixel_format): 8-bit channels in memory order R, G, B(, A). */
enum class PixelFormat(internal val code: Int, val bytesPerPixel: Int) {
    RGB8(3, 3),
    RGBA8(4, 4);

    internal companion object {
        fun of(code: Int) = values().first { it.code == code }
    }
}

/**
 * One edit's settings (x2e_edit_params). [task] is [TASK_AUTO] or an X2Edit task id 0..15;
 * [steps] 0 takes the model's default; [memoryBudget] 0 is no limit.
 */
data class EditParams(
    val prompt: String,
    val task: Int = TASK_AUTO,
    val steps: Int = 0,
    val guidance: Float = 3.5f,
    val seed: Long = 0,
    val size: SizeMode = SizeMode.NATIVE,
    val promptFormat: PromptFormat = PromptFormat.X2EDIT,
    val condSample: Boolean = false,
    val memoryBudget: Long = 0,
) {
    companion object {
        const val TASK_AUTO = -1
    }
}

/** What [Editor.editFlow] emits: progress reports, then the result once. */
sealed class EditEvent {
    data class Update(val progress: Progress) : EditEvent()
    /** The edited image; the collector owns it (close it). */
    class Done(val image: Image) : EditEvent()
}

/** The handle of an object that is still open, else an INVALID_HANDLE error naming it. */
internal fun live(h: java.util.concurrent.atomic.AtomicLong, what: String): Long {
    val v = h.get()
    if (v == 0L) throw X2EditException(X2EditException.INVALID_HANDLE, "the $what is closed")
    return v
}
