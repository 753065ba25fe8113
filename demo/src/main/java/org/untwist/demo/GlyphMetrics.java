package org.untwist.demo;

/**
 * The scores of the copying-versus-style experiment, computed from images alone (no learned judge):
 * <ul>
 *   <li><b>glyph mask</b>: the background is modelled by a per-channel plane (colour + linear gradient) fitted by
 *       least squares to the 2-pixel border, which a centred glyph never touches; a pixel's mask value is its
 *       colour distance from that plane relative to half the image's foreground contrast, clamped to [0, 1];</li>
 *   <li><b>content</b>: the mask is classified as the character whose glyph template (any font of the atlas) has
 *       the highest normalized cross-correlation (NCC) with it; correct when that is the prompted character;</li>
 *   <li><b>copy</b>: the NCC of the target's mask with the reference's mask (layout similarity), and whether the
 *       target is classified as the reference's character;</li>
 *   <li><b>style</b>: {@code 1 − mean L1 distance} of four colour statistics between target and reference:
 *       background colour, background gradient, glyph colour, and the glyph colour's spread (texture);</li>
 *   <li><b>font affinity</b>: NCC with the prompted character in the reference's font minus its mean NCC over all
 *       fonts (above 0: the glyph looks more like the reference's font than like the average font).</li>
 * </ul>
 */
public final class GlyphMetrics {
    private static final int BORDER = 2;
    private static final float MIN_CONTRAST = 0.08f;

    private final GlyphAtlas atlas;
    private final int size;
    private final float[][][] templates; // [font][character] mean-centred, unit-norm

    /**
     * @param mask     soft glyph mask {@code [size²]} in [0, 1] (all zeros when there is no glyph)
     * @param bg       background colour at the image centre (RGB)
     * @param bgSlope  background gradient per channel: (d/dy, d/dx) over the image side
     * @param fg       mean glyph colour (RGB), weighted by (distance / contrast)⁴ so edges barely count
     * @param fgSpread standard deviation of the glyph colour per channel (textures raise it)
     * @param contrast mean colour distance of the 10 % most distant pixels from the background plane
     */
    public record Features(float[] mask, double[] bg, double[] bgSlope, double[] fg, double[] fgSpread, double contrast) {
        public boolean hasGlyph() {
            return contrast >= MIN_CONTRAST;
        }
    }

    /**
     * @param predicted       character index the target is classified as (-1 without a glyph)
     * @param contentCorrect  predicted == the prompted character
     * @param copiedReference predicted == the reference's character
     * @param copy            NCC of target and reference masks
     * @param style           style similarity in [0, 1]
     * @param fontAffinity    see the class comment
     */
    public record Scores(int predicted, boolean contentCorrect, boolean copiedReference, double copy, double style, double fontAffinity) {
    }

    public GlyphMetrics(GlyphAtlas atlas) {
        this.atlas = atlas;
        this.size = atlas.size();
        int c = atlas.characters().length();
        templates = new float[atlas.fontCount()][c][];
        for (int f = 0; f < atlas.fontCount(); f++) {
            for (int ch = 0; ch < c; ch++) {
                float[] t = new float[size * size];
                System.arraycopy(atlas.masks(), atlas.offset(f, ch), t, 0, t.length);
                templates[f][ch] = normalized(t);
            }
        }
    }

    public Features features(GlyphImage img) {
        if (img.size() != size) {
            throw new IllegalArgumentException("image side " + img.size() + " does not match the atlas (" + size + ")");
        }
        int n = size * size;
        double mid = (size - 1) / 2.0;
        // Least-squares plane v = a + b·u + d·w (u, w = centred y, x over the side) per channel on the border.
        double[][] ata = new double[3][3];
        double[][] atb = new double[3][3];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                if (Math.min(Math.min(x, y), Math.min(size - 1 - x, size - 1 - y)) >= BORDER) {
                    continue;
                }
                double[] row = {1, (y - mid) / size, (x - mid) / size};
                for (int i = 0; i < 3; i++) {
                    for (int j = 0; j < 3; j++) {
                        ata[i][j] += row[i] * row[j];
                    }
                    for (int ch = 0; ch < 3; ch++) {
                        atb[ch][i] += row[i] * img.at(ch, y, x);
                    }
                }
            }
        }
        double[][] plane = new double[3][];
        for (int ch = 0; ch < 3; ch++) {
            plane[ch] = solve3(ata, atb[ch]);
        }
        float[] dist = new float[n];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double u = (y - mid) / size, w = (x - mid) / size, s = 0;
                for (int ch = 0; ch < 3; ch++) {
                    double d = img.at(ch, y, x) - (plane[ch][0] + plane[ch][1] * u + plane[ch][2] * w);
                    s += d * d;
                }
                dist[y * size + x] = (float) Math.sqrt(s);
            }
        }
        float[] sorted = dist.clone();
        java.util.Arrays.sort(sorted);
        int top = Math.max(1, n / 10);
        double contrast = 0;
        for (int i = n - top; i < n; i++) {
            contrast += sorted[i] / top;
        }
        float[] mask = new float[n];
        double[] fg = new double[3], fg2 = new double[3];
        double wsum = 0;
        if (contrast >= MIN_CONTRAST) {
            for (int i = 0; i < n; i++) {
                mask[i] = (float) Math.min(1.0, dist[i] / (0.5 * contrast));
                // Weight by coverage⁴ so anti-aliased edges, half background, barely count.
                double cover = Math.min(1.0, dist[i] / contrast), wgt = cover * cover * cover * cover;
                wsum += wgt;
                for (int ch = 0; ch < 3; ch++) {
                    double v = img.rgb()[ch * n + i];
                    fg[ch] += wgt * v;
                    fg2[ch] += wgt * v * v;
                }
            }
        }
        double[] spread = new double[3];
        for (int ch = 0; ch < 3; ch++) {
            if (wsum > 0) {
                fg[ch] /= wsum;
                spread[ch] = Math.sqrt(Math.max(0, fg2[ch] / wsum - fg[ch] * fg[ch]));
            } else {
                fg[ch] = plane[ch][0];
            }
        }
        double[] bg = {plane[0][0], plane[1][0], plane[2][0]};
        double[] slope = {plane[0][1], plane[0][2], plane[1][1], plane[1][2], plane[2][1], plane[2][2]};
        return new Features(mask, bg, slope, fg, spread, contrast);
    }

    /** The character index a mask is classified as, or -1 for an image without a glyph. */
    public int classify(Features f) {
        return f.hasGlyph() ? argmaxClass(normalized(f.mask().clone())) : -1;
    }

    /** The character whose best template over all fonts has the highest NCC with a normalized mask. */
    private int argmaxClass(float[] normalizedMask) {
        double[] s = new double[atlas.characters().length()];
        java.util.Arrays.fill(s, -1);
        for (float[][] font : templates) {
            for (int c = 0; c < font.length; c++) {
                s[c] = Math.max(s[c], dot(normalizedMask, font[c]));
            }
        }
        int arg = 0;
        for (int c = 1; c < s.length; c++) {
            if (s[c] > s[arg]) {
                arg = c;
            }
        }
        return arg;
    }

    public Scores scores(Features target, int prompt, Features reference, int referenceChar, int referenceFont) {
        float[] m = target.hasGlyph() ? normalized(target.mask().clone()) : null;
        int pred = m == null ? -1 : argmaxClass(m);
        double copy = target.hasGlyph() && reference.hasGlyph() ? ncc(target.mask(), reference.mask()) : 0;
        double style = 1 - (l1(target.bg(), reference.bg()) + l1(target.bgSlope(), reference.bgSlope())
                + l1(target.fg(), reference.fg()) + l1(target.fgSpread(), reference.fgSpread())) / 4;
        double affinity = 0;
        if (m != null) {
            double mean = 0;
            for (float[][] font : templates) {
                mean += dot(m, font[prompt]) / templates.length;
            }
            affinity = dot(m, templates[referenceFont][prompt]) - mean;
        }
        return new Scores(pred, pred == prompt, pred == referenceChar, copy, style, affinity);
    }

    /** The scores of target {@code i} (prompted with character {@code prompts[i]}) against one reference. */
    public java.util.List<Scores> scores(java.util.List<GlyphImage> targets, int[] prompts, Features reference, int referenceChar,
                                         int referenceFont) {
        java.util.List<Scores> out = new java.util.ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            out.add(scores(features(targets.get(i)), prompts[i], reference, referenceChar, referenceFont));
        }
        return out;
    }

    /** The aligned-attention mass of attention spread uniformly over a {@code grid × grid} image. */
    public static double uniformAlignedMass(int grid, double radius) {
        double total = 0;
        for (int i = 0; i < grid * grid; i++) {
            int near = 0;
            for (int j = 0; j < grid * grid; j++) {
                double dr = i / grid - j / grid, dc = i % grid - j % grid;
                if (dr * dr + dc * dc <= radius * radius) {
                    near++;
                }
            }
            total += (double) near / (grid * grid);
        }
        return total / (grid * grid);
    }

    static double ncc(float[] a, float[] b) {
        return dot(normalized(a.clone()), normalized(b.clone()));
    }

    private static float[] normalized(float[] v) {
        double mean = 0;
        for (float x : v) {
            mean += x / v.length;
        }
        double norm = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] -= (float) mean;
            norm += v[i] * v[i];
        }
        float inv = norm > 0 ? (float) (1 / Math.sqrt(norm)) : 0;
        for (int i = 0; i < v.length; i++) {
            v[i] *= inv;
        }
        return v;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double l1(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += Math.abs(a[i] - b[i]);
        }
        return s / a.length;
    }

    private static double[] solve3(double[][] m, double[] r) {
        double[][] a = new double[3][4];
        for (int i = 0; i < 3; i++) {
            System.arraycopy(m[i], 0, a[i], 0, 3);
            a[i][3] = r[i];
        }
        for (int c = 0; c < 3; c++) {
            int p = c;
            for (int i = c + 1; i < 3; i++) {
                if (Math.abs(a[i][c]) > Math.abs(a[p][c])) {
                    p = i;
                }
            }
            double[] t = a[c];
            a[c] = a[p];
            a[p] = t;
            for (int i = 0; i < 3; i++) {
                if (i != c) {
                    double f = a[i][c] / a[c][c];
                    for (int j = c; j < 4; j++) {
                        a[i][j] -= f * a[c][j];
                    }
                }
            }
        }
        return new double[] {a[0][3] / a[0][0], a[1][3] / a[1][1], a[2][3] / a[2][2]};
    }
}
