#!/usr/bin/env bash
# The worked example of kernels generated into a user's own module (examples/usergen, issue
# 20), called by .ci/run; runs on a clean checkout. Its module requires sparsegen and the
# generator module through `replace` directives pointing at this checkout, so it tests the
# checkout, not a release:
#   1. go generate writes package mykern (3:8 and 2:6 N:M, CSR, BSR 3×4; AVX-512, AVX2,
#      NEON), and a second run must change nothing (the generator is deterministic and owns
#      its files);
#   2. vet, build and the generated tests on amd64, under -tags purego, and for linux/arm64
#      under qemu-user (the NEON kernels);
#   3. the demo: which kernel dispatch.Compile picks for a 3:8 layer and for one of 3×4
#      blocks, timed (figures only).
# Needs qemu-user-static for step 2's arm64 run. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../examples/usergen"
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
start=$SECONDS
step() { printf '\n--- usergen.sh: %s (%ds)\n' "$*" $((SECONDS - start)); }

step "go generate"
go generate ./...
sum() { cat mykern/*.go mykern/*.s | sha256sum; }
before=$(sum)
go generate ./...
if [ "$before" != "$(sum)" ]; then echo "usergen.sh: a second go generate changed the package"; exit 1; fi

step "vet, build, generated tests (amd64)"
gofmt -l . | (! grep .) || { echo "usergen.sh: gofmt would change the files above"; exit 1; }
go vet ./...
go build ./...
go test -count=1 ./...

step "generated tests, pure Go (-tags purego)"
go vet -tags purego ./...
go test -count=1 -tags purego ./...

step "generated tests for linux/arm64 under qemu-user (NEON)"
qemu=$(command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then echo "usergen.sh: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2; exit 1; fi
GOARCH=arm64 go vet ./...
GOARCH=arm64 go test -count=1 -exec "$qemu" ./...

step "demo: dispatch on a 3:8 layer and a 3×4-block one (timings on this machine, not asserted)"
go run . -budget 100ms

step "done"
