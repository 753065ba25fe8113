/**
 * Text in: the tokenizers (CLIP byte-level BPE, T5 SentencePiece Unigram) and the text encoders
 * (T5 v1.1 encoder, CLIP text tower) of FLUX.1, read from the files a FLUX.1 pipeline folder carries.
 */
package org.untwist.text;
