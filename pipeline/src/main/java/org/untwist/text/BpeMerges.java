package org.untwist.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The ranked merge list of a BPE model and the merge loop: repeatedly join the adjacent pair with the lowest
 * rank, the leftmost one when a rank occurs more than once, until no adjacent pair has a rank. That is OpenAI's
 * loop and what tokenizers' priority queue does; this one keeps a queue too, so that a long word (an over-length
 * prompt without spaces) costs n log n rather than n³.
 */
final class BpeMerges {

    private final Map<String, Integer> rankOfPair;

    /** @param rankOfPair rank (0 first) of each merge, keyed by {@link #pairKey}. */
    BpeMerges(Map<String, Integer> rankOfPair) {
        this.rankOfPair = Map.copyOf(rankOfPair);
    }

    /** The key of a pair: the two symbols with one space between, as the merges.txt line spells it. */
    static String pairKey(String left, String right) {
        return left + ' ' + right;
    }

    int size() {
        return rankOfPair.size();
    }

    private record Candidate(int rank, int left, String leftSymbol, String rightSymbol) {
    }

    /** The symbols after all merges. */
    List<String> apply(List<String> initialSymbols) {
        int n = initialSymbols.size();
        String[] symbol = initialSymbols.toArray(new String[0]);
        int[] next = new int[n];
        int[] previous = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            previous[i] = i - 1;
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>((a, b) ->
                a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, i, symbol[i], symbol[i + 1]);
        }
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            int right = next[c.left];
            // Stale when either side has been merged into something else since the candidate was queued.
            if (symbol[c.left] == null || right < 0 || !symbol[c.left].equals(c.leftSymbol)
                    || !symbol[right].equals(c.rightSymbol)) {
                continue;
            }
            symbol[c.left] = c.leftSymbol + c.rightSymbol;
            symbol[right] = null;
            next[c.left] = next[right];
            if (next[right] >= 0) {
                previous[next[right]] = c.left;
            }
            if (previous[c.left] >= 0) {
                offer(queue, previous[c.left], symbol[previous[c.left]], symbol[c.left]);
            }
            if (next[c.left] >= 0) {
                offer(queue, c.left, symbol[c.left], symbol[next[c.left]]);
            }
        }
        List<String> merged = new ArrayList<>();
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
            merged.add(symbol[i]);
        }
        return merged;
    }

    private void offer(PriorityQueue<Candidate> queue, int left, String leftSymbol, String rightSymbol) {
        Integer rank = rankOfPair.get(pairKey(leftSymbol, rightSymbol));
        if (rank != null) {
            queue.add(new Candidate(rank, left, leftSymbol, rightSymbol));
        }
    }
}
