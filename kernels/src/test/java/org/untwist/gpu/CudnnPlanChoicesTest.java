package org.untwist.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The process-wide memory of cuDNN winners, without a device: per device and shape, replaced, forgotten. */
class CudnnPlanChoicesTest {
    @Test
    void winnersArePerDeviceAndShape() {
        CudnnPlanChoices.forgetAll();
        List<Integer> shape = new ArrayList<>(List.of(2, 24, 4608, 4608, 128, 1, 0, 0, 4608));
        List<Integer> other = List.of(2, 24, 4608, 4096, 128, 1, 0, 0, 4096);
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:0 (A)", shape));
        CudnnPlanChoices.remember("gpu:0 (A)", shape, new CudnnPlanChoices.Choice("B", 3));
        shape.set(0, 1); // the memory keeps its own copy of the key
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:0 (A)", shape));
        shape.set(0, 2);
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("B", 3)), CudnnPlanChoices.recall("gpu:0 (A)", shape));
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:1 (A)", shape), "another device times again");
        assertEquals(Optional.empty(), CudnnPlanChoices.recall("gpu:0 (A)", other), "another shape times again");
        CudnnPlanChoices.remember("gpu:0 (A)", shape, new CudnnPlanChoices.Choice("A", 0));
        assertEquals(Optional.of(new CudnnPlanChoices.Choice("A", 0)), CudnnPlanChoices.recall("gpu:0 (A)", shape), "a later timing replaces");
        CudnnPlanChoices.forgetAll();
        assertTrue(CudnnPlanChoices.recall("gpu:0 (A)", shape).isEmpty());
        assertThrows(IllegalArgumentException.class, () -> new CudnnPlanChoices.Choice("A", -1));
    }
}
