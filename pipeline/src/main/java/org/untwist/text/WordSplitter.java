package org.untwist.text;

import java.util.List;

/**
 * Normalization and pre-tokenization: turns one stretch of prompt text (special tokens already cut out) into the
 * words the Unigram model segments, each spelled with "▁" for a space. Empty when nothing is left to tokenize.
 */
interface WordSplitter {

    /** The metaspace: how SentencePiece spells a space inside pieces. */
    String METASPACE = "\u2581";

    List<String> split(String text);
}
