package org.untwist.text;

/**
 * One entry of a SentencePiece Unigram vocabulary: its text (with "▁" for a space), its log-probability score and
 * its kind. The id is the entry's index in the vocabulary.
 */
record UnigramPiece(String text, double score, Kind kind) {

    /** SentencePiece's {@code ModelProto.SentencePiece.Type}, numbered as in the protobuf. */
    enum Kind {
        NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE;

        static Kind ofProtoNumber(int number) {
            return switch (number) {
                case 1 -> NORMAL;
                case 2 -> UNKNOWN;
                case 3 -> CONTROL;
                case 4 -> USER_DEFINED;
                case 5 -> UNUSED;
                case 6 -> BYTE;
                default -> null;
            };
        }
    }
}
