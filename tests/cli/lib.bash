# lib.bash - helpers for the CLI tests: a temp dir, TAP lines, exit-code checks.
# Sourced by tests/cli/*.sh, which tests/run runs with ATTEST and SHARED set.
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
: "${ATTEST:?ATTEST must point at the attest binary}"
: "${SHARED:=../shared}"

ok() { echo "ok - $1"; }
nok() {
    echo "not ok - $1"
    [ -s "$T/err" ] && sed 's/^/#   /' "$T/err" | head -8
    return 0
}

# expect NAME RC CMD... : runs CMD, stdout in $T/out, stderr in $T/err.
expect() {
    local name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name"; else nok "$name (exit $rc, expected $want)"; fi
}

# expect_err NAME RC PATTERN CMD... : also requires PATTERN (grep -E) on stderr.
expect_err() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/err"; then
        ok "$name"
    else
        nok "$name (exit $rc, expected $want and /$pat/ on stderr)"
    fi
}

# expect_failure NAME PATTERN CMD... : exit 1 (checked, and wrong) and PATTERN
# (grep -E) in the report on stdout.
expect_failure() {
    local name=$1 pat=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq 1 ] && grep -Eq -- "$pat" "$T/out"; then
        ok "$name"
    else
        nok "$name (exit $rc, expected 1 and /$pat/ in the report)"
        grep -E 'FAILED|ERROR' "$T/out" | head -3 | sed 's/^/#   /'
    fi
}

# assert NAME CMD... : passes when CMD succeeds.
assert() {
    local name=$1
    shift
    if "$@" >/dev/null 2>"$T/err"; then ok "$name"; else nok "$name"; fi
}

# A few valid records of each type, one per line, for a run without data.
sample_records() {
    local z=0000000000000000000000000000000000000000000000000000000000000000
    cat <<JSON
{"type":"code","commit":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","dirty":false,"branch":"main","remotes":[{"name":"origin","url":"https://example.com/r.git"}]}
{"type":"note","text":"first run of the day"}
{"type":"init","seed":1234,"initializer":"torch.nn.init/1.13","checkpoint_sha256":"$z","data_seed":99}
{"type":"shard","id":0,"name":"data/shard-000.bin","size":4096,"sha256":"$z","layout":"tokens-u16le","samples":2048}
{"type":"step","step":1,"batch":[[0,0,64]],"batch_sha256":"$z","lr":0.001,"lr_bits":"3a83126f","loss":4.5,"loss_bits":"40900000"}
{"type":"step","step":2,"batch":[[0,64,64]],"batch_sha256":"$z","lr":0.001,"lr_bits":"3a83126f","loss":4.25,"loss_bits":"40880000","grad_norm":1.5,"grad_norm_bits":"3fc00000","time":"2026-11-26T08:00:00.5Z"}
{"type":"checkpoint","step":2,"sha256":"$z","size":1024,"name":"ckpt-2.safetensors","tensors":[{"name":"w","dtype":"F32","shape":[16,16],"sha256":"$z"}]}
JSON
}

# Builds the peer verifier from ../shared (Go's sumdb/note + sumdb/tlog).
build_peer() {
    PEER="$T/peer"
    (cd "$SHARED/conformance/peer-go" &&
        GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$T/gocache" GOFLAGS= \
            go build -o "$PEER" .) >"$T/err" 2>&1
}

# python_env NAME MODULES: Debian's /usr/bin/python3 ($PY) over this build's
# library ($BUILD absolute, $ATTEST_LIB), or "ok - NAME # SKIP" and exit when
# it lacks MODULES (e.g. "torch"). A sanitizer build of the library needs its
# runtimes loaded first; Python itself leaks by design.
python_env() {
    PY=/usr/bin/python3
    BUILD=${BUILD:-build}
    case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
    export ATTEST_LIB="$BUILD/libattest.so.0" TMPDIR="$T" PYTHONDONTWRITEBYTECODE=1
    if ! "$PY" -c "import $2" 2>/dev/null; then
        ok "$1 # SKIP $PY has no $2"
        exit 0
    fi
    if readelf -d "$ATTEST_LIB" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
        export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    fi
}
