package org.untwist.gpu.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.untwist.ffm.CudaCheck;
import org.untwist.ffm.gen.nvrtc.Nvrtc;

/**
 * The NVRTC calls that compile our CUDA C kernels at run time, each status checked by {@link CudaCheck}
 * except where a failure is an answer (compilation, the log). Call only after
 * {@link org.untwist.ffm.CudaLibraries} has loaded NVRTC.
 */
public final class NvrtcApi {
    private NvrtcApi() {
    }

    /** {@code nvrtcVersion}: as "major.minor". */
    public static String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment maj = a.allocate(JAVA_INT), min = a.allocate(JAVA_INT);
            CudaCheck.nvrtc(Nvrtc.nvrtcVersion(maj, min), "nvrtcVersion");
            return maj.get(JAVA_INT, 0) + "." + min.get(JAVA_INT, 0);
        }
    }

    /**
     * {@code nvrtcCreateProgram} of one source file without headers. The source and its name are written into
     * {@code arena}, which the caller keeps open until {@link #destroyProgram}.
     */
    public static MemorySegment createProgram(Arena arena, String source, String name) {
        MemorySegment prog = arena.allocate(ADDRESS);
        CudaCheck.nvrtc(Nvrtc.nvrtcCreateProgram(prog, arena.allocateFrom(source), arena.allocateFrom(name), 0, MemorySegment.NULL,
                MemorySegment.NULL), "nvrtcCreateProgram");
        return prog.get(ADDRESS, 0);
    }

    /** {@code nvrtcCompileProgram}: whether it compiled; when not, {@link #programLog} says why. */
    public static boolean compileProgram(MemorySegment program, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = a.allocate(ADDRESS, options.size());
            for (int i = 0; i < options.size(); i++) {
                o.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
            }
            return Nvrtc.nvrtcCompileProgram(program, options.size(), o) == 0;
        }
    }

    /** {@code nvrtcGetProgramLog}: the compiler's messages, or "" when NVRTC cannot say how long they are. */
    public static String programLog(MemorySegment program) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment size = a.allocate(JAVA_LONG);
            if (Nvrtc.nvrtcGetProgramLogSize(program, size) != 0) {
                return "";
            }
            MemorySegment buf = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
            Nvrtc.nvrtcGetProgramLog(program, buf);
            return buf.getString(0);
        }
    }

    /** {@code nvrtcGetCUBINSize} and {@code nvrtcGetCUBIN}: the compiled image. */
    public static byte[] cubin(MemorySegment program) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment size = a.allocate(JAVA_LONG);
            CudaCheck.nvrtc(Nvrtc.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
            MemorySegment cubin = a.allocate(size.get(JAVA_LONG, 0));
            CudaCheck.nvrtc(Nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
            return cubin.toArray(JAVA_BYTE);
        }
    }

    /** {@code nvrtcDestroyProgram}, status ignored (clean-up path). */
    public static void destroyProgram(MemorySegment program) {
        try (Arena a = Arena.ofConfined()) {
            Nvrtc.nvrtcDestroyProgram(a.allocateFrom(ADDRESS, program));
        }
    }
}
