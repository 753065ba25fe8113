#!/usr/bin/env bash
# Builds the example consumer against the untwist artifacts installed from this checkout and runs it on the
# module path. Installs core and vector first (mvn -DskipTests install of just those), unless SKIP_INSTALL=1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/bin/jdk25.sh"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  mvn -B -ntp -q -f "$root/pom.xml" -pl core,vector -am -DskipTests install
fi
mvn -B -ntp -q -f "$here/pom.xml" package
# No --add-modules or --enable-native-access: the vector module requires jdk.incubator.vector itself, and the
# modules used here call no restricted native methods. Backends.create() finds org.untwist.vector as a service.
exec "$JAVA_HOME/bin/java" --module-path "$here/target/modules:$here/target/untwist-consumer-1.0.jar" \
    -m org.untwist.example.consumer/org.untwist.example.consumer.AttentionExample
