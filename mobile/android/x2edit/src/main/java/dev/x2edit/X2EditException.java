package dev.x2edit;

/**
 * A failed call into libx2edit: the C status code ({@code x2e_status}) and the library's
 * message. Unchecked, so that Kotlin callers are not forced to catch it.
 */
public class X2EditException extends RuntimeException {
    public static final int INVALID_ARGUMENT = 1;
    public static final int INVALID_HANDLE = 2;
    public static final int IO = 3;
    public static final int MODEL = 4;
    public static final int GPU = 5;
    public static final int CANCELLED = 6;
    public static final int BUSY = 7;
    public static final int UNSUPPORTED = 8;
    public static final int INTERNAL = 9;

    private final int status;

    /** Called by the JNI glue. */
    public X2EditException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The {@code x2e_status} value (one of the constants above). */
    public int getStatus() {
        return status;
    }

    /** True when the edit stopped because it was cancelled. */
    public boolean isCancelled() {
        return status == CANCELLED;
    }
}
