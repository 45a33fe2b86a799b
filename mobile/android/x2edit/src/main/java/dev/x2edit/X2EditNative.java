package dev.x2edit;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The JNI layer over the C ABI (ffi/include/x2edit.h), one static method per C function, with
 * handles as {@code long}. Every method throws {@link X2EditException} on failure. The Kotlin
 * classes ({@code Editor}, {@code Model}, {@code Image}) are the API for apps; this class is
 * what they and the Java test call. Strings cross as UTF-8 bytes (JNI's own string encoding
 * is modified UTF-8, which would mangle characters outside the BMP).
 *
 * <p>Loads {@code libx2edit} and {@code libx2edit_jni}: from the app's native libraries on
 * Android, from {@code java.library.path} on a desktop JVM.
 */
public final class X2EditNative {
    static {
        System.loadLibrary("x2edit");
        System.loadLibrary("x2edit_jni");
    }

    private X2EditNative() {}

    public static final int PRECISION_AUTO = 0, PRECISION_F32 = 1, PRECISION_F16 = 2;
    public static final int FORMAT_RGB8 = 3, FORMAT_RGBA8 = 4;
    public static final int TASK_AUTO = -1;
    public static final int SIZE_NATIVE = 0, SIZE_512 = 1, SIZE_1024 = 2, SIZE_SOURCE = 3;
    public static final int PROMPT_X2EDIT = 0, PROMPT_RAW = 1;
    public static final int STAGE_TEXT = 0, STAGE_ENCODE = 1, STAGE_DENOISE = 2, STAGE_DECODE = 3;

    /** NUL-terminated UTF-8, or null. */
    static byte[] c(String s) {
        if (s == null) return null;
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        byte[] z = new byte[b.length + 1];
        System.arraycopy(b, 0, z, 0, b.length);
        return z;
    }

    public static native int apiVersion();

    public static long contextNew(int precision, String adapter, long maxBinding) {
        return contextNew(precision, c(adapter), maxBinding);
    }
    private static native long contextNew(int precision, byte[] adapter, long maxBinding);
    public static native void contextFree(long ctx);
    public static native void cancel(long ctx);
    public static native String adapterName(long ctx);

    public static native long modelNewDemo();
    public static long modelNewPaths(String modelDir, String transformer, String transformerConfig, String adapter,
                                     String textEncoder, String vae, String vaeConfig) {
        return modelNewPaths(c(modelDir), c(transformer), c(transformerConfig), c(adapter), c(textEncoder), c(vae), c(vaeConfig));
    }
    private static native long modelNewPaths(byte[] modelDir, byte[] transformer, byte[] transformerConfig, byte[] adapter,
                                             byte[] textEncoder, byte[] vae, byte[] vaeConfig);
    /**
     * Four GGUF files, each the bytes from position to limit of a direct buffer
     * ({@code ByteBuffer.allocateDirect} or {@code FileChannel.map}); the library copies them.
     */
    public static long modelNewBuffers(ByteBuffer transformer, ByteBuffer adapter, ByteBuffer textEncoder, ByteBuffer vae) {
        for (ByteBuffer b : new ByteBuffer[] {transformer, adapter, textEncoder, vae}) {
            if (b == null || !b.isDirect()) {
                throw new X2EditException(X2EditException.INVALID_ARGUMENT, "modelNewBuffers: every buffer must be a non-null direct ByteBuffer");
            }
        }
        return modelNewBuffersDirect(transformer, adapter, textEncoder, vae);
    }
    private static native long modelNewBuffersDirect(ByteBuffer transformer, ByteBuffer adapter, ByteBuffer textEncoder, ByteBuffer vae);
    /** Descriptors, offsets and lengths (-1: to the end) of the transformer, adapter, text encoder and VAE. */
    public static native long modelNewFds(int[] fds, long[] offsets, long[] lengths);
    public static native void modelFree(long model);

    /** Copies {@code height} rows of {@code width} pixels from {@code pixels[offset..]}, {@code stride} bytes apart (0: packed). */
    public static native long imageNew(int width, int height, int format, byte[] pixels, int offset, int stride);
    /** {width, height, format}. */
    public static native int[] imageInfo(long image);
    public static native void imageRead(long image, int format, byte[] dst, int offset, int stride);
    public static native void imageFree(long image);

    public static long edit(long ctx, long model, long image, String prompt, int task, int promptFormat, int steps,
                            float guidance, long seed, int size, boolean condSample, long memoryBudget,
                            ProgressListener listener) {
        return edit(ctx, model, image, c(prompt), task, promptFormat, steps, guidance, seed, size, condSample, memoryBudget, listener);
    }
    private static native long edit(long ctx, long model, long image, byte[] prompt, int task, int promptFormat, int steps,
                                    float guidance, long seed, int size, boolean condSample, long memoryBudget,
                                    ProgressListener listener);
}
