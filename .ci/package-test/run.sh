#!/usr/bin/env bash
# The package as a user gets it: `npm pack` (prepack builds dist/), the tarball's file list checked, the tarball
# installed into a scratch project, a program importing `sediment`, `sediment/service` and `sediment/finalizer`
# type-checked (strict, NodeNext) and run as a tiny pipeline against the embedded Kafka; the CLI's --help.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/sediment-package-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$repo"

tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
tar -tzf "$tarball" | sed 's|^package/||' | sort > "$work/files.txt"
echo "tarball: $(wc -l < "$work/files.txt") files; top level: $(cut -d/ -f1 "$work/files.txt" | sort -u | tr '\n' ' ')"
unexpected=$(grep -vE '^(dist/.+\.(js|d\.ts)|bin/sediment\.js|README\.md|LICENSE|package\.json)$' "$work/files.txt" || true)
[ -z "$unexpected" ] || { echo "unexpected files in the tarball:"; echo "$unexpected"; exit 1; }
if grep -qE '^dist/(demo|testing)/' "$work/files.txt"; then echo "the tarball ships the demo or the test servers"; exit 1; fi
for f in dist/index.js dist/index.d.ts dist/service-api.js dist/finalizer/index.js dist/cli.js bin/sediment.js LICENSE README.md; do
  grep -qxF "$f" "$work/files.txt" || { echo "missing from the tarball: $f"; exit 1; }
done

scratch="$work/scratch"
mkdir -p "$scratch"
cp .ci/package-test/consumer.ts "$scratch/"
# allowScripts: npm would run the package's `prepare` (which applies patches/ in a clone of this repository) when
# installing from a file, though not from a registry; denying it is what a user installing the file would do.
cat > "$scratch/package.json" <<JSON
{ "name": "scratch", "private": true, "type": "module", "allowScripts": { "file:$tarball": false } }
JSON
# typeRoots: @types/node from the repository, so the scratch project needs nothing but the tarball.
cat > "$scratch/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
    "skipLibCheck": false, "types": ["node"], "typeRoots": ["$repo/node_modules/@types"], "outDir": "."
  },
  "files": ["consumer.ts"]
}
JSON
(cd "$scratch" && npm install --no-audit --no-fund --prefer-offline "$tarball")
echo "type-check and compile consumer.ts against the installed package"
(cd "$scratch" && node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json)
echo "run it against the embedded Kafka"
node --import tsx .ci/package-test/driver.ts "$scratch"
echo "CLI: $(cd "$scratch" && npx --no-install sediment --version)"
(cd "$scratch" && npx --no-install sediment --help | head -n 3)
echo "package test: OK"
