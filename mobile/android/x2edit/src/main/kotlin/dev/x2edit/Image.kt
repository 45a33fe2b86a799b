package dev.x2edit

import java.util.concurrent.atomic.AtomicLong

/**
 * An 8-bit RGB or RGBA image held by the library (x2e_image). Pixels are copied in and out.
 * Close it when done; closing twice is harmless, and any use after close throws
 * [X2EditException] rather than crashing.
 */
class Image internal constructor(handle: Long) : AutoCloseable {
    private val h = AtomicLong(handle)
    internal val handle: Long get() = live(h, "Image")

    val width: Int
    val height: Int
    val format: PixelFormat

    init {
        val info = X2EditNative.imageInfo(handle)
        width = info[0]
        height = info[1]
        format = PixelFormat.of(info[2])
    }

    /** The pixels in [format], rows packed (width * bytesPerPixel bytes each). */
    fun pixels(format: PixelFormat = PixelFormat.RGBA8): ByteArray {
        val out = ByteArray(width * height * format.bytesPerPixel)
        X2EditNative.imageRead(handle, format.code, out, 0, 0)
        return out
    }

    override fun close() {
        val old = h.getAndSet(0)
        if (old != 0L) X2EditNative.imageFree(old)
    }

    companion object {
        /** Copies [pixels] from [offset], rows [stride] bytes apart (0: packed). */
        fun fromPixels(width: Int, height: Int, format: PixelFormat, pixels: ByteArray, offset: Int = 0, stride: Int = 0): Image =
            Image(X2EditNative.imageNew(width, height, format.code, pixels, offset, stride))
    }
}
