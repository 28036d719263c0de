#!/usr/bin/env bash
# C ABI suite (issue 9): builds libsparsegen as a shared and a static library with plain
# `go build`, checks that the header compiles alone as C and C++, builds the C examples with
# gcc against both libraries and runs them (quickstart.c, which the README shows, compared
# with the output it documents; lowp.c, dense, CSR, BSR and N:M bf16/f16/int8 weights; many host threads on
# one plan), then pip-installs the Python package (ctypes + numpy) into a venv of
# /usr/bin/python3 and runs its tests, example and bench against the installed copy. Exits
# non-zero on any failure. Needs gcc, python3-numpy, python3-scipy, python3-venv,
# python3-setuptools and python3-wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
src=cmd/libsparsegen
out=$(mktemp -d /tmp/libsparsegen-ci.XXXXXX)
trap 'rm -rf "$out"' EXIT
step() { printf -- '--- cabi: %s\n' "$*"; }
# expect FILE CMD...: runs CMD and compares its stdout with the comment that ends FILE, from
# its "/* Output:" or "# Output:" line on (the examples the READMEs show end with one, like
# Go's Example functions).
expect() {
  local file=$1 want got
  shift
  want=$(sed -n '/^\(\/\*\|#\) Output:$/,$p' "$file" | sed '1d; /^\*\/$/d; s/^# \{0,1\}//')
  [ -n "$want" ] || { echo "$file has no Output comment"; exit 1; }
  got=$("$@")
  if [ "$got" != "$want" ]; then
    printf '%s printed:\n%s\nits Output comment says:\n%s\n' "$file" "$got" "$want"
    exit 1
  fi
}

step "go build -buildmode=c-shared / c-archive"
go build -buildmode=c-shared -o "$out/libsparsegen.so" ./$src
go build -buildmode=c-archive -o "$out/libsparsegen.a" ./$src
for sym in sg_plan_dense sg_plan_dense_lp sg_plan_csr sg_plan_csr_lp sg_plan_bsr sg_plan_bsr_lp sg_plan_nm sg_plan_nm_lp sg_mul sg_mul_tokens sg_plan_describe \
  sg_plan_free sg_last_error sg_options_init; do
  nm -D --defined-only "$out/libsparsegen.so" | grep -qw "$sym" || { echo "libsparsegen.so does not export $sym"; exit 1; }
done

step "header compiles alone (C99, C11, C++)"
printf '#include "sparsegen.h"\nint main(void) { sg_options o; sg_options_init(&o); return (int)sg_abi_version() - SG_ABI_VERSION; }\n' >"$out/h.c"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -I $src -c "$out/h.c" -o "$out/h99.o"
gcc -std=c11 -Wall -Wextra -Werror -pedantic -I $src -c "$out/h.c" -o "$out/h11.o"
if command -v g++ >/dev/null; then
  g++ -std=c++11 -Wall -Wextra -Werror -pedantic -I $src -x c++ -c "$out/h.c" -o "$out/hxx.o"
fi

cflags="-O2 -Wall -Wextra -Werror -pthread -I $src"
for ex in quickstart example lowp threads bench; do
  step "gcc $ex.c against the .so and the .a"
  gcc $cflags "$src/examples/c/$ex.c" -L"$out" -lsparsegen -Wl,-rpath,"$out" -lm -o "$out/${ex}_shared"
  gcc $cflags "$src/examples/c/$ex.c" "$out/libsparsegen.a" -lpthread -lm -o "$out/${ex}_static"
done
for kind in shared static; do
  step "run quickstart ($kind), compare with its Output comment"
  expect "$src/examples/c/quickstart.c" "$out/quickstart_$kind"
done
for ex in example lowp threads; do
  for kind in shared static; do
    step "run $ex ($kind)"
    "$out/${ex}_$kind"
  done
done
step "run bench (shared, short)"
"$out/bench_shared" 20000

step "python: pip install the package into a venv (Debian's setuptools, no network)"
/usr/bin/python3 -c 'import numpy' || { echo "numpy missing for /usr/bin/python3 (apt-get install python3-numpy)"; exit 1; }
venv="$out/venv"
/usr/bin/python3 -m venv --system-site-packages "$venv" # numpy and scipy from apt stay visible
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --no-build-isolation --no-index "./$src/python"

step "python tests, example and bench against the installed copy, from a folder holding a clone named sparsegen"
# With the source folder off sys.path and a folder named sparsegen in the current folder
# (where, uninstalled, `import sparsegen` finds an empty namespace package), every import
# must find the installed package and the library it ships: SPARSEGEN_LIB stays unset.
unset SPARSEGEN_LIB
repo=$PWD
work="$out/work"
mkdir "$work"
ln -s "$repo" "$work/sparsegen"
(
  cd "$work"
  "$venv/bin/python" -c 'import sparsegen; print("import sparsegen:", sparsegen.__file__); sparsegen.Plan'
  "$venv/bin/python" -m unittest discover -v -s "$repo/$src/python/tests" 2>&1
  expect "$repo/$src/python/quickstart.py" "$venv/bin/python" "$repo/$src/python/quickstart.py"
  "$venv/bin/python" "$repo/$src/python/example.py"
  "$venv/bin/python" "$repo/$src/python/bench.py" 2000
)

step "python quickstart from the source folder (PYTHONPATH and SPARSEGEN_LIB, as the README says)"
PYTHONPATH="$src/python/src" SPARSEGEN_LIB="$out/libsparsegen.so" \
  expect "$src/python/quickstart.py" /usr/bin/python3 "$src/python/quickstart.py"
step "ok"
