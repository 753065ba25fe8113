package org.untwist.cli;

import org.untwist.backend.Backend;
import org.untwist.backend.Backends;
import org.untwist.backend.OpProfile;
import org.untwist.backend.Precision;
import org.untwist.backend.ProfilingBackend;
import picocli.CommandLine.Option;

/** The options every computing command shares: which backend, in which precision, and how many threads. */
final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "Backend: auto (default: best available), scalar, vector, gpu, onednn (bf16 only). Also -Duntwist.backend.")
    String backend;

    @Option(names = "--precision", paramLabel = "P",
            description = "f32 (exact, every backend) or bf16 (GEMM operands rounded to bf16: gpu, or on the CPU onednn). "
                    + "Default: the backend's own (f32; -Duntwist.gpu.precision for gpu).")
    String precision;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads, 1 to max(64, 4 x cores) (default: -Duntwist.threads or all cores).")
    Integer threads;

    @Option(names = "--profile-ops", description = "Time every backend operation (each between two synchronizes) and print the "
            + "totals per operation and per operation and shapes to stderr at the end. Slows a GPU run a little.")
    boolean profileOps;

    /** Checks {@code --threads} (and {@code -Duntwist.threads}) against {@link Backends#maxThreads()}, before any work. */
    int threads() {
        return threads != null ? Backends.requireThreads("--threads", threads) : Backends.defaultThreads();
    }

    /** {@code --precision}, checked; {@code null} when not given (each backend's default). */
    Precision precision() {
        return precision == null ? null : Precision.parse("--precision", precision);
    }

    /** Checks the options without building the backend. */
    void validate() {
        threads();
        precision();
    }

    /** What {@code --profile-ops} records into; empty until {@link #create} and without the option. */
    private OpProfile profile;

    /** The command this mixin belongs to: the profile goes to its error stream. */
    @picocli.CommandLine.Spec(picocli.CommandLine.Spec.Target.MIXEE)
    picocli.CommandLine.Model.CommandSpec mixee;

    Backend create() {
        String name = backend != null ? backend : System.getProperty(Backends.BACKEND_PROPERTY);
        Backend be = Backends.create(name, threads(), precision());
        if (!profileOps) {
            return be;
        }
        OpProfile p = new OpProfile();
        profile = p;
        String title = "operations on " + be.name() + ", each between two synchronizes";
        java.io.PrintWriter err = mixee != null ? mixee.commandLine().getErr() : new java.io.PrintWriter(System.err, true);
        return ProfilingBackend.wrap(be, p, () -> {
            err.print(p.table(title, 40));
            err.flush();
        });
    }

    /** Forgets what {@code --profile-ops} recorded so far (a command's warm-up calls); nothing without the option. */
    void resetProfile() {
        if (profile != null) {
            profile.reset();
        }
    }
}
