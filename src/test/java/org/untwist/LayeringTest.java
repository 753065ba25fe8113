package org.untwist;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The packages of the shipped modules depend in one direction only:
 * <pre>
 *   cli ──► demo ──► sampling ──► flux ──► method ──► io, backend ──► tensor
 *   cli ──► text ──► checkpoint ──► io, backend ──► tensor      (the pipeline module: tokenizers, text encoders)
 *   cli ──► autoencoder ──► checkpoint                          (the pipeline module: FLUX's autoencoder, latent packing)
 *   cli ──► pipeline ──► text, autoencoder, image, checkpoint, flux, sampling (checkpoints, prompt → image)
 *   vector, gpu, onednn (backends, found through ServiceLoader) ──► backend, tensor;  gpu, onednn ──► ffm (bindings)
 *   onednn ──► vector (it extends the vector backend)
 * </pre>
 * Nothing above the backends imports them, and only {@code org.untwist.gpu.cuda} and {@code org.untwist.onednn.dnnl},
 * the thin hand-written layers, call the code jextract generated. A new import against these arrows fails here with the offending class
 * and line.
 */
class LayeringTest {
    private static JavaClasses main;

    @BeforeAll
    static void importMainClasses() {
        main = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("org.untwist");
        if (main.stream().noneMatch(c -> c.getPackageName().equals("org.untwist.gpu"))
                || main.stream().noneMatch(c -> c.getPackageName().equals("org.untwist.vector"))
                || main.stream().noneMatch(c -> c.getPackageName().equals("org.untwist.onednn"))) {
            throw new IllegalStateException("the backends' classes are not on the test class path: the layering would be checked on a part");
        }
    }

    @Test
    void packagesDependDownwardsOnly() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("tensor").definedBy("org.untwist.tensor..")
                .layer("backend").definedBy("org.untwist.backend..")
                .layer("io").definedBy("org.untwist.io..")
                .layer("method").definedBy("org.untwist.method..")
                .layer("flux").definedBy("org.untwist.flux..")
                .layer("sampling").definedBy("org.untwist.sampling..")
                .layer("vector backend").definedBy("org.untwist.vector..")
                .layer("gpu backend").definedBy("org.untwist.gpu..")
                .layer("onednn backend").definedBy("org.untwist.onednn..")
                .layer("bindings").definedBy("org.untwist.ffm..")
                .layer("checkpoint").definedBy("org.untwist.checkpoint..")
                .layer("text").definedBy("org.untwist.text..")
                .layer("autoencoder").definedBy("org.untwist.autoencoder..")
                .layer("image").definedBy("org.untwist.image..")
                .layer("pipeline").definedBy("org.untwist.pipeline..")
                .layer("demo").definedBy("org.untwist.demo..")
                .layer("cli").definedBy("org.untwist.cli..")

                .whereLayer("tensor").mayNotAccessAnyLayer()
                .whereLayer("backend").mayOnlyAccessLayers("tensor")
                .whereLayer("io").mayOnlyAccessLayers("tensor")
                .whereLayer("method").mayOnlyAccessLayers("tensor", "backend")
                .whereLayer("flux").mayOnlyAccessLayers("tensor", "backend", "io", "method")
                .whereLayer("sampling").mayOnlyAccessLayers("tensor", "backend", "io", "method", "flux")
                .whereLayer("vector backend").mayOnlyAccessLayers("tensor", "backend")
                .whereLayer("gpu backend").mayOnlyAccessLayers("tensor", "backend", "bindings")
                .whereLayer("onednn backend").mayOnlyAccessLayers("tensor", "backend", "vector backend", "bindings")
                .whereLayer("bindings").mayNotAccessAnyLayer()
                .whereLayer("checkpoint").mayOnlyAccessLayers("tensor", "backend", "io")
                .whereLayer("text").mayOnlyAccessLayers("tensor", "backend", "io", "checkpoint")
                .whereLayer("autoencoder").mayOnlyAccessLayers("tensor", "backend", "io", "checkpoint")
                .whereLayer("image").mayOnlyAccessLayers("tensor", "io")
                .whereLayer("pipeline").mayOnlyAccessLayers("tensor", "backend", "io", "method", "flux", "sampling", "checkpoint", "text", "autoencoder", "image")
                .whereLayer("demo").mayOnlyAccessLayers("tensor", "backend", "io", "method", "flux", "sampling")
                .whereLayer("cli").mayOnlyAccessLayers("tensor", "backend", "io", "method", "flux", "sampling", "checkpoint", "text", "autoencoder", "image", "pipeline", "demo")
                .check(main);
    }

    @Test
    void onlyTheThinLayersCallTheGeneratedBindings() {
        noClasses().that().resideOutsideOfPackages("org.untwist.gpu.cuda..", "org.untwist.onednn.dnnl..", "org.untwist.ffm..")
                .should().dependOnClassesThat().resideInAPackage("org.untwist.ffm.gen..")
                .because("the jextract output is reached only through org.untwist.gpu.cuda and org.untwist.onednn.dnnl, which check every status")
                .check(main);
    }

    @Test
    void noCyclesBetweenPackages() {
        slices().matching("org.untwist.(**)").should().beFreeOfCycles().check(main);
    }
}
