package org.untwist.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** PNG output: line and bar charts through JFreeChart, attention heat maps drawn directly. Headless. */
final class Plots {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Plots() {
    }

    /** Draws and writes one chart. */
    @FunctionalInterface
    interface Chart {
        void write() throws IOException;
    }

    /**
     * Writes the chart, or says on {@code err} that {@code file} was not written and why: charts draw text, and AWT
     * text needs fontconfig fonts, which a headless server may lack ("Fontconfig head is null", thrown as an
     * {@link Error}). The caller's tables do not depend on it. Returns whether the chart was written.
     */
    static boolean writeOrReport(Path file, Chart chart, PrintWriter err) throws IOException {
        try {
            chart.write();
            return true;
        } catch (RuntimeException | Error noFonts) {
            err.println("untwist: " + file.getFileName() + " not written (" + noFonts + "); the tables are complete");
            return false;
        }
    }

    /** One line per named series over x = 0, 1, 2, .... */
    static void lines(Path file, String title, String xLabel, String yLabel, Map<String, double[]> series) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        series.forEach((name, ys) -> {
            XYSeries s = new XYSeries(name);
            for (int x = 0; x < ys.length; x++) {
                s.add(x, ys[x]);
            }
            data.addSeries(s);
        });
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL, true, false, false);
        chart.getXYPlot().setBackgroundPaint(Color.WHITE);
        for (int i = 0; i < series.size(); i++) {
            chart.getXYPlot().getRenderer().setSeriesStroke(i, new BasicStroke(2f));
        }
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 800, 500);
    }

    /** Grouped bars: {@code values.get(group).get(category)}. */
    static void bars(Path file, String title, String categoryLabel, String valueLabel, Map<String, Map<String, Double>> values) throws IOException {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        values.forEach((group, byCat) -> byCat.forEach((cat, v) -> data.addValue(v, group, cat)));
        JFreeChart chart = ChartFactory.createBarChart(title, categoryLabel, valueLabel, data, PlotOrientation.VERTICAL, true, false, false);
        chart.getCategoryPlot().setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 500);
    }

    /**
     * A grid of heat maps: {@code rows × columns} panels, each a {@code gridRows × gridCols} map normalized to its
     * own maximum, with the query position outlined in red.
     */
    static void heatmaps(Path file, String title, List<String> rowNames, List<String> colNames, float[][][] maps, int[][] queryCells,
                         int gridRows, int gridCols) throws IOException {
        int cell = Math.max(4, 160 / Math.max(gridRows, gridCols));
        int pw = gridCols * cell, ph = gridRows * cell, pad = 10, left = 120, top = 50;
        int w = left + colNames.size() * (pw + pad), h = top + rowNames.size() * (ph + pad) + 10;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, 10, 18);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (int c = 0; c < colNames.size(); c++) {
            g.drawString(colNames.get(c), left + c * (pw + pad), top - 6);
        }
        for (int r = 0; r < rowNames.size(); r++) {
            int y0 = top + r * (ph + pad);
            g.setColor(Color.BLACK);
            g.drawString(rowNames.get(r), 10, y0 + ph / 2);
            for (int c = 0; c < colNames.size(); c++) {
                int x0 = left + c * (pw + pad);
                float[] m = maps[r][c];
                float max = 1e-12f;
                for (float v : m) {
                    max = Math.max(max, v);
                }
                for (int t = 0; t < m.length; t++) {
                    float v = m[t] / max;
                    g.setColor(viridisLike(v));
                    g.fillRect(x0 + (t % gridCols) * cell, y0 + (t / gridCols) * cell, cell, cell);
                }
                g.setColor(Color.RED);
                g.setStroke(new BasicStroke(2f));
                g.drawRect(x0 + queryCells[c][1] * cell, y0 + queryCells[c][0] * cell, cell - 1, cell - 1);
            }
        }
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    /** Dark blue → teal → yellow. */
    /** One point per named setting with x and y confidence intervals: {x, xLow, xHigh, y, yLow, yHigh}. */
    static void scatterWithIntervals(Path file, String title, String xLabel, String yLabel, Map<String, double[]> points) throws IOException {
        var data = new org.jfree.data.xy.XYIntervalSeriesCollection();
        for (var e : points.entrySet()) {
            var series = new org.jfree.data.xy.XYIntervalSeries(e.getKey());
            double[] v = e.getValue();
            series.add(v[0], v[1], v[2], v[3], v[4], v[5]);
            data.addSeries(series);
        }
        var renderer = new org.jfree.chart.renderer.xy.XYErrorRenderer();
        renderer.setDefaultShapesVisible(true);
        renderer.setDefaultLinesVisible(false);
        var xAxis = new org.jfree.chart.axis.NumberAxis(xLabel);
        var yAxis = new org.jfree.chart.axis.NumberAxis(yLabel);
        xAxis.setAutoRangeIncludesZero(false);
        yAxis.setAutoRangeIncludesZero(false);
        var plot = new org.jfree.chart.plot.XYPlot(data, xAxis, yAxis, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 600);
    }

    private static Color viridisLike(float v) {
        v = Math.max(0, Math.min(1, v));
        float r = v < 0.5f ? 0.27f * (1 - 2 * v) + 0.13f * 2 * v : 0.13f + (0.99f - 0.13f) * (2 * v - 1);
        float gg = 0.0f + 0.91f * v;
        float b = v < 0.5f ? 0.33f + 0.22f * 2 * v : 0.55f - 0.41f * (2 * v - 1);
        return new Color(Math.max(0, Math.min(1, r)), Math.max(0, Math.min(1, gg)), Math.max(0, Math.min(1, b)));
    }
}
