#!/usr/bin/env bash
# Regenerates the FFM bindings in ffm-bindings/src/main/java/org/untwist/ffm/gen from the argfiles in this
# folder. Usage:
#
#   jextract/regenerate.sh HEADER_DIR...
#
# HEADER_DIR: folders searched for the CUDA headers, in order (passed to jextract as -I). They must hold
# cuda_runtime_api.h and cuda.h with crt/ (CUDA 13.0), nvrtc.h, cublas_v2.h (cuBLAS 13.1) and cudnn.h
# (cuDNN 9.19); see jextract/README.md. jextract is taken from $JEXTRACT_HOME/bin/jextract, else from PATH.
# The generated sources are committed; rerunning with the same headers and jextract gives the same files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out="$root/ffm-bindings/src/main/java"
gen="$out/org/untwist/ffm/gen"

if [[ $# -lt 1 ]]; then
    echo "usage: $0 HEADER_DIR..." >&2
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

echo "jextract: $jextract ($("$jextract" --version 2>&1 | grep -m1 "^jextract" || true))"
rm -rf "$gen"
mkdir -p "$out"
for lib in cudart cuda cublas cudnn nvrtc; do
    log=$(mktemp)
    # Run from an empty folder so that no compile_flags.txt of the caller's folder changes the parse.
    if ! (cd "$(mktemp -d)" && "$jextract" "${includes[@]}" --output "$out" "@$here/$lib.args") >"$log" 2>&1; then
        cat "$log" >&2
        echo "jextract failed for $lib.args" >&2
        exit 1
    fi
    # The libc headers pulled in by the CUDA headers produce "Skipping ..." warnings for types
    # that the filters drop anyway; show anything else.
    grep -v -e ': warning: Skipping ' "$log" >&2 || true
    rm -f "$log"
    n=$(find "$gen/$lib" -name '*.java' | wc -l)
    echo "$lib.args -> org.untwist.ffm.gen.$lib ($n files)"
done
