# Sourced by the launchers: sets JAVA_HOME to a JDK 25 or newer, or exits with a message that says how to
# point at one. Looks at UNTWIST_JAVA_HOME, JAVA_HOME, the system's JVM folder, then the java on PATH.
untwist_java_major() { # prints the feature version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
untwist_pick_jdk() {
  local candidates=() c major
  [ -n "${UNTWIST_JAVA_HOME:-}" ] && candidates+=("$UNTWIST_JAVA_HOME")
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for c in /usr/lib/jvm/*25* /usr/lib/jvm/*-2[5-9]* /usr/lib/jvm/*; do [ -d "$c" ] && candidates+=("$c"); done
  if command -v java >/dev/null 2>&1; then
    c=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")"); candidates+=("$c")
  fi
  for c in "${candidates[@]}"; do
    [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
    major=$(untwist_java_major "$c/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      export JAVA_HOME="$c"; return 0
    fi
  done
  echo "untwist: no JDK 25 found. Install one (e.g. Temurin 25) and set UNTWIST_JAVA_HOME or JAVA_HOME to it." >&2
  exit 3
}
untwist_pick_jdk
# Maven itself runs on this JDK; keep its own (guava) Unsafe warnings out of our output.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
