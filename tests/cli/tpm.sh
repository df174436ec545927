# TPM anchoring end to end with a real swtpm: a recorded run's seals carry
# NV-certified evidence, attest verify checks it and says so, a run without
# a TPM says "not TPM-anchored", and tampered evidence fails closed.
. "$(dirname "$0")/lib.bash"
if ! command -v swtpm >/dev/null; then
    ok "tpm end to end # SKIP swtpm not installed"
    exit 0
fi
EX="$PWD/$BUILD/record_minimal"
TCTI=$(scripts/swtpm start "$T/tpm") || { nok "swtpm starts"; exit 1; }
trap 'scripts/swtpm stop "$T/tpm"; rm -rf "$T"' EXIT
ok "swtpm starts on a free port"

mkdir "$T/a" "$T/plain"
"$ATTEST" keygen example.com/tpm-run -o "$T/a/run" >/dev/null
"$ATTEST" keygen example.com/plain-run -o "$T/plain/run" >/dev/null
expect "a run records with ATTEST_TCTI set" 0 env ATTEST_TCTI="$TCTI" "$EX" "$T/a"
expect "its log verifies" 0 "$ATTEST" verify "$T/a/run.log" --pub "$T/a/run.pub"
assert "the report shows the TPM evidence" grep -q "^tpm       TPM-anchored: 2 of 2 seals, counter 1..2, 1 epoch" "$T/out"
"$ATTEST" log show "$T/a/run.log" >"$T/show"
assert "a tpm record after the run record" grep -q "^       1  tpm" "$T/show"
assert "every seal is TPM-anchored" test "$(grep -c 'seal .*TPM-anchored' "$T/show")" -eq 2

expect "a run without a TPM records" 0 env -u ATTEST_TCTI "$EX" "$T/plain"
expect "and verifies" 0 "$ATTEST" verify "$T/plain/run.log" --pub "$T/plain/run.pub"
assert "labelled not TPM-anchored" grep -q "not TPM-anchored" "$T/out"

# Tampering with the evidence of the last seal (its bytes are not covered by a later seal,
# so only the TPM evidence check can catch it).
last=$("$ATTEST" log show "$T/a/run.log" | awk '$2 == "seal" { i = $1 } END { print i }')
rec=$("$ATTEST" log get "$T/a/run.log" --index "$last")
tamper() { # NAME PATTERN SED-EXPR
    local name=$1 pat=$2 expr=$3
    cp "$T/a/run.log" "$T/t.log"
    bad=$(printf '%s' "$rec" | sed "$expr")
    [ "$bad" != "$rec" ] || { nok "$name (the edit changed nothing)"; return; }
    # Rewrite the last frame with a valid frame check, as a forger would.
    /usr/bin/python3 - "$T/t.log" "$bad" <<'PY'
import hashlib, struct, sys
path, rec = sys.argv[1], sys.argv[2].encode()
data = open(path, "rb").read()
pos, last = 16, 16
while pos < len(data):
    (n,) = struct.unpack("<I", data[pos:pos + 4])
    last, pos = pos, pos + 12 + n
frame = struct.pack("<I", len(rec)) + rec + hashlib.sha256(b"\0" + rec).digest()[:8]
open(path, "wb").write(data[:last] + frame)
PY
    "$ATTEST" verify "$T/t.log" --pub "$T/a/run.pub" >"$T/out" 2>&1
    local rc=$?
    if [ $rc -eq 1 ] && grep -Eq -- "$pat" "$T/out"; then ok "verify fails: $name"; else nok "verify fails: $name (exit $rc)"; sed 's/^/#   /' "$T/out" | tail -3; fi
}
tamper "a flipped byte in the extend certification" "signature|does not verify" 's/\("extend":{"attest":"[0-9a-f]\{40\}\)\(.\)/\1f/'
tamper "a flipped byte in the counter signature" "signature|does not verify" 's/\("counter":{"attest":"[0-9a-f]*","signature":"[0-9a-f]\{30\}\)./\1e/'
tamper "evidence without its counter" "tpm" 's/,"counter":{[^}]*}//'

# The TPM goes away mid-run: the next seal is written without evidence, the
# recorder reports it, the run goes on, and verify counts it as unanchored.
mkdir "$T/gone"
"$ATTEST" keygen example.com/tpm-gone -o "$T/gone/run" >/dev/null
TCTI2=$(scripts/swtpm start "$T/tpm2")
cat >"$T/gone.py" <<'PY'
import os, subprocess, sys
sys.path.insert(0, os.path.join(os.environ["REPO"], "python"))
import attest
d, tcti = sys.argv[1], sys.argv[2]
run = attest.Run(os.path.join(d, "run.log"), key=os.path.join(d, "run.key"), tpm=tcti)
run.note("anchored")
run.seal()
run.flush()
subprocess.run([os.path.join(os.environ["REPO"], "scripts", "swtpm"), "stop", sys.argv[3]], check=True)
run.note("after the TPM went away")
run.seal()
code, msg, failed = run.close()
print("status", code, failed, msg)
PY
export ATTEST_LIB="$PWD/$BUILD/libattest.so.0" REPO="$PWD"
case "$ATTEST_LIB" in /*) ;; *) ATTEST_LIB="$PWD/$ATTEST_LIB" ;; esac
if readelf -d "$ATTEST_LIB" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
expect "a run whose TPM goes away goes on" 0 /usr/bin/python3 "$T/gone.py" "$T/gone" "$TCTI2" "$T/tpm2"
assert "the recorder reports the unanchored seal" grep -q "TPM anchoring failed, sealed without evidence" "$T/out"
unset LD_PRELOAD
expect "its log still verifies" 0 "$ATTEST" verify "$T/gone/run.log" --pub "$T/gone/run.pub"
assert "counted as unanchored" grep -q "TPM-anchored: 1 of 2 seals" "$T/out"
