package org.untwist.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A chart that cannot draw its text (a machine without fonts) is reported and skipped, not fatal. */
class PlotsTest {
    @Test
    void aChartThatFailsForWantOfFontsIsReportedAndSkipped() throws Exception {
        StringWriter text = new StringWriter();
        // what AWT throws on a headless server without fontconfig fonts
        boolean written = Plots.writeOrReport(Path.of("out", "band_curves.png"), () -> {
            throw new Error("Fontconfig head is null, check your fonts or fonts configuration");
        }, new PrintWriter(text, true));
        assertFalse(written);
        assertTrue(text.toString().startsWith("untwist: band_curves.png not written (java.lang.Error: Fontconfig head is null"), text.toString());
    }

    @Test
    void aChartThatDrawsIsWrittenSilently() throws Exception {
        StringWriter text = new StringWriter();
        int[] calls = {0};
        assertTrue(Plots.writeOrReport(Path.of("x.png"), () -> calls[0]++, new PrintWriter(text, true)));
        assertEquals(1, calls[0]);
        assertEquals("", text.toString());
    }
}
