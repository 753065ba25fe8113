package org.untwist.cli;

import java.util.ArrayList;
import java.util.List;
import org.untwist.flux.FluxConfig;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
import org.untwist.sampling.GaussianNoise;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/**
 * The batch of style-aligned generation built from an inputs file: element 0 the reference, then the
 * targets. Conditioning ({@code txt, txt_ids, y}) comes from the file: with batch 1 every image gets that
 * prompt; with batch {@code 1 + targets} element 0 is the reference prompt and the rest the targets'. The
 * starting noise is Gaussian from the seeds (reference: {@code refSeed}; target {@code i}: {@code seed + i}).
 */
record SharedBatch(FluxInputs inputs, List<Tensor> owned) implements AutoCloseable {

    /**
     * The native memory of style-aligned generation of {@code targets} targets from this inputs file, before
     * any of it is allocated: the model's workspace for batch {@code 1 + targets} and what shared attention
     * adds ({@link FluxModel#activationBytes}, {@link FluxModel#sharingBytes}), this batch of inputs, and the
     * sampler's state, prediction and result. 0 when the file's shapes are wrong (the build reports them).
     */
    static long bytesNeeded(SafeTensors f, FluxConfig c, long targets, boolean stats, int bandTerms, boolean shiftPe) {
        if (!f.contains("img") || !f.contains("txt") || f.tensor("img").rank() != 3 || f.tensor("txt").rank() != 3) {
            return 0;
        }
        long b = 1 + targets, li = f.tensor("img").dim(1), ch = f.tensor("img").dim(2), lt = f.tensor("txt").dim(1);
        long axes = c.axesDim().length;
        long inputs = MemoryBudget.floats(b, li * ch + li * axes + lt * c.contextInDim() + lt * axes + c.vecInDim() + 2);
        long sampler = MemoryBudget.sum(MemoryBudget.floats(b, 2 * li * ch + ch + 2), MemoryBudget.floats(li, ch));
        return MemoryBudget.sum(FluxModel.activationBytes(c, b, lt, li), FluxModel.sharingBytes(c, b, lt, li, stats, bandTerms, shiftPe),
                inputs, sampler);
    }

    static SharedBatch build(SafeTensors f, int targets, long refSeed, long seed) {
        if (targets < 1) {
            throw new IllegalArgumentException("--targets must be >= 1, got " + targets);
        }
        int b = 1 + targets;
        Tensor img0 = TensorFiles.require(f, "img");
        if (img0.rank() != 3) {
            throw new IllegalArgumentException(f.path() + ": 'img' must be [B, Li, C]");
        }
        List<Tensor> owned = new ArrayList<>();
        try {
            Tensor img = Tensor.allocate(b, img0.dim(1), img0.dim(2));
            owned.add(img);
            long per = (long) img0.dim(1) * img0.dim(2);
            for (int e = 0; e < b; e++) {
                GaussianNoise.fill(img, e * per, per, e == 0 ? refSeed : seed + e - 1);
            }
            Tensor imgIds = batch(f, "img_ids", b, owned, false);
            Tensor txt = batch(f, "txt", b, owned, true);
            Tensor txtIds = batch(f, "txt_ids", b, owned, true);
            Tensor y = batch(f, "y", b, owned, true);
            Tensor t = Tensor.allocate(b);
            Tensor g = Tensor.allocate(b);
            owned.add(t);
            owned.add(g);
            return new SharedBatch(new FluxInputs(img, imgIds, txt, txtIds, y, t, g), owned);
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            throw e;
        }
    }

    /** Batch 1 is repeated; batch {@code b} is taken as is (when {@code perImage}). */
    private static Tensor batch(SafeTensors f, String name, int b, List<Tensor> owned, boolean perImage) {
        Tensor src = TensorFiles.require(f, name);
        int[] shape = src.shape();
        if (shape.length == 0) {
            throw new IllegalArgumentException(f.path() + ": '" + name + "' has no batch dimension");
        }
        if (shape[0] != 1 && !(perImage && shape[0] == b)) {
            throw new IllegalArgumentException(f.path() + ": '" + name + "' has batch " + shape[0] + "; expected 1"
                    + (perImage ? " or " + b + " (reference + targets)" : ""));
        }
        int srcBatch = shape[0];
        shape[0] = b;
        Tensor out = Tensor.allocate(shape);
        owned.add(out);
        for (int e = 0; e < b; e++) {
            out.rows(e, 1).copyFrom(src.rows(srcBatch == 1 ? 0 : e, 1));
        }
        return out;
    }

    @Override
    public void close() {
        owned.forEach(Tensor::close);
    }
}
