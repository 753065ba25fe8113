package org.untwist.method;

/** How target images attend to the reference image (PAPER.md §4, §7). */
public enum SharingMode {
    /** No sharing: every image attends only to itself. */
    NONE,
    /** Plain shared attention, {@code s ≡ 1}: the copying baseline. */
    FULL,
    /** The method: reference keys' RoPE chunks scaled by the scheduled band vector. */
    UNTWISTED,
    /** StyleAligned: AdaIN of target image Q/K to the reference's token statistics, plus a uniform key scale. */
    STYLE_ALIGNED,
    /** AlignedGen's ShiftPE: reference keys rotated as if the reference sat one image width to the right. */
    SHIFT_PE;

    /** The mode's name in the CLI, tables and files: lower case with hyphens ({@code style-aligned}). */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
