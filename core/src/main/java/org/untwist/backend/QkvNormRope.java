package org.untwist.backend;

import org.untwist.tensor.Tensor;

/**
 * {@link Backend#splitQkvNormRope} as the three operations it stands for, each on the rows the split wrote: the
 * default for backends that do not do it in one pass, and the sequence the one-pass kernels are tested against.
 * A stream written at a token offset leaves, in each (batch, head), one contiguous run of {@code L} rows of q and k:
 * the norms and rotations run on views of those runs.
 */
final class QkvNormRope {
    private QkvNormRope() {
    }

    static void composed(Backend be, Tensor qkv, Tensor qScale, Tensor kScale, float eps, Tensor pe, Tensor q, Tensor k, Tensor v,
                         int tokenOffset) {
        be.splitQkv(qkv, q, k, v, tokenOffset);
        int b = q.dim(0), h = q.dim(1), lTot = q.dim(2), d = q.dim(3), l = qkv.dim(1);
        if (tokenOffset == 0 && l == lTot) { // the whole sequence: one call each
            normRope(be, q, k, qScale, kScale, eps, pe);
            return;
        }
        if (l == 0 || (long) b * h * d == 0) {
            return;
        }
        Tensor qRows = q.reshape(b * h * lTot, d), kRows = k.reshape(b * h * lTot, d);
        int peBatch = pe == null ? 0 : pe.dim(0);
        Tensor peRows = pe == null ? null : pe.reshape(peBatch * lTot, d / 2, 2, 2);
        for (int bi = 0; bi < b; bi++) {
            Tensor peRun = pe == null ? null : peRows.rows((peBatch == 1 ? 0 : bi) * lTot + tokenOffset, l).reshape(1, 1, l, d / 2, 2, 2);
            for (int hi = 0; hi < h; hi++) {
                int start = (bi * h + hi) * lTot + tokenOffset;
                normRope(be, qRows.rows(start, l).reshape(1, 1, l, d), kRows.rows(start, l).reshape(1, 1, l, d), qScale, kScale, eps, peRun);
            }
        }
    }

    private static void normRope(Backend be, Tensor q, Tensor k, Tensor qScale, Tensor kScale, float eps, Tensor pe) {
        be.rmsNorm(q, qScale, eps, q);
        be.rmsNorm(k, kScale, eps, k);
        if (pe != null) {
            be.applyRope(q, pe, q);
            be.applyRope(k, pe, k);
        }
    }
}
