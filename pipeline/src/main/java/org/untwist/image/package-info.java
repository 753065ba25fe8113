/** Images in and out of the pipeline: reading PNG/JPEG, fitting to the output size, pixels ↔ tensors, PNG with settings. */
package org.untwist.image;
