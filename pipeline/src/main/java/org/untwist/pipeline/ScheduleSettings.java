package org.untwist.pipeline;

import java.nio.file.Path;
import org.untwist.checkpoint.ConfigFile;
import org.untwist.sampling.FlowMatchSchedule;

/**
 * The flow-matching schedule of a checkpoint, with the names of diffusers' {@code FlowMatchEulerDiscreteScheduler}
 * ({@code scheduler/scheduler_config.json}).
 *
 * @param dynamicShift     whether the shift grows with the image's token count ({@code use_dynamic_shifting}; FLUX.1 [dev])
 * @param shift            the fixed shift when not dynamic ({@code shift}; 1 = none, FLUX.1 [schnell])
 * @param baseShift        {@code base_shift}: μ at {@code baseImageSeqLen} tokens
 * @param maxShift         {@code max_shift}: μ at {@code maxImageSeqLen} tokens
 * @param baseImageSeqLen  {@code base_image_seq_len}
 * @param maxImageSeqLen   {@code max_image_seq_len}
 */
public record ScheduleSettings(boolean dynamicShift, double shift, double baseShift, double maxShift, int baseImageSeqLen,
                               int maxImageSeqLen) {

    /** FLUX.1 [dev]: the shift of BFL's {@code get_schedule(..., shift=True)}. */
    public static final ScheduleSettings DEV = new ScheduleSettings(true, 1.0, FlowMatchSchedule.BASE_SHIFT, FlowMatchSchedule.MAX_SHIFT, 256, 4096);

    /** FLUX.1 [schnell]: no shift. */
    public static final ScheduleSettings SCHNELL = new ScheduleSettings(false, 1.0, FlowMatchSchedule.BASE_SHIFT, FlowMatchSchedule.MAX_SHIFT, 256, 4096);

    /** Reads {@code scheduler_config.json}; absent fields take diffusers' defaults. */
    public static ScheduleSettings read(Path file) {
        ConfigFile c = ConfigFile.read(file);
        String cls = c.stringOr("_class_name", "FlowMatchEulerDiscreteScheduler");
        if (!cls.equals("FlowMatchEulerDiscreteScheduler")) {
            throw new IllegalArgumentException(file + ": scheduler '" + cls + "' is not supported (supported: FlowMatchEulerDiscreteScheduler)");
        }
        ScheduleSettings s = new ScheduleSettings(c.booleanOr("use_dynamic_shifting", false), c.numberOr("shift", 1.0),
                c.numberOr("base_shift", 0.5), c.numberOr("max_shift", 1.15),
                (int) c.numberOr("base_image_seq_len", 256.0), (int) c.numberOr("max_image_seq_len", 4096.0));
        if (s.dynamicShift && (s.baseImageSeqLen != 256 || s.maxImageSeqLen != 4096)) {
            throw new IllegalArgumentException(file + ": dynamic shifting between " + s.baseImageSeqLen + " and " + s.maxImageSeqLen
                    + " image tokens is not supported (supported: 256 and 4096, as FLUX.1's)");
        }
        if (!(s.shift > 0)) {
            throw new IllegalArgumentException(file + ": shift must be positive, got " + s.shift);
        }
        return s;
    }

    /**
     * The {@code steps + 1} times from 1 to 0 for an image of {@code imageSeqLen} tokens: BFL's {@code get_schedule}
     * with the dynamic shift, or its unshifted times warped by the fixed shift {@code s·t / (1 + (s − 1)·t)}.
     */
    public float[] timesteps(int steps, int imageSeqLen) {
        if (dynamicShift) {
            return FlowMatchSchedule.timesteps(steps, imageSeqLen, baseShift, maxShift, true);
        }
        float[] t = FlowMatchSchedule.timesteps(steps, imageSeqLen, false);
        if (shift != 1.0) {
            for (int i = 0; i < t.length; i++) {
                t[i] = (float) (shift * t[i] / (1 + (shift - 1) * t[i]));
            }
        }
        return t;
    }
}
