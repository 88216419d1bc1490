#!/usr/bin/env bash
# Everything the demo and the tests need, on a Debian/Ubuntu machine with Node.js >= 22.15 and npm:
#   - system packages, only those missing: librdkafka-dev and a C compiler (the embedded Kafka, a librdkafka mock
#     cluster, is compiled from src/testing/mock-cluster.c); with --with-prometheus also Debian's prometheus
#     (test/ops/prometheus.test.ts runs a real one; without it that test is skipped, saying so);
#   - npm ci (which also applies patches/);
#   - the embedded Kafka's helper program, built once so a toolchain problem shows here.
# apt-get runs as root, or through sudo when you are not root. `npm run quickstart` runs this, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

with_prometheus=false
for arg in "$@"; do
  case "$arg" in
    --with-prometheus) with_prometheus=true ;;
    *) echo "usage: bash scripts/setup.sh [--with-prometheus]" >&2; exit 2 ;;
  esac
done

if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 15) ? 0 : 1)' 2>/dev/null; then
  echo "Sediment needs Node.js >= 22.15 (22 and 24 are tested); found: $(node --version 2>/dev/null || echo 'no node')." >&2
  echo "Install Node.js 22 or 24 (your distribution's package or nvm), then run this again." >&2
  exit 1
fi

missing=()
[ -f /usr/include/librdkafka/rdkafka_mock.h ] || missing+=(librdkafka-dev)
command -v "${CC:-cc}" >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/include/stdio.h ] || missing+=(libc6-dev)
if $with_prometheus && ! command -v prometheus >/dev/null 2>&1; then missing+=(prometheus); fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${missing[*]} (Debian package names). Install librdkafka's development files and a C compiler" \
      "with your package manager (e.g. dnf install librdkafka-devel gcc; brew install librdkafka), then run this again." >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing ${missing[*]} needs root: run this as root, or install them first" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "installing system packages: ${missing[*]} (apt-get)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system packages: librdkafka-dev and a C compiler are present$($with_prometheus && echo ', and prometheus')"
fi

echo "npm ci (Node $(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund

node --import tsx -e "import('./src/testing/mock-kafka.ts').then((m) => m.buildMockCluster()).then((p) => console.log('embedded Kafka helper built:', p))"
