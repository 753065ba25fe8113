package org.untwist.sampling;

import org.untwist.backend.Backend;
import org.untwist.flux.FluxInputs;
import org.untwist.flux.FluxModel;
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

    /**
     * The model call of one step: writes the velocity at time {@code tCurr} for the current state
     * {@code in.img()} into {@code pred}. A sampler may first adjust the state (re-noise a given reference) or
     * call the model with attention sharing.
     */
    @FunctionalInterface
    public interface Velocity {
        void predict(int step, float tCurr, FluxInputs in, Tensor pred);
    }

    private EulerSampler() {
    }

    /** The number of steps of {@code timesteps} (first the noisiest); fewer than 2 times or a non-finite time is an error. */
    public static int steps(float[] timesteps) {
        if (timesteps.length < 2) {
            throw new IllegalArgumentException("a schedule needs at least 2 times, got " + timesteps.length);
        }
        for (int i = 0; i < timesteps.length; i++) {
            if (!Float.isFinite(timesteps[i])) {
                throw new IllegalArgumentException("timesteps[" + i + "] is " + timesteps[i] + ": schedule times must be finite");
            }
        }
        return timesteps.length - 1;
    }

    /**
     * Integrates from {@code start.img()} along {@code timesteps} (first the noisiest) with a constant guidance
     * value, returning a new tensor the caller owns; {@code start} is not modified.
     */
    public static Tensor denoise(FluxModel model, FluxInputs start, float[] timesteps, float guidance, StepListener listener) {
        return integrate(model, start, timesteps, guidance, (step, tCurr, in, pred) -> model.forward(in, pred), listener);
    }

    /**
     * The Euler loop shared by every sampler: for each step, {@code velocity} predicts at {@code t_curr} and the
     * state takes the step {@code x ← x + (t_prev − t_curr) · v}. Returns the final state, owned by the caller;
     * {@code start} is not modified.
     */
    public static Tensor integrate(FluxModel model, FluxInputs start, float[] timesteps, float guidance, Velocity velocity,
                                   StepListener listener) {
        int steps = steps(timesteps);
        if (!Float.isFinite(guidance)) {
            throw new IllegalArgumentException("guidance must be finite, got " + guidance);
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
            for (int i = 0; i < steps; i++) {
                float tCurr = timesteps[i];
                t.fill(tCurr);
                velocity.predict(i, tCurr, in, pred);
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
