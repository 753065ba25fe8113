package org.untwist.text;

/**
 * A CLIP tokenizer folder that cannot be used: a file missing, unreadable or malformed. The message is one line
 * that starts with the file at fault (and the line, for merges.txt), e.g. {@code tokenizer/vocab.json: missing}.
 */
public final class ClipTokenizerFileException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    ClipTokenizerFileException(String message) {
        super(message);
    }

    ClipTokenizerFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
