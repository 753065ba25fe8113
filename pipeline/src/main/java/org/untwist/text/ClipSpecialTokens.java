package org.untwist.text;

/**
 * The special tokens of a CLIP tokenizer folder, as text and id: start of text (bos), end of text (eos), unknown
 * and padding. In FLUX.1's folder unk and pad are the end token ({@code <|endoftext|>}).
 */
record ClipSpecialTokens(String bos, int bosId, String eos, int eosId, String unk, int unkId, String pad,
                         int padId) {
}
