package org.untwist.ffm;

/**
 * A CUDA, cuBLAS, cuDNN or NVRTC call returned an error status. Carries the library, the call, the numeric
 * status, its symbolic name and the library's own message, as far as the library can tell them (see
 * {@link CudaCheck}).
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final CudaLibrary library;
    private final String call;
    private final int status;
    private final String statusName;
    private final String libraryMessage;

    public CudaException(CudaLibrary library, String call, int status, String statusName, String libraryMessage) {
        super(format(library, call, status, statusName, libraryMessage));
        this.library = library;
        this.call = call;
        this.status = status;
        this.statusName = statusName;
        this.libraryMessage = libraryMessage;
    }

    private static String format(CudaLibrary library, String call, int status, String statusName, String message) {
        StringBuilder sb = new StringBuilder();
        sb.append(call).append(" failed: ").append(statusName).append(" (").append(library.displayName())
                .append(" status ").append(status).append(')');
        if (message != null && !message.isBlank() && !message.equals(statusName)) {
            sb.append(": ").append(message);
        }
        return sb.toString();
    }

    /** The library whose call failed. */
    public CudaLibrary library() {
        return library;
    }

    /** The function that returned the status, e.g. {@code cublasGemmEx}. */
    public String call() {
        return call;
    }

    /** The raw status code ({@code cudaError_t}, {@code CUresult}, {@code cublasStatus_t}, ...). */
    public int status() {
        return status;
    }

    /** The status's symbolic name, e.g. {@code cudaErrorMemoryAllocation}; {@code "status N"} when unknown. */
    public String statusName() {
        return statusName;
    }

    /** The library's description of the status, or {@code null}. */
    public String libraryMessage() {
        return libraryMessage;
    }
}
