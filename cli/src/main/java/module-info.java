/** The {@code untwist} command line: picocli commands over the core API and the glyph demo. */
module org.untwist.cli {
    requires org.untwist.core;
    requires org.untwist.demo;
    requires org.untwist.pipeline;
    requires info.picocli;
    requires me.tongfei.progressbar;
    requires org.jfree.jfreechart;
    requires com.fasterxml.jackson.databind;
    requires java.desktop;
    requires jdk.management; // MemoryBudget: the machine's free memory, container-aware
    requires java.logging; // the background JVM routes log records to each command's client

    opens org.untwist.cli to info.picocli; // picocli reads the commands' annotated fields reflectively
}
