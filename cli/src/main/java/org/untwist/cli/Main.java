package org.untwist.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code untwist} command-line tool. */
@Command(name = "untwist", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Frequency-controlled RoPE for shared attention in diffusion transformers: FLUX inference on Java backends.",
        subcommands = {InfoCommand.class, ForwardCommand.class, DenoiseCommand.class, RopeCommand.class, BandsCommand.class, GenerateCommand.class, AnalyzeCommand.class, GlyphsCommand.class, DemoCommand.class, ExperimentCommand.class,
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
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // Expected failures (bad files, shapes, parameters) are reported as one clear line, not a stack trace.
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            commandLine.getErr().println("untwist: error: " + msg);
            if (Boolean.getBoolean("untwist.debug")) {
                ex.printStackTrace(commandLine.getErr());
            }
            commandLine.getErr().flush();
            return 1;
        });
        return cl.execute(args);
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
