# `attest export --format in-toto` (format/EXPORT.md): a real run of the C
# reference trainer is exported, and the DSSE envelope is checked by
# tests/python/dsse_check.py (Python's cryptography, PAE computed there)
# against sha256sum of the final checkpoint and the data files. Tampered
# envelopes fail that check; logs that do not verify are not exported.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK="$HERE/../python/dsse_check.py"
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
R="$T/run"

expect "train_gpt records a short run" 0 \
    "$BUILD/train_gpt" --out "$R" --steps 20 --ckpt-every 10 --batch 4 --code "$PWD"
expect "export writes an envelope with -o" 0 \
    "$ATTEST" export "$R/run.log" --format in-toto --key "$R/run.key" --pub "$R/run.pub" \
    -o "$T/run.intoto.json"
assert "the envelope is one line of JSON" test "$(wc -l <"$T/run.intoto.json")" -eq 1
expect "export writes the envelope to stdout without -o" 0 \
    "$ATTEST" export "$R/run.log" --format in-toto --key "$R/run.key"
# Ed25519 is deterministic and so is the statement: the same bytes both ways.
assert "stdout and -o give the same envelope (without --pub: the key's own public half)" \
    cmp "$T/out" "$T/run.intoto.json"

# The final checkpoint file, found by its name on disk, not by the export.
final=$(ls "$R/checkpoints" | sort | tail -n 1)
(cd "$R/checkpoints" && sha256sum "$final") >"$T/subjects.sums"
(cd "$R/data" && sha256sum *) >"$T/data.sums"
if ! "$PY" -c 'from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey' \
    2>/dev/null; then
    ok "the envelope verifies with Python's cryptography # SKIP $PY has no cryptography"
else
    # Its ok/not ok lines are this test's own; a crash without them is a failure too.
    "$PY" "$CHECK" "$T/run.intoto.json" "$R/run.pub" --subjects "$T/subjects.sums" \
        --data-sums "$T/data.sums" >"$T/check" 2>&1
    rc=$?
    cat "$T/check"
    [ "$rc" -eq 0 ] || grep -q "^not ok - " "$T/check" || nok "dsse_check.py exited with $rc"

    # tamper KEY PYTHON-EXPR: rewrites the envelope's KEY with EXPR of its old value v.
    tamper() {
        "$PY" - "$T/run.intoto.json" "$T/bad.json" "$1" "$2" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
v = env[sys.argv[3]]
env[sys.argv[3]] = eval(sys.argv[4])
json.dump(env, open(sys.argv[2], "w"))
PY
    }
    # fails_check NAME: dsse_check.py on bad.json exits 1 and says the signature failed.
    fails_check() {
        "$PY" "$CHECK" "$T/bad.json" "$R/run.pub" >"$T/check" 2>&1
        local rc=$?
        if [ "$rc" -eq 1 ] && grep -q "^not ok - an Ed25519 signature" "$T/check"; then
            ok "$1"
        else
            nok "$1 (exit $rc)"
            sed 's/^/#   /' "$T/check" | head -5
        fi
    }
    tamper payload 'base64.b64encode(base64.b64decode(v).replace(b"\"step\":20", b"\"step\":21", 1)).decode()'
    assert "the tampered payload differs from the signed one" \
        bash -c "! cmp -s '$T/bad.json' '$T/run.intoto.json'"
    fails_check "a payload with one byte changed fails the Python check"
    tamper payload 'base64.b64encode(bytes([base64.b64decode(v)[0] ^ 1]) + base64.b64decode(v)[1:]).decode()'
    fails_check "a payload with its first byte flipped fails the Python check"
    tamper payloadType '"application/vnd.in-toto+jsoN"'
    fails_check "a changed payloadType fails the Python check"
    # The same envelope re-encoded URL-safe still verifies (DSSE: verifiers accept both).
    tamper payload 'v.replace("+", "-").replace("/", "_")'
    expect "a URL-safe re-encoding of the payload still verifies" 0 \
        "$PY" "$CHECK" "$T/bad.json" "$R/run.pub"
fi

# Logs that do not verify are not exported: exit 1 and the reason.
"$ATTEST" keygen example.com/someone-else -o "$T/other" >/dev/null
expect_err "export with another --key (and no --pub) fails" 1 \
    "export refused: .*the log does not verify with the key example.com/someone-else" \
    "$ATTEST" export "$R/run.log" --format in-toto --key "$T/other.key"
expect_err "export with another --pub fails" 1 "export refused: .*is not the run key" \
    "$ATTEST" export "$R/run.log" --format in-toto --key "$R/run.key" --pub "$T/other.pub"
expect_err "export with --pub of the run but another --key fails" 1 \
    "the signing key example.com/someone-else is not the run key" \
    "$ATTEST" export "$R/run.log" --format in-toto --key "$T/other.key" --pub "$R/run.pub"
assert "a refused export writes nothing to stdout" test ! -s "$T/out"
cp "$R/run.log" "$T/bad.log"
printf 'X' | dd of="$T/bad.log" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect_err "export of a corrupted log fails, naming the record" 1 \
    "the log does not verify with the key example.com/train-gpt: record [0-9]+ " \
    "$ATTEST" export "$T/bad.log" --format in-toto --key "$R/run.key" -o "$T/bad.intoto.json"
assert "a refused export writes no -o file" test ! -e "$T/bad.intoto.json"
# A record changed and its frame check recomputed: only the seal's root catches it.
"$PY" - "$R/run.log" "$T/forged.log" <<'PY'
import hashlib, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
off = 16
while True:
    n = struct.unpack_from("<I", b, off)[0]
    rec = bytes(b[off + 4:off + 4 + n])
    if b'"type":"shard"' in rec:
        i = rec.index(b'"sha256":"') + 10
        rec = rec[:i] + (b"0" if rec[i:i + 1] != b"0" else b"1") + rec[i + 1:]
        b[off + 4:off + 4 + n] = rec
        b[off + 4 + n:off + 12 + n] = hashlib.sha256(b"\0" + rec).digest()[:8]
        break
    off += n + 12
open(sys.argv[2], "wb").write(b)
PY
expect_err "export of a log with a forged shard digest fails" 1 "does not verify" \
    "$ATTEST" export "$T/forged.log" --format in-toto --key "$R/run.key"

# Usage and operational errors: exit 2.
expect_err "--format is required" 2 "required" "$ATTEST" export "$R/run.log" --key "$R/run.key"
expect_err "an unknown format is refused" 2 "the only format is in-toto" \
    "$ATTEST" export "$R/run.log" --format spdx --key "$R/run.key"
expect_err "a missing log is an error, not a failed verification" 2 "could not be verified" \
    "$ATTEST" export "$T/none.log" --format in-toto --key "$R/run.key"
"$ATTEST" log init "$T/empty.log" --key "$R/run.key" >/dev/null
"$ATTEST" log seal "$T/empty.log" --key "$R/run.key" >/dev/null
expect_err "a sealed log without a checkpoint has no subject to export" 2 \
    "no checkpoint record is sealed" \
    "$ATTEST" export "$T/empty.log" --format in-toto --key "$R/run.key"
expect "export --help" 0 "$ATTEST" export --help
