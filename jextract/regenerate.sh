#!/usr/bin/env bash
# Regenerates the FFM bindings in ffm-bindings/src/main/java/org/untwist/ffm/gen from the argfiles in this
# folder. Usage:
#
#   jextract/regenerate.sh HEADER_DIR...          the CUDA bindings (cudart, cuda, cublas, cublaslt, cudnn, nvrtc)
#   jextract/regenerate.sh --dnnl [HEADER_DIR...]  the oneDNN and OpenMP bindings (dnnl, omp)
#
# CUDA: HEADER_DIR are the folders searched for the CUDA headers, in order (passed to jextract as -I). They must
# hold cuda_runtime_api.h and cuda.h with crt/ (CUDA 13.0), nvrtc.h, cublas_v2.h and cublasLt.h (cuBLAS 13.1) and cudnn.h
# (cuDNN 9.19); see jextract/README.md.
# --dnnl: oneapi/dnnl/dnnl.h (oneDNN 2.6.3, Debian's libdnnl-dev) is found in /usr/include unless HEADER_DIR says
# otherwise; omp.h (GCC 12's libgomp) in the folder `gcc -print-file-name=include` prints, or $OMP_INCLUDE_DIR.
# omp.h is parsed on its own: GCC's include folder also holds GCC's stddef.h and stdint.h, which must not
# replace clang's for the other headers.
# Each run replaces only the packages of its group. jextract is taken from $JEXTRACT_HOME/bin/jextract, else
# from PATH. The generated sources are committed; rerunning with the same headers and jextract gives the same
# files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out="$root/ffm-bindings/src/main/java"
gen="$out/org/untwist/ffm/gen"

group=cuda
if [[ "${1:-}" == "--dnnl" ]]; then
    group=dnnl
    shift
elif [[ $# -lt 1 ]]; then
    echo "usage: $0 HEADER_DIR...  |  $0 --dnnl [HEADER_DIR...]" >&2
    exit 2
fi
if [[ -n "${JEXTRACT_HOME:-}" ]]; then
    jextract="$JEXTRACT_HOME/bin/jextract"
else
    jextract=$(command -v jextract || true)
fi
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    echo "jextract not found: set JEXTRACT_HOME or put jextract on PATH (build it from https://github.com/openjdk/jextract)" >&2
    exit 2
fi

includes=()
for dir in "$@"; do
    if [[ ! -d "$dir" ]]; then
        echo "not a folder: $dir" >&2
        exit 2
    fi
    includes+=(-I "$(cd "$dir" && pwd)")
done

# jextract itself calls System.loadLibrary for libclang; silence the restricted-method warning.
export JEXTRACT_JAVA_OPTIONS="${JEXTRACT_JAVA_OPTIONS:---enable-native-access=org.openjdk.jextract}"

if [[ $group == dnnl ]]; then
    libs=(dnnl omp)
    omp_include="${OMP_INCLUDE_DIR:-$(gcc -print-file-name=include 2>/dev/null || true)}"
    if [[ ! -f "$omp_include/omp.h" ]]; then
        echo "omp.h not found in '$omp_include': install GCC (libgcc-12-dev) or set OMP_INCLUDE_DIR" >&2
        exit 2
    fi
else
    libs=(cudart cuda cublas cublaslt cudnn nvrtc)
fi

echo "jextract: $jextract ($("$jextract" --version 2>&1 | grep -m1 "^jextract" || true))"
for lib in "${libs[@]}"; do
    rm -rf "${gen:?}/$lib"
done
mkdir -p "$out"
for lib in "${libs[@]}"; do
    log=$(mktemp)
    lib_includes=("${includes[@]}")
    if [[ $lib == omp ]]; then
        lib_includes=(-I "$omp_include")
    fi
    # Run from an empty folder so that no compile_flags.txt of the caller's folder changes the parse.
    if ! (cd "$(mktemp -d)" && "$jextract" "${lib_includes[@]}" --output "$out" "@$here/$lib.args") >"$log" 2>&1; then
        cat "$log" >&2
        echo "jextract failed for $lib.args" >&2
        exit 1
    fi
    # The libc headers pulled in by the CUDA and oneDNN headers produce "Skipping ..." warnings for types
    # that the filters drop anyway; show anything else.
    grep -v -e ': warning: Skipping ' "$log" >&2 || true
    rm -f "$log"
    n=$(find "$gen/$lib" -name '*.java' | wc -l)
    echo "$lib.args -> org.untwist.ffm.gen.$lib ($n files)"
done
