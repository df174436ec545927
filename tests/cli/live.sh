# Live verification with a real swtpm: `attest live` binds the auditor's
# nonce to a fresh TPM quote of the log head, replays the draw on the host
# and writes a transcript; `attest verify --transcript` checks it offline.
# A transcript with another nonce, an old quote, a forged quote or edited
# results fails.
. "$(dirname "$0")/lib.bash"
if ! command -v swtpm >/dev/null; then
    ok "live sessions # SKIP swtpm not installed"
    exit 0
fi
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TCTI=$(scripts/swtpm start "$T/tpm") || { nok "swtpm starts"; exit 1; }
trap 'scripts/swtpm stop "$T/tpm"; rm -rf "$T"' EXIT
R="$T/run"
ATTEST_TCTI=$TCTI "$BUILD/train_gpt" --out "$R" --steps 16 --ckpt-every 4 --seal-every 4 \
    --batch 4 --code "$PWD" >"$T/out" 2>"$T/err"
assert "a TPM-anchored run is trained" grep -q '"type":"tpm"' "$R/run.log"

NONCE=5eed0fda7e0123456789
expect "attest live runs a session" 0 \
    "$ATTEST" live "$R/run.log" --pub "$R/run.pub" --tcti "$TCTI" --nonce $NONCE \
    -o "$T/transcript.json" --html "$T/live.html" --replay 2
assert "  ... it says VERIFIED" grep -q "^VERIFIED" "$T/out"
assert "  ... it writes the transcript" test -s "$T/transcript.json"
assert "  ... and the HTML report" grep -q "VERIFIED" "$T/live.html"
expect "the transcript verifies offline" 0 \
    "$ATTEST" verify "$R/run.log" --pub "$R/run.pub" --transcript "$T/transcript.json" --quiet
assert "  ... the report names the session" \
    grep -q "^live      session of .*nonce $NONCE, TPM quote of tree size .*its results match" "$T/out"
echo "$NONCE" >"$T/nonce"
expect "a nonce from a file works too" 0 \
    "$ATTEST" live "$R/run.log" --pub "$R/run.pub" --tcti "$TCTI" --nonce-file "$T/nonce" \
    -o "$T/t2.json" --replay 1 --quiet
expect "a nonce typed in works too" 0 \
    sh -c 'echo "$1" | "$2" live "$3/run.log" --pub "$3/run.pub" --tcti "$4" -o "$5" --replay 1' \
    sh "$NONCE" "$ATTEST" "$R" "$TCTI" "$T/t3.json"

# edit FILE PYTHON: a copy of the transcript with t (the JSON) changed by PYTHON.
edit() {
    /usr/bin/python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(t, open(sys.argv[2], "w"))' "$T/transcript.json" "$T/$1" "$2"
}
rejects() { # NAME FILE PATTERN
    "$ATTEST" verify "$R/run.log" --pub "$R/run.pub" --transcript "$T/$2" --quiet >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -eq 1 ] && grep -Eq -- "$3" "$T/out"; then ok "$1"; else
        nok "$1 (exit $rc, expected 1 and /$3/)"; sed 's/^/#   /' "$T/out" | grep -E "FAILED|ERROR" | head -3; fi
}
edit other-nonce.json 't["quote"]["nonce"] = "00" + t["quote"]["nonce"][2:]'
rejects "a transcript with another nonce fails" other-nonce.json \
    "qualifying data is not the digest of this nonce and this log head"
edit flipped.json 's = t["quote"]["tpm"]["extend"]["signature"]; t["quote"]["tpm"]["extend"]["signature"] = s[:-2] + ("00" if s[-2:] != "00" else "01")'
rejects "a transcript whose quote signature is changed fails" flipped.json \
    "signature does not verify|not a marshalled"
edit passed.json 't["replay"]["segments"][0]["result"] = "failed"'
rejects "a transcript with edited results fails" passed.json \
    "transcript: segment [0-9]+ is reported failed, the replay here gives passed"
edit fewer.json 't["replay"]["segments"] = t["replay"]["segments"][1:]'
rejects "a transcript that drops a segment fails" fewer.json "lists [0-9]+ replayed segments, the nonce draws"

# The run goes on after the session: a copy of the log is resumed on the same TPM and sealed.
cp -r "$R" "$T/later"
export ATTEST_LIB="$BUILD/libattest.so.0"
if readelf -d "$ATTEST_LIB" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
expect "the run seals again in the TPM after the session" 0 /usr/bin/python3 -c '
import sys; sys.path.insert(0, sys.argv[1] + "/python")
import attest
r = attest.Run(sys.argv[2] + "/run.log", key=sys.argv[2] + "/run.key", tpm=sys.argv[3])
r.seal()
code, msg, failed = r.close()
print(msg, file=sys.stderr)
sys.exit(1 if code else 0)' "$PWD" "$T/later" "$TCTI"
unset LD_PRELOAD
rejects_log() { # NAME LOG FILE PATTERN
    "$ATTEST" verify "$2" --pub "$R/run.pub" --transcript "$T/$3" --quiet >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -eq 1 ] && grep -Eq -- "$4" "$T/out"; then ok "$1"; else
        nok "$1 (exit $rc, expected 1 and /$4/)"; grep -E "FAILED|ERROR" "$T/out" | head -3 | sed 's/^/#   /'; fi
}
rejects_log "an old quote (the run sealed since) fails against the newer log" "$T/later/run.log" \
    transcript.json "its quote is of the seal of tree size [0-9]+, the log's latest seal signs [0-9]+"
"$ATTEST" live "$R/run.log" --pub "$R/run.pub" --tcti "$TCTI" --nonce 22 -o "$T/hidden.json" \
    --replay 1 --quiet >/dev/null 2>&1
rejects_log "a session over a log that hides a later seal fails (the TPM chain moved on)" \
    "$R/run.log" hidden.json "extend index holds another chain than the log's anchored seals give"
"$BUILD/train_gpt" --out "$T/plain" --steps 4 --ckpt-every 2 --batch 2 --code "$PWD" >/dev/null 2>&1
expect_err "--transcript and --nonce do not mix" 2 "own nonce" \
    "$ATTEST" verify "$R/run.log" --pub "$R/run.pub" --transcript "$T/transcript.json" --nonce 00
expect_err "a live session of an unanchored run says why" 2 "not TPM-anchored" \
    "$ATTEST" live "$T/plain/run.log" --pub "$R/run.pub" --tcti "$TCTI" --nonce 00 -o "$T/x.json"
