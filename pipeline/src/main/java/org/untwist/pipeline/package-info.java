/**
 * FLUX.1 checkpoints as users have them ({@link org.untwist.pipeline.FluxCheckpoint}: diffusers folders, BFL and
 * ComfyUI single files), with their parts, configs and sampling defaults.
 */
package org.untwist.pipeline;
