#!/usr/bin/env bash
# Builds the api service: here, a tarball of its sources named by version.
set -euo pipefail
version="$1"; out="$2"
mkdir -p "$out"
tar -czf "$out/api-$version.tar.gz" -C "$(dirname "$0")" .
echo "built $out/api-$version.tar.gz"
