package org.untwist.pipeline;

/**
 * How a checkpoint is sampled unless the user says otherwise: FLUX.1 [dev] 28 steps with guidance 3.5 and the
 * dynamic shift; FLUX.1 [schnell] 4 steps, no guidance embedding, no shift.
 *
 * @param steps    sampling steps
 * @param guidance the embedded guidance value, or null for a model without guidance embedding
 * @param schedule the time schedule
 */
public record SamplingDefaults(int steps, Float guidance, ScheduleSettings schedule) {

    /** FLUX.1 [dev]'s defaults with {@code schedule}. */
    public static SamplingDefaults dev(ScheduleSettings schedule) {
        return new SamplingDefaults(28, 3.5f, schedule);
    }

    /** FLUX.1 [schnell]'s defaults with {@code schedule}. */
    public static SamplingDefaults schnell(ScheduleSettings schedule) {
        return new SamplingDefaults(4, null, schedule);
    }
}
