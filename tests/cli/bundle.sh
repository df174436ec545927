# Bundles (format/BUNDLE.md): `attest bundle create` packs a run, `attest
# verify RUN.attest` verifies it from the bundle alone, what a bundle lacks
# is "not checked" (exit 3), damage names the member, and the reader
# refuses names that would leave its directory. Members are checked with
# tools we did not write: zstd, sha256sum, git.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN="$BUILD/train_gpt"
FORGE="$BUILD/tests/forge_gpt"
export TMPDIR="$T"
NONCE=00112233445566778899aabbccddeeff

# A code repository of our own, with fixed dates, so that its commit is the same on every run.
REPO="$T/repo"
git init -q "$REPO" && echo "print('train')" >"$REPO/train.py" && git -C "$REPO" add train.py &&
    GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
        git -C "$REPO" -c user.name=t -c user.email=t@example.com commit -qm code
COMMIT=$(git -C "$REPO" rev-parse HEAD)
SMALL=(--steps 12 --ckpt-every 4 --seal-every 5 --batch 4 --code "$REPO")

expect "train_gpt records a short run" 0 "$TRAIN" --out "$T/run" "${SMALL[@]}"
expect "[BUNDLE-5] a bundle with data, all checkpoints and the code commit is made" 0 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/full.attest" --with-data \
    --with-checkpoints all --with-code "$REPO"
assert "no progress bar when stderr is a pipe" test ! -s "$T/err"
assert "[BUNDLE-1] the file starts with the bundle's skippable frame" \
    sh -c "head -c 24 '$T/full.attest' | od -An -tx1 | tr -d ' \n' | grep -qx 5a2a4d1810000000617474657374"\
"2d62756e646c65000100"
assert "the run's secret key is not in the bundle" sh -c "! '$ATTEST' bundle list '$T/full.attest' | grep -q 'run.key'"

# The body, decompressed by the zstd tool and cut by its manifest, against sha256sum.
assert "[BUNDLE-2] [BUNDLE-3] zstd -d reads the bundle" sh -c "zstd -qdc '$T/full.attest' >'$T/body'"
assert "[BUNDLE-6] [BUNDLE-9] each member's size and SHA-256 (hashlib) are the manifest's" \
    /usr/bin/python3 -c '
import hashlib, json, struct, sys
body = open(sys.argv[1], "rb").read()
m = struct.unpack("<Q", body[:8])[0]
man = json.loads(body[8:8 + m])
assert man["format"] == "attest-bundle" and man["version"] == 1, man
at = 8 + m
for e in man["members"]:
    data = body[at:at + e["size"]]
    assert len(data) == e["size"] and hashlib.sha256(data).hexdigest() == e["sha256"], e
    at += e["size"]
assert at == len(body)
roles = [e["role"] for e in man["members"]]
assert roles.count("log") == 1 and roles.count("checkpoint") == 4 and roles.count("code") == 1, roles
assert man["packed"] == {"data": "all", "checkpoints": "all", "code": "git-bundle"}, man' "$T/body"
expect "bundle extract writes the members" 0 "$ATTEST" bundle extract "$T/full.attest" -o "$T/x"
"$ATTEST" bundle list "$T/full.attest" | awk 'NF == 4 {print $1 "  " $4}' >"$T/manifest.sum"
assert "sha256sum of the extracted members matches the manifest" \
    sh -c "cd '$T/x' && sha256sum --quiet -c '$T/manifest.sum'"
assert "the extracted log is the run's log" cmp "$T/x/run.log" "$T/run/run.log"
assert "--with-code: the code member is a git bundle of the logged commit" \
    sh -c "git bundle list-heads '$T/x/code/$COMMIT.bundle' | grep -q '^$COMMIT refs/heads/attest-code'"
assert "  ... which git clones to the commit's tree" \
    sh -c "git clone -q '$T/x/code/$COMMIT.bundle' '$T/clone' &&
           test \$(git -C '$T/clone' rev-parse HEAD) = $COMMIT && cmp '$T/clone/train.py' '$REPO/train.py'"
expect "extract refuses an existing directory" 2 "$ATTEST" bundle extract "$T/full.attest" -o "$T/x"

# Verification from the bundle alone.
mv "$T/run" "$T/run.gone"
expect "verify --replay all from the bundle alone (run directory gone)" 0 \
    "$ATTEST" verify "$T/full.attest" --replay all --nonce $NONCE --quiet
assert "  ... VERIFIED" grep -q "^VERIFIED" "$T/out"
assert "  ... every segment replayed" test "$(grep -c '^segment .*passed' "$T/out")" -eq 3
assert "  ... the report says the key came from the bundle and prints it" \
    grep -q "^key       FROM THE BUNDLE: example.com/train-gpt+" "$T/out"
assert "  ... the temporary directory is removed" sh -c "! ls -d '$T'/attest-bundle-* 2>/dev/null"
expect "verify --json of a bundle" 0 "$ATTEST" verify "$T/full.attest" --json --quiet
assert "  ... says verified and where the key came from" /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "verified" and r["bundle"]["key_from_bundle"] is True, r
assert r["bundle"]["key"].startswith("example.com/train-gpt+"), r' "$T/out"
expect "verify --pub uses the auditor's key, not the bundle's" 0 \
    "$ATTEST" verify "$T/full.attest" --pub "$T/run.gone/run.pub" --quiet
assert "  ... and does not print the bundle's" sh -c "! grep -q 'FROM THE BUNDLE' '$T/out'"
"$ATTEST" keygen example.com/other -o "$T/other" >/dev/null 2>&1
expect "verify --pub with another key fails" 1 \
    "$ATTEST" verify "$T/full.attest" --pub "$T/other.pub" --quiet

# What the bundle lacks is not checked, never passed: exit 3.
mv "$T/run.gone" "$T/run"
expect "a bundle without checkpoints" 0 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/nock.attest" --with-data
expect "  ... verifies without replay" 0 "$ATTEST" verify "$T/nock.attest" --quiet
expect "  ... --replay 3 is partial (exit 3)" 3 "$ATTEST" verify "$T/nock.attest" --replay 3 --quiet
assert "  ... not checked: the bundle holds no checkpoints" \
    grep -q "^not checked .*: the bundle holds no checkpoints" "$T/out"
assert "  ... PARTIAL, not VERIFIED" sh -c "grep -q '^PARTIAL: ' '$T/out' && ! grep -q VERIFIED '$T/out'"
expect "  ... --json" 3 "$ATTEST" verify "$T/nock.attest" --replay 3 --quiet --json
assert "  ... verdict partial with a not_checked list" /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "partial" and r["replay"]["result"] == "partial", r
nc = r["not_checked"]
assert any(i["what"].startswith("checkpoint files") for i in nc), nc
assert all(i["why"] == "the bundle holds no checkpoints" for i in nc), nc
assert r["replay"]["initialization"]["result"] == "not checked", r' "$T/out"
expect "a bundle with checkpoints but no data" 0 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/nodata.attest" --with-checkpoints all
expect "  ... --replay 1 is partial (exit 3)" 3 "$ATTEST" verify "$T/nodata.attest" --replay 1 --quiet
assert "  ... its checkpoint files were checked" grep -q "^files     4 checkpoint and 0 shard" "$T/out"
assert "  ... shards and segments are not checked" \
    sh -c "grep -q '^not checked shard files (' '$T/out' && grep -q '^not checked segment 0' '$T/out'"
expect "first,last picks two checkpoints" 0 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/fl.attest" --with-data --with-checkpoints first,last
assert "  ... the manifest lists them" \
    test "$("$ATTEST" bundle list "$T/fl.attest" | grep -c ' checkpoint ')" -eq 2
expect "  ... --replay all is partial" 3 "$ATTEST" verify "$T/fl.attest" --replay all --quiet
expect "--with-checkpoints refuses a step the log lacks" 2 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/bad.attest" --with-checkpoints 5
mkdir "$T/ck" && cp "$T/run/checkpoints/step-000000.safetensors" "$T/ck/"
expect "a plain directory missing a checkpoint stays \"could not check\" (exit 2)" 2 \
    "$ATTEST" verify "$T/run/run.log" --pub "$T/run/run.pub" --replay 1 --checkpoints "$T/ck" --quiet
expect "bundle create refuses the secret key as --pub" 2 \
    "$ATTEST" bundle create "$T/run/run.log" -o "$T/key.attest" --pub "$T/run/run.key"
assert "  ... and leaves no file" test ! -e "$T/key.attest"

# Damage names the member.
size=$(stat -c %s "$T/full.attest")
cp "$T/full.attest" "$T/flip.attest"
off=$((size * 3 / 5))
printf '\xff' | dd of="$T/flip.attest" bs=1 seek=$off conv=notrunc status=none
printf '\x00' | dd of="$T/flip.attest" bs=1 seek=$((off + 1)) conv=notrunc status=none
expect_err "[BUNDLE-9] a damaged byte: exit 2 naming the member" 2 \
    "member [0-9]+ \(checkpoints/step-0000[0-9]+\.safetensors, checkpoint\)" \
    "$ATTEST" verify "$T/flip.attest" --quiet
assert "  ... and the temporary directory is removed" sh -c "! ls -d '$T'/attest-bundle-* 2>/dev/null"
head -c $((size - 1000)) "$T/full.attest" >"$T/trunc.attest"
expect_err "a truncated bundle: exit 2, truncated, naming the member" 2 \
    "member [0-9]+ \(.*\): the bundle is truncated after" "$ATTEST" verify "$T/trunc.attest" --quiet
cat "$T/full.attest" "$T/full.attest" >"$T/twice.attest"
expect_err "[BUNDLE-3] trailing data is refused" 2 "after the last member" \
    "$ATTEST" bundle list "$T/twice.attest"

# A bundle another implementation could write (zstd tool, one frame each), and hostile ones.
craft() { # craft OUT MANIFEST FILE...: magic frame, then the manifest frame, then a frame per file
    local out=$1 man=$2
    shift 2
    printf '\x5a\x2a\x4d\x18\x10\x00\x00\x00attest-bundle\x00\x01\x00' >"$out"
    /usr/bin/python3 -c 'import struct,sys; m=sys.argv[1].encode(); sys.stdout.buffer.write(struct.pack("<Q", len(m)) + m)' "$man" |
        zstd -qc >>"$out"
    for f in "$@"; do zstd -qc <"$f" >>"$out"; done
}
member() { # member ROLE NAME FILE
    printf '{"role":"%s","name":"%s","size":%d,"sha256":"%s"}' "$1" "$2" "$(stat -c %s "$3")" \
        "$(sha256sum <"$3" | cut -c1-64)"
}
L="$T/run/run.log"
craft "$T/peer.attest" "{\"format\":\"attest-bundle\",\"version\":1,\"members\":[$(member log run.log "$L")]}" "$L"
expect "a bundle written with the zstd tool is read" 0 "$ATTEST" bundle extract "$T/peer.attest" -o "$T/peer"
assert "  ... to the same log" cmp "$T/peer/run.log" "$L"
mkdir "$T/jail"
for bad in "../escape" "/tmp/abs" "data/../../escape" "data/sub/deep" "data/.."; do
    craft "$T/evil.attest" "{\"format\":\"attest-bundle\",\"version\":1,\"members\":[$(member log run.log "$L"),$(member shard "$bad" "$L")]}" "$L" "$L"
    expect_err "[BUNDLE-8] the name \"$bad\" is refused" 2 "is not|is \"\\.\" or" \
        "$ATTEST" bundle extract "$T/evil.attest" -o "$T/jail/out"
    rm -rf "$T/jail/out"
done
assert "  ... and nothing was written outside" sh -c "test ! -e '$T/escape' && test ! -e /tmp/abs"
craft "$T/dup.attest" "{\"format\":\"attest-bundle\",\"version\":1,\"members\":[$(member log run.log "$L"),$(member shard data/a "$L"),$(member shard data/a "$L")]}" "$L" "$L" "$L"
expect_err "[BUNDLE-8] a duplicate name is refused" 2 "names \"data/a\" twice" \
    "$ATTEST" bundle list "$T/dup.attest"
head -c 10 "$L" >"$T/head10"
craft "$T/size.attest" "{\"format\":\"attest-bundle\",\"version\":1,\"members\":[$(member log run.log "$T/head10")]}" "$L"
expect_err "[BUNDLE-4] a member longer than its manifest size is refused" 2 \
    "member 0 \(run.log, log\): its frame holds more bytes" "$ATTEST" bundle list "$T/size.attest"

# A forged run in a bundle fails like the run itself.
expect "forge_gpt makes a run with an edited loss" 0 \
    "$FORGE" --out "$T/forged" "${SMALL[@]}" --forge edit-loss:6
expect "  ... which is bundled" 0 "$ATTEST" bundle create "$T/forged/run.log" -o "$T/forged.attest" \
    --with-data --with-checkpoints all
rm -rf "$T/forged"
expect "  ... and fails verification from the bundle (exit 1)" 1 \
    "$ATTEST" verify "$T/forged.attest" --replay all --nonce $NONCE --quiet
assert "  ... naming the step" grep -Eq "FAILED: step 6: loss logged" "$T/out"

# Streaming: a 200 MB checkpoint-like file goes through in bounded memory.
"$ATTEST" keygen example.com/big -o "$T/big" >/dev/null 2>&1
mkdir -p "$T/bigrun/checkpoints"
head -c 200000000 /dev/urandom >"$T/bigrun/checkpoints/big.bin"
"$ATTEST" log init "$T/bigrun/run.log" --key "$T/big.key" >/dev/null 2>&1
"$ATTEST" record checkpoint "$T/bigrun/run.log" --step 0 --raw "$T/bigrun/checkpoints/big.bin" >/dev/null 2>&1
"$ATTEST" log seal "$T/bigrun/run.log" --key "$T/big.key" >/dev/null 2>&1
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
expect "a 200 MB checkpoint is bundled" 0 /usr/bin/time -v -o "$T/time1" \
    "$ATTEST" bundle create "$T/bigrun/run.log" -o "$T/big.attest" --pub "$T/big.pub" \
    --with-checkpoints all --level 1
assert "  ... in bounded memory (max RSS $(rss "$T/time1") kB < 64 MB)" test "$(rss "$T/time1")" -lt 65536
expect "  ... and extracted" 0 /usr/bin/time -v -o "$T/time2" \
    "$ATTEST" bundle extract "$T/big.attest" -o "$T/bigx" --quiet
assert "  ... in bounded memory (max RSS $(rss "$T/time2") kB < 64 MB)" test "$(rss "$T/time2")" -lt 65536
assert "  ... to the same bytes" cmp "$T/bigx/checkpoints/big.bin" "$T/bigrun/checkpoints/big.bin"
