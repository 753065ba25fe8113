/**
 * Reading model parameters from checkpoints as users have them: folders (single or sharded safetensors), single
 * files under a key prefix ({@link org.untwist.checkpoint.TensorViews}), and diffusers' layouts seen under FLUX.1's
 * key names without copying ({@link org.untwist.checkpoint.RenamedTensors}, {@link org.untwist.checkpoint.DiffusersKeys}),
 * and their JSON configs ({@link org.untwist.checkpoint.ConfigFile}).
 */
package org.untwist.checkpoint;
