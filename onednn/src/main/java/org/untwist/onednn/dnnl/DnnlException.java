package org.untwist.onednn.dnnl;

/** A oneDNN call returned a status other than {@code dnnl_success}; the message names the call and the status. */
public final class DnnlException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    DnnlException(String call, int status, String statusName) {
        super(call + " failed: " + statusName + " (oneDNN status " + status + ")");
        this.status = status;
    }

    /** The {@code dnnl_status_t} value. */
    public int status() {
        return status;
    }
}
