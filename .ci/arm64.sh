#!/usr/bin/env bash
# arm64 and portability suite (issue 6), called by .ci/run:
#   1. the whole test suite built for linux/arm64 and run under qemu-user (NEON kernels
#      included), once with qemu's default CPU (max: every feature qemu emulates) and once as
#      a Cortex-A72 (plain ASIMD: no dot product, no SVE);
#   2. the pure-Go build (-tags purego) on this machine;
#   3. go vet for linux/amd64, linux/arm64, darwin/arm64 and linux/386 (a 32-bit target).
# Needs qemu-user-static (Debian package; .ci/run installs it). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
start=$SECONDS
step() { printf '\n--- arm64.sh: %s (%ds)\n' "$*" $((SECONDS - start)); }

qemu=$(command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
  echo "arm64.sh: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2
  exit 1
fi

# Packages with cgo files cannot be built for another GOARCH without a cross C toolchain
# (CGO_ENABLED is 0 when cross-compiling): they are tested natively by .ci/run and left out
# of the cross runs below, by name.
pkgs_for() { # GOOS GOARCH → the packages to build, cgo packages excluded (listed on stderr)
  local all cgo
  all=$(GOOS=$1 GOARCH=$2 go list ./...)
  cgo=$(go list -f '{{if .CgoFiles}}{{.ImportPath}}{{end}}' ./...)
  for p in $cgo; do echo "arm64.sh: $1/$2: $p has cgo files; not cross-built" >&2; done
  for p in $all; do
    case " $(echo $cgo) " in *" $p "*) ;; *) echo "$p" ;; esac
  done
}

fail=0
run() { # label, command...: run, report, remember a failure and go on
  local label=$1
  shift
  step "$label"
  if "$@"; then echo "ok: $label"; else echo "FAIL: $label"; fail=1; fi
}

arm64_pkgs=$(pkgs_for linux arm64)
run "linux/arm64 tests under qemu (default CPU)" \
  env GOOS=linux GOARCH=arm64 go test -count=1 -exec "$qemu" $arm64_pkgs
run "linux/arm64 tests under qemu (QEMU_CPU=cortex-a72)" \
  env QEMU_CPU=cortex-a72 GOOS=linux GOARCH=arm64 go test -count=1 -exec "$qemu" $arm64_pkgs
run "pure-Go build and tests (-tags purego)" \
  sh -c 'go build -tags purego ./... && go test -count=1 -tags purego ./...'
run "linux/arm64 purego build" env GOOS=linux GOARCH=arm64 go build -tags purego ./...

for target in linux/amd64 linux/arm64 darwin/arm64 linux/386; do
  os=${target%/*}
  arch=${target#*/}
  if [ "$target" = "$(go env GOOS)/$(go env GOARCH)" ]; then
    run "go vet $target" go vet ./...
  else
    run "go vet $target" env GOOS="$os" GOARCH="$arch" go vet $(pkgs_for "$os" "$arch")
  fi
done

step "done"
if [ "$fail" != 0 ]; then
  echo "arm64.sh: some steps failed (see FAIL above)" >&2
  exit 1
fi
