package dev.x2edit.android

import android.graphics.Bitmap
import dev.x2edit.Image
import dev.x2edit.PixelFormat
import java.nio.ByteBuffer

// Android-only helpers (not compiled by the host JVM test): ARGB_8888 bitmaps store bytes in
// R, G, B, A order, which is X2E_FORMAT_RGBA8. Alpha must be straight: an edit of a
// premultiplied bitmap with partial alpha darkens its edges.

/** Copies an ARGB_8888 bitmap into an [Image]. */
fun Bitmap.toX2EditImage(): Image {
    require(config == Bitmap.Config.ARGB_8888) { "convert the bitmap to ARGB_8888 first" }
    val buf = ByteBuffer.allocate(rowBytes * height)
    copyPixelsToBuffer(buf)
    return Image.fromPixels(width, height, PixelFormat.RGBA8, buf.array(), 0, rowBytes)
}

/** Copies an [Image] into a new ARGB_8888 bitmap. */
fun Image.toBitmap(): Bitmap {
    val bmp = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
    bmp.copyPixelsFromBuffer(ByteBuffer.wrap(pixels(PixelFormat.RGBA8)))
    return bmp
}
