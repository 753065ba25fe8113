package org.untwist.tensor;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sizes as people write them in properties: {@code 123}, {@code 64k}, {@code 512m}, {@code 8g}, {@code 1t} (binary units, an optional {@code b}/{@code ib}). */
public final class ByteSize {
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(?:i?b)?", Pattern.CASE_INSENSITIVE);

    private ByteSize() {
    }

    /** The bytes {@code s} stands for (saturating at {@code Long.MAX_VALUE}); throws for anything else. */
    public static long parse(String s) {
        Matcher m = SIZE.matcher(s.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + s + "' is not a size such as 8g or 512m");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        return (long) Math.min(Long.MAX_VALUE, Double.parseDouble(m.group(1)) * (1L << shift));
    }

    /** The size a system property holds; 0 when it is unset, blank or not a size (for knobs read on the way out of a call). */
    public static long propertyOrZero(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            return parse(v);
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }
}
