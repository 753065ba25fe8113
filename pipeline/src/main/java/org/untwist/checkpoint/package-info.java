/** Reading model parameters from checkpoint folders (single or sharded safetensors), by key, in stored type. */
package org.untwist.checkpoint;
