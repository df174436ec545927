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
tamper "a flipped byte in the extend certification" "signature|does not verify" 's/\("extend":{"attest":"[0-9a-f]\{40\}\)[0-9a-e]/\1f/; t; s/\("extend":{"attest":"[0-9a-f]\{40\}\)f/\10/'
tamper "a flipped byte in the counter signature" "signature|does not verify" 's/\("counter":{"attest":"[0-9a-f]*","signature":"[0-9a-f]\{30\}\)[0-9a-d]/\1e/; t; s/\("counter":{"attest":"[0-9a-f]*","signature":"[0-9a-f]\{30\}\)[ef]/\10/'
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

# Key provenance: the auditor enrolls the AK (EK certificate against the CA,
# credential activation), the run records the enrollment, verify checks it.
"$ATTEST" keygen example.com/auditor -o "$T/auditor" >/dev/null
"$ATTEST" keygen example.com/other-auditor -o "$T/other-auditor" >/dev/null
CA=("--tpm-ca" "$T/tpm/ca/issuercert.pem" "--tpm-ca" "$T/tpm/ca/swtpm-localca-rootca-cert.pem")
expect "attest tpm enroll" 0 "$ATTEST" tpm enroll --tcti "$TCTI" --key "$T/auditor.key" -o "$T/enrollment" \
    --ca "$T/tpm/ca/issuercert.pem" --ca "$T/tpm/ca/swtpm-localca-rootca-cert.pem"
assert "the enrollment is a note signed by the auditor" grep -q "^— example.com/auditor " "$T/enrollment"
mkdir "$T/e"
"$ATTEST" keygen example.com/enrolled-run -o "$T/e/run" >/dev/null
expect "a run records with its enrollment" 0 env ATTEST_TCTI="$TCTI" ATTEST_TPM_ENROLLMENT="$T/enrollment" "$EX" "$T/e"
expect "verify with the CA and the auditor's key" 0 "$ATTEST" verify "$T/e/run.log" --pub "$T/e/run.pub" "${CA[@]}" --enrollment-key "$T/auditor.pub"
assert "the report names the EK issuer" grep -q "^tpm ek    certificate issued by .*chains to the given CA" "$T/out"
assert "the report names the auditor" grep -q "^tpm ak    enrolled by example.com/auditor" "$T/out"
expect "another auditor's key: refused" 1 "$ATTEST" verify "$T/e/run.log" --pub "$T/e/run.pub" --enrollment-key "$T/other-auditor.pub"
assert "  ... naming the enrollment" grep -q "enrollment" "$T/out"
TCTI3=$(scripts/swtpm start "$T/tpm3")
"$ATTEST" verify "$T/e/run.log" --pub "$T/e/run.pub" --tpm-ca "$T/tpm3/ca/issuercert.pem" --tpm-ca "$T/tpm3/ca/swtpm-localca-rootca-cert.pem" --enrollment-key "$T/auditor.pub" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "does not chain to the given CA" "$T/out"; then ok "another vendor's CA: the EK certificate does not chain"; else nok "another vendor's CA (exit $rc)"; fi
expect_err "enrolling against another TPM's CA is refused" 1 "does not chain" "$ATTEST" tpm enroll --tcti "$TCTI" --key "$T/auditor.key" -o "$T/enrollment2" --ca "$T/tpm3/ca/issuercert.pem"
mkdir "$T/e3"
"$ATTEST" keygen example.com/e3 -o "$T/e3/run" >/dev/null
expect_err "an enrollment for another TPM's AK is refused at open" 1 "not for this TPM's AK" env ATTEST_TCTI="$TCTI3" ATTEST_TPM_ENROLLMENT="$T/enrollment" "$EX" "$T/e3"
expect_err "resuming a log with another TPM is refused" 1 "anchored in another TPM" env ATTEST_TCTI="$TCTI3" "$EX" "$T/a"
expect_err "anchoring a log that was sealed without a TPM is refused" 1 "sealed without a TPM" env ATTEST_TCTI="$TCTI3" "$EX" "$T/plain"
scripts/swtpm stop "$T/tpm3"
expect "an anchored run without enrollment, when the auditor asks for one" 1 "$ATTEST" verify "$T/a/run.log" --pub "$T/a/run.pub" --enrollment-key "$T/auditor.pub"
assert "  ... says it is not enrolled" grep -q "not enrolled\|no \"ek_certificate\"" "$T/out"
expect "a run without TPM, when the auditor asks for provenance" 1 "$ATTEST" verify "$T/plain/run.log" --pub "$T/plain/run.pub" "${CA[@]}" --enrollment-key "$T/auditor.pub"
assert "  ... says it is not TPM-anchored" grep -q "not TPM-anchored" "$T/out"
expect_err "--tpm-ca alone is refused: a public EK certificate proves nothing" 2 "needs --enrollment-key" "$ATTEST" verify "$T/e/run.log" --pub "$T/e/run.pub" "${CA[@]}"
"$ATTEST" verify "$T/a/run.log" --pub "$T/a/run.pub" >"$T/out" 2>&1
assert "without an enrollment the report says whose TPM is unproven" grep -q "AK not enrolled" "$T/out"
