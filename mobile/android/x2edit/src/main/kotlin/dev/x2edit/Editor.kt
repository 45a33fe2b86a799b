package dev.x2edit

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.util.concurrent.atomic.AtomicLong

/**
 * A GPU device that runs edits (x2e_context). One edit at a time per Editor: a second
 * concurrent call throws [X2EditException] with status BUSY; use one Editor per parallel edit.
 * Every method may be called from any thread; [cancel] and [close] also while an edit runs
 * (close cancels it). Errors are [X2EditException]s carrying the library's message.
 */
class Editor(precision: Precision = Precision.AUTO, adapter: String? = null, maxBinding: Long = 0) : AutoCloseable {
    private val h = AtomicLong(X2EditNative.contextNew(precision.code, adapter, maxBinding))

    /** The GPU adapter's name. */
    val adapterName: String get() = X2EditNative.adapterName(live(h, "Editor"))

    /**
     * Edits [image] (blocking: call it off the main thread). [onProgress] runs on this thread;
     * the returned image belongs to the caller.
     */
    fun edit(model: Model, image: Image, params: EditParams, onProgress: (Progress) -> Unit = {}): Image =
        runEdit(model, image, params) { onProgress(it); false }

    /** Asks the running edit to stop; it then throws [X2EditException] with status CANCELLED. */
    fun cancel() = X2EditNative.cancel(live(h, "Editor"))

    /**
     * Edits on [Dispatchers.IO]; cancelling the coroutine cancels the edit (at its next progress
     * report, within one denoising step) and throws CancellationException.
     */
    suspend fun editAsync(model: Model, image: Image, params: EditParams, onProgress: (Progress) -> Unit = {}): Image =
        withContext(Dispatchers.IO) {
            val ctx = coroutineContext
            try {
                runEdit(model, image, params) { onProgress(it); !ctx.isActive }
            } catch (e: X2EditException) {
                // Our own cancellation surfaces as the coroutine's CancellationException.
                if (e.isCancelled) ctx.ensureActive()
                throw e
            }
        }

    /**
     * The edit as a cold flow: [EditEvent.Update]s, then one [EditEvent.Done]. Cancelling the
     * collector cancels the edit; a failure ends the flow with its [X2EditException].
     */
    fun editFlow(model: Model, image: Image, params: EditParams): Flow<EditEvent> = callbackFlow {
        val job = launch(Dispatchers.IO) {
            try {
                val out = runEdit(model, image, params) { trySend(EditEvent.Update(it)); false }
                if (trySend(EditEvent.Done(out)).isFailure) out.close()
                channel.close()
            } catch (e: X2EditException) {
                channel.close(e)
            }
        }
        awaitClose { if (job.isActive) this@Editor.cancel() }
    }

    private fun runEdit(model: Model, image: Image, p: EditParams, progress: (Progress) -> Boolean): Image {
        val listener = ProgressListener { stage, step, steps -> progress(Progress(Stage.values()[stage], step, steps)) }
        val out = X2EditNative.edit(
            live(h, "Editor"), model.handle, image.handle, p.prompt, p.task, p.promptFormat.code, p.steps, p.guidance, p.seed,
            p.size.code, p.condSample, p.memoryBudget, listener,
        )
        return Image(out)
    }

    /** Frees the device; an edit still running on another thread is cancelled. */
    override fun close() {
        val old = h.getAndSet(0)
        if (old != 0L) X2EditNative.contextFree(old)
    }

    companion object {
        /** The library's ABI version, major << 16 | minor. */
        val apiVersion: Int get() = X2EditNative.apiVersion()
    }
}
