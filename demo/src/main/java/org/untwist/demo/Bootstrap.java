package org.untwist.demo;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Percentile-bootstrap confidence intervals of a mean (resampling the given units with replacement). */
public final class Bootstrap {
    /** A mean with its {@code level} confidence interval. */
    public record Interval(double mean, double low, double high) {
    }

    private Bootstrap() {
    }

    public static Interval mean(double[] values, double level, int resamples, long seed) {
        if (values.length == 0) {
            return new Interval(Double.NaN, Double.NaN, Double.NaN);
        }
        double mean = Arrays.stream(values).average().orElseThrow();
        SplittableRandom r = new SplittableRandom(seed);
        double[] means = new double[resamples];
        for (int b = 0; b < resamples; b++) {
            double s = 0;
            for (int i = 0; i < values.length; i++) {
                s += values[r.nextInt(values.length)];
            }
            means[b] = s / values.length;
        }
        Arrays.sort(means);
        double alpha = (1 - level) / 2;
        int lo = (int) Math.floor(alpha * (resamples - 1)), hi = (int) Math.ceil((1 - alpha) * (resamples - 1));
        return new Interval(mean, means[lo], means[hi]);
    }
}
