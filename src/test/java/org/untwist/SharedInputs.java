package org.untwist;

import java.util.List;
import java.util.Random;
import org.untwist.flux.FluxInputs;
import org.untwist.io.SafeTensors;
import org.untwist.tensor.Tensor;

/** Golden inputs replicated into a batch for shared attention: element 0 the reference, then targets. */
record SharedInputs(FluxInputs inputs, List<Tensor> owned) implements AutoCloseable {

    /**
     * @param seed noise seed of the targets' images, or -1 to give every target the reference's image
     */
    static SharedInputs pair(SafeTensors in, int batch, long seed) {
        Tensor img = repeat(in.tensor("img"), batch), ids = repeat(in.tensor("img_ids"), batch), txt = repeat(in.tensor("txt"), batch),
                txtIds = repeat(in.tensor("txt_ids"), batch), y = repeat(in.tensor("y"), batch), t = repeat(in.tensor("timesteps"), batch),
                g = repeat(in.tensor("guidance"), batch);
        if (seed != -1) {
            Random r = new Random(seed);
            long per = img.numel() / batch;
            for (long e = per; e < img.numel(); e++) {
                img.set(e, (float) r.nextGaussian());
            }
        }
        return new SharedInputs(new FluxInputs(img, ids, txt, txtIds, y, t, g), List.of(img, ids, txt, txtIds, y, t, g));
    }

    private static Tensor repeat(Tensor one, int batch) {
        int[] shape = one.shape();
        shape[0] = batch;
        Tensor out = Tensor.allocate(shape);
        for (int b = 0; b < batch; b++) {
            out.rows(b, 1).copyFrom(one);
        }
        return out;
    }

    @Override
    public void close() {
        owned.forEach(Tensor::close);
    }
}
