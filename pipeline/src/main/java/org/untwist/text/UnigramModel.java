package org.untwist.text;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Unigram segmentation: the Viterbi path through all ways of spelling a word with vocabulary pieces, maximizing
 * the sum of piece scores (log-probabilities). A character no piece starts with becomes the unknown piece, scored
 * {@code min score - 10} as both sentencepiece and tokenizers do; runs of unknowns are fused into one, and with byte
 * fallback an unknown run is spelled instead as the {@code <0xNN>} pieces of its UTF-8 bytes.
 *
 * <p>The two libraries differ in details this class keeps apart with {@link Rules}: sentencepiece only matches
 * normal and user-defined pieces and adds scores in float; tokenizers matches every vocabulary entry and adds in
 * double.
 */
final class UnigramModel {

    private static final double UNKNOWN_PENALTY = 10.0;

    /** Whose rules to follow: the sentencepiece library (slow) or the tokenizers library (fast). */
    enum Rules { SENTENCEPIECE, TOKENIZERS }

    private final List<UnigramPiece> pieces;
    private final Map<String, Integer> matchable = new HashMap<>();
    private final int longestPieceChars;
    private final int unknownId;
    private final double unknownScore;
    private final int[] byteIds; // id of <0xNN> for each byte value, or null without byte fallback
    private final Rules rules;

    UnigramModel(List<UnigramPiece> pieces, int unknownId, boolean byteFallback, Rules rules) {
        this.pieces = List.copyOf(pieces);
        this.rules = rules;
        if (unknownId < 0 || unknownId >= pieces.size()) {
            throw new IllegalArgumentException("unknown-piece id " + unknownId + " is outside the vocabulary of "
                    + pieces.size());
        }
        this.unknownId = unknownId;
        double minScore = Double.POSITIVE_INFINITY;
        int longest = 1;
        for (int id = 0; id < pieces.size(); id++) {
            UnigramPiece piece = pieces.get(id);
            boolean canMatch = rules == Rules.TOKENIZERS
                    || piece.kind() == UnigramPiece.Kind.NORMAL || piece.kind() == UnigramPiece.Kind.USER_DEFINED;
            if (canMatch && !piece.text().isEmpty()) {
                matchable.putIfAbsent(piece.text(), id); // tokenizers and sentencepiece both keep the first id
                longest = Math.max(longest, piece.text().length());
            }
            if (rules == Rules.TOKENIZERS || piece.kind() == UnigramPiece.Kind.NORMAL) {
                minScore = Math.min(minScore, piece.score());
            }
        }
        this.longestPieceChars = longest;
        this.unknownScore = (minScore == Double.POSITIVE_INFINITY ? 0 : minScore) - UNKNOWN_PENALTY;
        this.byteIds = byteFallback ? byteIds(pieces) : null;
    }

    private static int[] byteIds(List<UnigramPiece> pieces) {
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < pieces.size(); id++) {
            ids.putIfAbsent(pieces.get(id).text(), id);
        }
        int[] byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = ids.get(String.format("<0x%02X>", b));
            if (id == null) {
                return null; // as tokenizers does: byte fallback needs all 256 byte pieces, else plain <unk>
            }
            byteIds[b] = id;
        }
        return byteIds;
    }

    int size() {
        return pieces.size();
    }

    String piece(int id) {
        return pieces.get(id).text();
    }

    /** Appends the ids of the best segmentation of {@code word} to {@code out}. */
    void segment(String word, List<Integer> out) {
        int n = word.length();
        // best[i]: best score of a segmentation of word[0, i); from[i]: where its last piece starts; id[i]: that piece.
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] id = new int[n + 1];
        java.util.Arrays.fill(from, -1);
        for (int start = 0; start < n; start = next(word, start)) {
            if (start > 0 && from[start] < 0) {
                continue; // not a character boundary any path reaches
            }
            boolean singleCharacterPiece = false;
            int singleEnd = next(word, start);
            int limit = Math.min(n, start + longestPieceChars);
            for (int end = singleEnd; end <= limit; end = end < n ? next(word, end) : n + 1) {
                Integer match = matchable.get(word.substring(start, end));
                if (match == null) {
                    continue;
                }
                if (end == singleEnd) {
                    singleCharacterPiece = true;
                }
                relax(best, from, id, start, end, match, pieces.get(match).score());
            }
            if (!singleCharacterPiece) {
                relax(best, from, id, start, singleEnd, unknownId, unknownScore);
            }
        }
        List<int[]> path = new ArrayList<>(); // {start, end, id}, last piece first
        for (int end = n; end > 0; end = from[end]) {
            path.add(new int[] {from[end], end, id[end]});
        }
        int unknownStart = -1;
        int unknownEnd = -1;
        for (int k = path.size() - 1; k >= 0; k--) {
            int[] step = path.get(k);
            if (step[2] == unknownId) {
                if (unknownStart < 0) {
                    unknownStart = step[0];
                }
                unknownEnd = step[1];
                continue;
            }
            if (unknownStart >= 0) {
                emitUnknown(word.substring(unknownStart, unknownEnd), out);
                unknownStart = -1;
            }
            out.add(step[2]);
        }
        if (unknownStart >= 0) {
            emitUnknown(word.substring(unknownStart, unknownEnd), out);
        }
    }

    private void relax(double[] best, int[] from, int[] id, int start, int end, int pieceId, double score) {
        double total = rules == Rules.SENTENCEPIECE ? (float) ((float) best[start] + (float) score)
                : best[start] + score;
        if (from[end] < 0 || total > best[end]) {
            best[end] = total;
            from[end] = start;
            id[end] = pieceId;
        }
    }

    private void emitUnknown(String text, List<Integer> out) {
        if (byteIds == null) {
            out.add(unknownId);
            return;
        }
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            out.add(byteIds[b & 0xFF]);
        }
    }

    private static int next(String word, int index) {
        return index + Character.charCount(word.codePointAt(index));
    }
}
