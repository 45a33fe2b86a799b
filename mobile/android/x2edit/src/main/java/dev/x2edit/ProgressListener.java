package dev.x2edit;

/**
 * Progress of one edit, called on the thread running the edit at the start of each stage
 * (0 text, 1 encode, 2 denoise, 3 decode) and after each denoising step ({@code step} done out
 * of {@code steps}). Return {@code true} to cancel the edit. An exception thrown here cancels the
 * edit and is rethrown by the edit call.
 */
@FunctionalInterface
public interface ProgressListener {
    boolean onProgress(int stage, int step, int steps);
}
