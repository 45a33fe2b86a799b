// The Kotlin API (Editor, Model, Image, editFlow, editAsync) on the host JVM with the embedded
// demo model. Usage: EditorTestKt IN.png CLI.png PROMPT (seed 7, 2 steps, as the CLI was run).

import dev.x2edit.EditEvent
import dev.x2edit.EditParams
import dev.x2edit.Editor
import dev.x2edit.Image
import dev.x2edit.Model
import dev.x2edit.PixelFormat
import dev.x2edit.Progress
import dev.x2edit.Stage
import dev.x2edit.X2EditException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import java.io.File
import javax.imageio.ImageIO
import kotlin.system.exitProcess

var passed = 0
var failed = 0

fun check(ok: Boolean, what: () -> String) {
    if (ok) passed++ else {
        failed++
        System.err.println("FAIL: ${what()}")
    }
}

fun rgb(path: String): Triple<Int, Int, ByteArray> {
    val img = ImageIO.read(File(path))
    val out = ByteArray(img.width * img.height * 3)
    for (y in 0 until img.height) for (x in 0 until img.width) {
        val p = img.getRGB(x, y)
        val i = (y * img.width + x) * 3
        out[i] = (p shr 16).toByte(); out[i + 1] = (p shr 8).toByte(); out[i + 2] = p.toByte()
    }
    return Triple(img.width, img.height, out)
}

fun main(args: Array<String>) {
    val (inPath, cliPath, prompt) = args
    val (w, h, px) = rgb(inPath)
    val (cw, ch, cli) = rgb(cliPath)
    val params = EditParams(prompt, seed = 7, steps = 2)
    check(Editor.apiVersion shr 16 == 1) { "api version" }

    Editor().use { editor ->
        println("adapter: ${editor.adapterName}")
        Model.demo().use { model ->
            Image.fromPixels(w, h, PixelFormat.RGB8, px).use { src ->
                // Blocking edit with progress, against the CLI.
                val seen = mutableListOf<Progress>()
                editor.edit(model, src, params) { seen += it }.use { out ->
                    check(out.width == cw && out.height == ch) { "size ${out.width}x${out.height}" }
                    check(out.pixels(PixelFormat.RGB8).contentEquals(cli)) { "pixels differ from the CLI's" }
                }
                check(seen.first().stage == Stage.TEXT && seen.last().stage == Stage.DECODE && Progress(Stage.DENOISE, 2, 2) in seen) { "progress $seen" }

                // The flow: updates, then the image.
                val events = runBlocking { editor.editFlow(model, src, params).toList() }
                val done = events.last()
                check(done is EditEvent.Done && events.count { it is EditEvent.Update } >= 5) { "flow events $events" }
                (done as? EditEvent.Done)?.image?.use { check(it.pixels(PixelFormat.RGB8).contentEquals(cli)) { "flow result differs" } }

                // Cancelling the coroutine cancels the edit within a step.
                runBlocking {
                    val denoising = CompletableDeferred<Unit>()
                    val job = async { editor.editAsync(model, src, params) { if (it.stage == Stage.DENOISE) denoising.complete(Unit) } }
                    denoising.await()
                    job.cancel()
                    val r = runCatching { job.await() }
                    check(r.isFailure) { "cancelled editAsync returned an image" }
                }

                // A second concurrent edit on one Editor is refused with BUSY.
                runBlocking {
                    val denoising = CompletableDeferred<Unit>()
                    val first = async(kotlinx.coroutines.Dispatchers.IO) {
                        runCatching { editor.edit(model, src, params) { if (it.stage == Stage.DENOISE) { denoising.complete(Unit); Thread.sleep(300) } } }
                    }
                    denoising.await()
                    val second = runCatching { editor.edit(model, src, params) }
                    editor.cancel()
                    val e = second.exceptionOrNull() as? X2EditException
                    check(e?.status == X2EditException.BUSY) { "concurrent edit: $second" }
                    val r = first.await()
                    check((r.exceptionOrNull() as? X2EditException)?.isCancelled == true) { "first edit after cancel: $r" }
                }
            }
        }
        editor.close()
        val closed = runCatching { editor.adapterName }.exceptionOrNull() as? X2EditException
        check(closed?.status == X2EditException.INVALID_HANDLE && closed.message!!.contains("closed")) { "use after close: $closed" }
    }
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
