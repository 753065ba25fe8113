package org.untwist.cli;

import java.awt.Color;
import java.awt.Font;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.untwist.demo.GlyphImage;

/** A labelled image grid: a header of column names, one row per label. */
final class GridPng {
    private GridPng() {
    }

    /**
     * Writes the grid; returns false when the labels could not be drawn because the machine has no fonts (a
     * headless server without fontconfig fonts), in which case the grid is written without them.
     */
    static boolean write(Path file, List<String> columns, List<String> rows, List<List<GlyphImage>> cells, int zoom) throws IOException {
        int side = cells.get(0).get(0).size() * zoom, gap = 6, head = 22, left = 28;
        int w = left + columns.size() * (side + gap), h = head + rows.size() * (side + gap);
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        var g = out.createGraphics();
        boolean labelled = true;
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            try {
                g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                g.setColor(Color.BLACK);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
                for (int c = 0; c < columns.size(); c++) {
                    g.drawString(columns.get(c), left + c * (side + gap), head - 7);
                }
                for (int r = 0; r < rows.size(); r++) {
                    g.drawString(rows.get(r), 8, head + r * (side + gap) + side / 2 + 5);
                }
            } catch (RuntimeException | Error noFonts) { // e.g. "Fontconfig head is null" on a font-less server
                labelled = false;
            }
            for (int r = 0; r < rows.size(); r++) {
                for (int c = 0; c < cells.get(r).size(); c++) {
                    g.drawImage(cells.get(r).get(c).toBufferedImage(zoom), left + c * (side + gap), head + r * (side + gap), null);
                }
            }
        } finally {
            g.dispose();
        }
        if (!ImageIO.write(out, "png", file.toFile())) {
            throw new IOException("no PNG writer for " + file);
        }
        return labelled;
    }
}
