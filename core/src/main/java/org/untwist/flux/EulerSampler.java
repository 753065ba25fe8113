package org.untwist.flux;

import org.untwist.backend.Backend;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * The reference's {@code denoise}: for each pair of consecutive times, predict the velocity at
 * {@code t_curr} and take the Euler step {@code x ← x + (t_prev − t_curr) · v}.
 */
public final class EulerSampler {
    /** Observes progress: called after each step with the step index (from 0) and the step count. */
    @FunctionalInterface
    public interface StepListener {
        void stepDone(int step, int steps);
    }

    private EulerSampler() {
    }

    /**
     * Integrates from {@code start.img()} along {@code timesteps} (first the noisiest) with a constant guidance
     * value, returning a new tensor the caller owns; {@code start} is not modified.
     */
    public static Tensor denoise(FluxModel model, FluxInputs start, float[] timesteps, float guidance, StepListener listener) {
        if (timesteps.length < 2) {
            throw new IllegalArgumentException("a schedule needs at least 2 times, got " + timesteps.length);
        }
        Backend be = model.backend();
        int b = start.batch(), li = start.imageTokens(), ch = model.config().outChannels();
        if (model.config().inChannels() != ch) {
            throw new IllegalArgumentException("sampling needs in_channels == out_channels, got " + model.config().inChannels() + " and " + ch);
        }
        Tensor img = start.img().copy(DType.F32);
        try (Tensor t = Tensor.allocate(b);
             Tensor g = Tensor.allocate(b);
             Tensor dt = Tensor.allocate(b, ch);
             Tensor pred = Tensor.allocate(b, li, ch)) {
            g.fill(guidance);
            FluxInputs in = start.with(img, t, g);
            int steps = timesteps.length - 1;
            for (int i = 0; i < steps; i++) {
                float tCurr = timesteps[i];
                t.fill(tCurr);
                model.forward(in, pred);
                // The reference multiplies a float32 tensor by the Python float (t_prev - t_curr).
                dt.fill((float) ((double) timesteps[i + 1] - (double) tCurr));
                be.gatedResidual(img, dt, pred, img); // img + dt · pred: an Euler step is a residual with a constant gate
                if (listener != null) {
                    listener.stepDone(i, steps);
                }
            }
            return img;
        } catch (RuntimeException e) {
            img.close();
            throw e;
        }
    }

}
