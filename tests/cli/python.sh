# The Python binding (python/attest) over the library of this build:
# tests/python/test_binding.py prints its own "ok - ..." lines. Needs
# Debian's /usr/bin/python3 with numpy and torch; skips without them.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
export ATTEST_LIB="$BUILD/libattest.so.0" TMPDIR="$T" PYTHONDONTWRITEBYTECODE=1

if ! "$PY" -c 'import numpy, torch' 2>/dev/null; then
    ok "python binding tests # SKIP $PY has no numpy/torch"
    exit 0
fi
# A sanitizer build of the library needs its runtimes loaded first; Python itself leaks by design.
if readelf -d "$ATTEST_LIB" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
"$PY" "$(dirname "$0")/../python/test_binding.py"
