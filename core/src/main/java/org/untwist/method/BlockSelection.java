package org.untwist.method;

import java.util.BitSet;
import java.util.Locale;

/**
 * The transformer blocks in which sharing applies. Parsed from {@code all}, {@code double}, {@code single},
 * {@code none}, or a comma list of ranges such as {@code d0-18,s10-37,s40} ({@code d} double-stream,
 * {@code s} single-stream, inclusive ranges).
 */
public final class BlockSelection {
    private final BitSet doubles = new BitSet();
    private final BitSet singles = new BitSet();
    private final String spec;

    private BlockSelection(String spec) {
        this.spec = spec;
    }

    /**
     * Parses a selection for a model with {@code depth} double and {@code depthSingle} single blocks.
     *
     * @throws IllegalArgumentException for a malformed spec or an index out of range, naming it
     */
    public static BlockSelection parse(String spec, int depth, int depthSingle) {
        BlockSelection s = new BlockSelection(spec);
        String t = spec == null ? "" : spec.trim().toLowerCase(Locale.ROOT);
        switch (t) {
            case "all", "both" -> {
                s.doubles.set(0, depth);
                s.singles.set(0, depthSingle);
                return s;
            }
            case "double" -> {
                s.doubles.set(0, depth);
                return s;
            }
            case "single" -> {
                s.singles.set(0, depthSingle);
                return s;
            }
            case "none" -> {
                return s;
            }
            default -> {
            }
        }
        if (t.isEmpty()) {
            throw new IllegalArgumentException("empty block selection (use all, double, single, none or ranges like d0-18,s10-37)");
        }
        for (String part : t.split(",")) {
            part = part.trim();
            if (part.length() < 2 || (part.charAt(0) != 'd' && part.charAt(0) != 's')) {
                throw new IllegalArgumentException("block range '" + part + "' must start with d (double) or s (single), e.g. d0-18");
            }
            boolean dbl = part.charAt(0) == 'd';
            int max = dbl ? depth : depthSingle;
            String[] ends = part.substring(1).split("-", -1);
            int from, to;
            try {
                from = Integer.parseInt(ends[0]);
                to = ends.length == 1 ? from : Integer.parseInt(ends[1]);
            } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
                throw new IllegalArgumentException("block range '" + part + "' is not of the form d3 or d0-18");
            }
            if (ends.length > 2 || from < 0 || to < from || to >= max) {
                throw new IllegalArgumentException("block range '" + part + "' is out of range: the model has " + max + " "
                        + (dbl ? "double" : "single") + "-stream blocks (indices 0-" + (max - 1) + ")");
            }
            (dbl ? s.doubles : s.singles).set(from, to + 1);
        }
        return s;
    }

    /** Whether double-stream block {@code i} shares attention. */
    public boolean doubleBlock(int i) {
        return doubles.get(i);
    }

    /** Whether single-stream block {@code i} shares attention. */
    public boolean singleBlock(int i) {
        return singles.get(i);
    }

    @Override
    public String toString() {
        return spec;
    }
}
