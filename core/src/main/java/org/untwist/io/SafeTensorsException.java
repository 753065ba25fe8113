package org.untwist.io;

/**
 * A safetensors file is malformed or lacks what was asked of it. The message always names the file and,
 * where one is at fault, the tensor.
 */
public final class SafeTensorsException extends TensorFileException {
    private static final long serialVersionUID = 1L;

    public SafeTensorsException(String message) {
        super(message);
    }

    public SafeTensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
