package org.untwist.io;

/**
 * A file of tensors (safetensors, GGUF) is malformed or lacks what was asked of it. The message always names the
 * file and, where one is at fault, the tensor or field. The format's own subclass says which format it was.
 */
public class TensorFileException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TensorFileException(String message) {
        super(message);
    }

    public TensorFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
