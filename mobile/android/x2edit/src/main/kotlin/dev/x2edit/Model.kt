package dev.x2edit

import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicLong

/**
 * The four models of an edit (x2e_model). They hold no GPU memory between edits, so one Model
 * may serve several [Editor]s, also at the same time. Close it when done.
 */
class Model private constructor(handle: Long) : AutoCloseable {
    private val h = AtomicLong(handle)
    internal val handle: Long get() = live(h, "Model")

    override fun close() {
        val old = h.getAndSet(0)
        if (old != 0L) X2EditNative.modelFree(old)
    }

    /** Model files by path; null entries come from [dir] (see the CLI's model flags). */
    data class Files(
        val dir: String? = null,
        val transformer: String? = null,
        val transformerConfig: String? = null,
        val adapter: String? = null,
        val textEncoder: String? = null,
        val vae: String? = null,
        val vaeConfig: String? = null,
    )

    /** A byte range of an open descriptor (ParcelFileDescriptor.fd, AssetFileDescriptor's offset and length). */
    data class FileRange(val fd: Int, val offset: Long = 0, val length: Long = -1)

    companion object {
        /** The embedded demo model (tiny, random weights): what `x2edit edit` uses with no model. */
        fun demo(): Model = Model(X2EditNative.modelNewDemo())

        /** From paths (memory-mapped; the files must stay in place while the model lives). */
        fun fromFiles(f: Files): Model =
            Model(X2EditNative.modelNewPaths(f.dir, f.transformer, f.transformerConfig, f.adapter, f.textEncoder, f.vae, f.vaeConfig))

        fun fromDirectory(dir: String): Model = fromFiles(Files(dir = dir))

        /** From four GGUF files in direct buffers (copied; the buffers may be dropped afterwards). */
        fun fromBuffers(transformer: ByteBuffer, adapter: ByteBuffer, textEncoder: ByteBuffer, vae: ByteBuffer): Model =
            Model(X2EditNative.modelNewBuffers(transformer, adapter, textEncoder, vae))

        /** From four GGUF files by descriptor (read into memory; the caller keeps and closes the descriptors). */
        fun fromFds(transformer: FileRange, adapter: FileRange, textEncoder: FileRange, vae: FileRange): Model {
            val r = listOf(transformer, adapter, textEncoder, vae)
            return Model(X2EditNative.modelNewFds(r.map { it.fd }.toIntArray(), r.map { it.offset }.toLongArray(), r.map { it.length }.toLongArray()))
        }
    }
}
