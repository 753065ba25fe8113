# Sourced by run-on-gpu.sh and explore-attention.sh on the GPU machine: the bundle of make-bundle.sh ($BUNDLE,
# default: the sourcing script's folder), the output folder ($OUT), the CUDA libraries of the pip-installed
# nvidia packages ($LIBDIR), the bundled runtime unpacked once ($J), the JVM flags every run needs ($FLAGS, plus $JAVA_EXTRA) and
# the class path of the GPU benchmark ($BENCH_CP: the CLI jar with every module, and the benchmark's jar).
BUNDLE=${BUNDLE:-$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
SP=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])'); SP=${SP%/nvidia}
LIBDIR=$SP/nvidia/cu13/lib:$SP/nvidia/cudnn/lib
if [ ! -x "$BUNDLE/jre/bin/java" ]; then # jre.txz: one top folder holding the runtime; python unpacks it even without xz
  python3 -c 'import sys, tarfile, os; t = tarfile.open(sys.argv[1]); top = t.getnames()[0].split("/")[0]; t.extractall(sys.argv[2]); os.rename(os.path.join(sys.argv[2], top), os.path.join(sys.argv[2], "jre"))' "$BUNDLE/jre.txz" "$BUNDLE"
fi
J="$BUNDLE/jre/bin/java"
FLAGS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Duntwist.cuda.libDir="$LIBDIR"
       -Duntwist.gpu.kernelCache="$BUNDLE/kernel-cache")
# JAVA_EXTRA: more JVM flags for every run (e.g. JAVA_EXTRA=-Duntwist.gpu.bf16Activations=false)
read -r -a EXTRA <<< "${JAVA_EXTRA:-}"
FLAGS+=("${EXTRA[@]}")
BENCH_CP="$BUNDLE/untwist.jar:$BUNDLE/untwist-gpu-bench.jar"
