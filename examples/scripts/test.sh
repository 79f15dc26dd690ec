#!/usr/bin/env bash
# Runs the (tiny) test suite of one service and writes results.txt beside it.
set -euo pipefail
service="$1"
: > results.txt
for t in tests/*.sh; do
  if bash "$t"; then echo "ok $t" >> results.txt; else echo "FAIL $t" >> results.txt; exit 1; fi
done
echo "$service: $(wc -l < results.txt) tests"
