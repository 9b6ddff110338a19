#!/usr/bin/env bash
# Runs before `npm test` (npm's pretest): makes sure the system tools the suite uses are there.
# - chromium: the dashboard's browser test (skip it with SKIP_BROWSER_TESTS=1, or point CHROMIUM_PATH elsewhere)
# - kcat, lz4, zstd: the codec tests write batches with librdkafka and the reference tools
# - openssl: the secured-Kafka tests make their certificates
# - java (JDK 17+) and mvn: the embedded Kafka broker (not needed with KAFKA_BROKERS set)
# Missing ones are installed with apt-get when this runs as root on Debian/Ubuntu (or with passwordless
# sudo); otherwise it prints the exact command to run and fails, rather than letting tests fail later.
set -euo pipefail

declare -A pkg=([chromium]=chromium [kcat]=kcat [lz4]=lz4 [zstd]=zstd [openssl]=openssl [java]=openjdk-17-jdk-headless [mvn]=maven)
need=(kcat lz4 zstd openssl)
if [ "${SKIP_BROWSER_TESTS:-}" != 1 ] && [ -z "${CHROMIUM_PATH:-}" ]; then need+=(chromium); fi
if [ -z "${KAFKA_BROKERS:-}" ]; then need+=(java mvn); fi

missing=()
for cmd in "${need[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

install=(apt-get install -y -qq "${missing[@]}")
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
  if [ "${sudo[0]:-}" != none ]; then
    echo "pretest: installing the Debian packages the tests need: ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${install[@]}" >/dev/null
    exit 0
  fi
fi
cat >&2 <<MSG
pretest: the test suite needs system packages that are missing: ${missing[*]}
Install them (Debian/Ubuntu) with:

  sudo apt-get update && sudo ${install[*]}

(elsewhere: Chromium, kcat, lz4, zstd, openssl, a JDK 17+ and Maven from your package manager).
Set SKIP_BROWSER_TESTS=1 to run without Chromium, KAFKA_BROKERS=host:port to use an existing Kafka instead of the
embedded broker (then no JDK or Maven is needed).
MSG
exit 1
