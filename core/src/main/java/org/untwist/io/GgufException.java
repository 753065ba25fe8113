package org.untwist.io;

/**
 * A GGUF file is malformed, uses what this reader does not support (another version, a big-endian layout, a tensor
 * type it cannot dequantize), or lacks what was asked of it. The message is one line naming the file and the fault.
 */
public final class GgufException extends TensorFileException {
    private static final long serialVersionUID = 1L;

    public GgufException(String message) {
        super(message);
    }

    public GgufException(String message, Throwable cause) {
        super(message, cause);
    }
}
