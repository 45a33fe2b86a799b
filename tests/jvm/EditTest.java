import dev.x2edit.ProgressListener;
import dev.x2edit.X2EditException;
import dev.x2edit.X2EditNative;

import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * The JNI glue from the JVM on the host: misuse gets X2EditExceptions with the library's
 * messages; an edit with the embedded demo model matches the CLI's pixels; progress arrives;
 * cancellation by the listener, from another thread, and by a throwing listener.
 * Usage: java EditTest IN.png CLI.png PROMPT (seed 7, 2 steps, as the CLI was run).
 */
public class EditTest {
    static int passed, failed;

    static void check(boolean ok, String what) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.err.println("FAIL: " + what);
        }
    }

    interface Call {
        void run() throws Exception;
    }

    /** The call must throw an X2EditException with this status and a message containing word. */
    static void expect(int status, String word, Call c) {
        try {
            c.run();
            check(false, "no exception, wanted status " + status);
        } catch (X2EditException e) {
            check(e.getStatus() == status && e.getMessage().contains(word),
                  "status " + e.getStatus() + " '" + e.getMessage() + "', wanted " + status + " with '" + word + "'");
        } catch (Exception e) {
            check(false, "unexpected " + e);
        }
    }

    static byte[] rgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y);
                int i = (y * w + x) * 3;
                out[i] = (byte) (p >> 16);
                out[i + 1] = (byte) (p >> 8);
                out[i + 2] = (byte) p;
            }
        }
        return out;
    }

    static void misuse() {
        check(X2EditNative.apiVersion() >> 16 == 1, "api major");
        expect(X2EditException.INVALID_HANDLE, "not a live x2e_image", () -> X2EditNative.imageFree(12345));
        expect(X2EditException.INVALID_ARGUMENT, "too small", () -> X2EditNative.imageNew(4, 4, 3, new byte[47], 0, 0));
        expect(X2EditException.INVALID_ARGUMENT, "offset", () -> X2EditNative.imageNew(1, 1, 3, new byte[3], 5, 0));
        expect(X2EditException.INVALID_ARGUMENT, "x2e_pixel_format", () -> X2EditNative.imageNew(1, 1, 7, new byte[3], 0, 0));
        long img = X2EditNative.imageNew(2, 1, X2EditNative.FORMAT_RGB8, new byte[] {1, 2, 3, 4, 5, 6}, 0, 0);
        int[] info = X2EditNative.imageInfo(img);
        check(info[0] == 2 && info[1] == 1 && info[2] == 3, "image info");
        byte[] rgba = new byte[8];
        X2EditNative.imageRead(img, X2EditNative.FORMAT_RGBA8, rgba, 0, 0);
        check(rgba[0] == 1 && rgba[3] == (byte) 255 && rgba[6] == 6, "RGB read as RGBA");
        expect(X2EditException.INVALID_ARGUMENT, "too small", () -> X2EditNative.imageRead(img, 4, new byte[7], 0, 0));
        expect(X2EditException.INVALID_HANDLE, "x2e_model", () -> X2EditNative.modelFree(img));
        X2EditNative.imageFree(img);
        expect(X2EditException.INVALID_HANDLE, "already freed", () -> X2EditNative.imageFree(img));
        expect(X2EditException.INVALID_HANDLE, "already freed", () -> X2EditNative.imageInfo(img));
        expect(X2EditException.IO, "no such folder", () -> X2EditNative.modelNewPaths("/nonexistent/models", null, null, null, null, null, null));
        expect(X2EditException.INVALID_ARGUMENT, "direct", () -> X2EditNative.modelNewBuffers(ByteBuffer.allocate(4), null, null, null));
        expect(X2EditException.INVALID_ARGUMENT, "4 entries", () -> X2EditNative.modelNewFds(new int[1], new long[1], new long[1]));
        expect(X2EditException.INVALID_ARGUMENT, "ctx is NULL",
               () -> X2EditNative.edit(0, 0, 0, "x", -1, 0, 2, 3.5f, 0, 0, false, 0, null));
        expect(X2EditException.INVALID_ARGUMENT, "precision", () -> X2EditNative.contextNew(9, null, 0));
    }

    static void edits(String in, String cli, String prompt) throws Exception {
        BufferedImage src = ImageIO.read(new File(in));
        BufferedImage ref = ImageIO.read(new File(cli));
        long ctx = X2EditNative.contextNew(X2EditNative.PRECISION_AUTO, null, 0);
        System.out.println("adapter: " + X2EditNative.adapterName(ctx));
        long model = X2EditNative.modelNewDemo();
        long image = X2EditNative.imageNew(src.getWidth(), src.getHeight(), X2EditNative.FORMAT_RGB8, rgb(src), 0, 0);

        // A whole edit against the CLI's pixels, with progress.
        List<String> seen = new ArrayList<>();
        ProgressListener log = (stage, step, steps) -> {
            seen.add(stage + ":" + step + "/" + steps);
            return false;
        };
        long out = X2EditNative.edit(ctx, model, image, prompt, X2EditNative.TASK_AUTO, 0, 2, 3.5f, 7, 0, false, 0, log);
        System.out.println("progress: " + seen);
        check(seen.contains("2:2/2") && seen.get(0).startsWith("0:") && seen.get(seen.size() - 1).startsWith("3:"), "progress " + seen);
        int[] info = X2EditNative.imageInfo(out);
        check(info[0] == ref.getWidth() && info[1] == ref.getHeight(), "size " + info[0] + "x" + info[1]);
        byte[] mine = new byte[info[0] * info[1] * 3];
        X2EditNative.imageRead(out, X2EditNative.FORMAT_RGB8, mine, 0, 0);
        byte[] theirs = rgb(ref);
        int maxd = 0;
        for (int i = 0; i < Math.min(mine.length, theirs.length); i++) maxd = Math.max(maxd, Math.abs((mine[i] & 255) - (theirs[i] & 255)));
        System.out.println("max difference from the CLI's pixels: " + maxd);
        check(mine.length == theirs.length && maxd == 0, "pixels differ from the CLI's (max " + maxd + ")");
        X2EditNative.imageFree(out);

        // Cancelled by the listener at the first denoising step.
        expect(X2EditException.CANCELLED, "cancelled", () -> X2EditNative.edit(ctx, model, image, prompt, -1, 0, 2, 3.5f, 7, 0, false, 0,
                (stage, step, steps) -> stage == X2EditNative.STAGE_DENOISE));

        // Cancelled from another thread.
        expect(X2EditException.CANCELLED, "cancelled", () -> X2EditNative.edit(ctx, model, image, prompt, 1, 0, 2, 3.5f, 7, 0, false, 0,
                (stage, step, steps) -> {
                    if (stage != X2EditNative.STAGE_DENOISE) return false;
                    Thread t = new Thread(() -> X2EditNative.cancel(ctx));
                    t.start();
                    try {
                        t.join();
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                    return false;
                }));

        // A throwing listener cancels the edit and its exception comes out of edit().
        try {
            X2EditNative.edit(ctx, model, image, prompt, 1, 0, 2, 3.5f, 7, 0, false, 0, (stage, step, steps) -> {
                throw new IllegalStateException("listener failed");
            });
            check(false, "throwing listener: no exception");
        } catch (IllegalStateException e) {
            check(e.getMessage().equals("listener failed"), "listener exception " + e);
        }

        X2EditNative.imageFree(image);
        X2EditNative.modelFree(model);
        X2EditNative.contextFree(ctx);
        expect(X2EditException.INVALID_HANDLE, "already freed", () -> X2EditNative.contextFree(ctx));
    }

    public static void main(String[] args) throws Exception {
        misuse();
        if (args.length == 3) edits(args[0], args[1], args[2]);
        System.out.println("jvm: " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
