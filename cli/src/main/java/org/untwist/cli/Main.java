package org.untwist.cli;

import java.io.PrintWriter;
import java.nio.file.FileSystemException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code untwist} command-line tool. */
@Command(name = "untwist", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Frequency-controlled RoPE for shared attention in diffusion transformers: FLUX inference on Java backends.",
        subcommands = {InfoCommand.class, ForwardCommand.class, DenoiseCommand.class, RopeCommand.class, BandsCommand.class, GenerateCommand.class, AnalyzeCommand.class, GlyphsCommand.class, DemoCommand.class, ExperimentCommand.class,
                TokenizeCommand.class, EncodeTextCommand.class, VaeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (try 'untwist help')");
    }

    /** Runs the CLI and returns its exit code: 0 success, 1 failure, 2 usage error. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return run(args, out, err, null);
    }

    /**
     * {@link #run(String[], PrintWriter, PrintWriter)} with relative paths in the arguments resolved against {@code cwd}
     * instead of this process's working folder (the background JVM runs commands for clients in other folders); null:
     * this process's.
     */
    public static int run(String[] args, PrintWriter out, PrintWriter err, java.nio.file.Path cwd) {
        CommandLine cl = new CommandLine(new Main());
        if (cwd != null) {
            cl.registerConverter(java.nio.file.Path.class, s -> cwd.resolve(java.nio.file.Path.of(s)));
        }
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> fail(ex, commandLine.getErr()));
        cl.setParameterExceptionHandler((ex, arguments) -> { // usage errors: one line and where the help is, exit code 2
            CommandLine c = ex.getCommandLine();
            String hint = ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()
                    ? " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)" : "";
            c.getErr().println("untwist: usage error: " + describe(ex) + hint + "; see '" + c.getCommandSpec().qualifiedName() + " --help'");
            c.getErr().flush();
            return 2;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) { // an Error passes picocli's handler; the outputs were already cleaned up on the way out
            return fail(e, err);
        }
    }

    /** Expected failures (bad files, shapes, parameters) are reported as one clear line, not a stack trace. */
    private static int fail(Throwable ex, PrintWriter err) {
        err.println("untwist: error: " + describe(ex));
        if (Boolean.getBoolean("untwist.debug")) {
            ex.printStackTrace(err);
        }
        err.flush();
        return 1;
    }

    /** One line: the message, with the reason where the JDK gives only a path, never a multi-line dump. */
    static String describe(Throwable ex) {
        String msg;
        if (ex instanceof OutOfMemoryError) {
            msg = "out of memory (" + ex.getMessage() + "): the request needs more than this JVM may use (-Xmx, or native memory)";
        } else if (ex instanceof FileSystemException fse) { // its message is often the bare path
            msg = (fse.getFile() == null ? "" : fse.getFile() + ": ") + Outputs.reason(fse);
        } else {
            msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
        }
        return msg.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    public static void main(String[] args) {
        int code = run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        System.exit(code);
    }

    /** Version from the jar manifest when packaged. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"untwist " + (v == null ? "development build" : v)};
        }
    }
}
