/**
 * FLUX's autoencoder ({@link org.untwist.autoencoder.AutoEncoder}, the reference's
 * {@code flux.modules.autoencoder.AutoEncoder}), its config ({@link org.untwist.autoencoder.AutoEncoderConfig}) and
 * the 2×2 packing of latents into transformer tokens ({@link org.untwist.autoencoder.LatentPacking}).
 */
package org.untwist.autoencoder;
