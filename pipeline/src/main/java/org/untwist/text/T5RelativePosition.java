package org.untwist.text;

/**
 * T5's relative position buckets (bidirectional, as the encoder uses them): offsets {@code j − i} of a key from
 * a query map to {@code numBuckets} buckets, exact for small distances and log-spaced up to
 * {@code maxDistance}, with the sign in the upper half. Each bucket has one learned bias per head.
 */
final class T5RelativePosition {

    private T5RelativePosition() {
    }

    /**
     * The bucket of offset {@code relative = j − i}. The log-spaced part is computed in float32 step by step as
     * transformers' PyTorch code does, because distances that land exactly on a bucket edge (16, 32, 64 for
     * T5's 32 buckets and distance 128) truncate differently in double precision; this matches
     * {@code T5Attention._relative_position_bucket} for every offset up to ±5000 on eight configurations
     * (checked against transformers 5.18, see T5RelativePositionTest).
     */
    static int bucket(int relative, int numBuckets, int maxDistance) {
        int half = numBuckets / 2;
        int bucket = relative > 0 ? half : 0;
        int distance = Math.abs(relative);
        int maxExact = half / 2;
        if (distance < maxExact) {
            return bucket + distance;
        }
        float ratio = (float) distance / (float) maxExact;
        float logRatio = (float) Math.log(ratio);
        float logRange = (float) Math.log(maxDistance / (double) maxExact);
        float scaled = logRatio / logRange * (float) (half - maxExact);
        return bucket + Math.min(maxExact + (int) scaled, half - 1);
    }

    /**
     * Buckets of every offset between {@code queries} queries and {@code keys} keys: entry {@code j − i + queries − 1},
     * the row layout of the position bias the attention operation takes.
     */
    static int[] offsetBuckets(int queries, int keys, int numBuckets, int maxDistance) {
        int[] buckets = new int[queries + keys - 1];
        for (int n = 0; n < buckets.length; n++) {
            buckets[n] = bucket(n - (queries - 1), numBuckets, maxDistance);
        }
        return buckets;
    }
}
