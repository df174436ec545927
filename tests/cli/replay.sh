# Replay verification with the built-in engine (verify/REPLAY.md): honest
# runs of examples/c/train_gpt.c verify with every thread count, and each
# forgery the project knows of makes `attest verify --replay` exit 1 with a
# reason that names what is wrong. The dishonest runs come from
# build/tests/forge_gpt, train_gpt built with its test-only --forge modes.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN="$BUILD/train_gpt"
FORGE="$BUILD/tests/forge_gpt"
REPO=$PWD
SMALL=(--steps 12 --ckpt-every 4 --seal-every 5 --batch 4 --code "$REPO")
NONCE=00112233445566778899aabbccddeeff

# verify_replay DIR [options]: attest verify with replay of DIR's run.
verify_replay() {
    local dir=$1
    shift
    "$ATTEST" verify "$dir/run.log" --pub "$dir/run.pub" --replay all --nonce $NONCE "$@"
}

# fails_with NAME PATTERN DIR [options]: exit 1 and PATTERN (grep -E) in the report.
fails_with() {
    local name=$1 pat=$2
    shift 2
    expect_failure "$name" "$pat" verify_replay "$@"
}

expect "train_gpt trains and records a short run (1 thread)" 0 \
    "$TRAIN" --out "$T/honest" "${SMALL[@]}" --threads 1
assert "train_gpt prints its summary" grep -q "^steps 12  final loss" "$T/out"
for f in run.log run.key run.pub data checkpoints/step-000000.safetensors \
    checkpoints/step-000004.safetensors checkpoints/step-000012.safetensors; do
    assert "train_gpt leaves $f" test -e "$T/honest/$f"
done
expect "the log verifies without replay" 0 "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub"

expect "an honest run verifies with replay of every segment" 0 verify_replay "$T/honest"
assert "no progress on a pipe" test ! -s "$T/err"
expect "--progress shows it anyway" 0 verify_replay "$T/honest" --progress
cp "$T/err" "$T/progress"
assert "progress goes to stderr" grep -q "^attest verify: segment 3/3" "$T/progress"
assert "the report says VERIFIED" grep -q "^VERIFIED" "$T/out"
assert "the initialization is regenerated from the seed" grep -q "^init      passed" "$T/out"
assert "three segments are replayed and pass" test "$(grep -c '^segment .*passed' "$T/out")" -eq 3
assert "the report gives the detection probability (3 random segments)" \
    grep -q "^detection .* 1%: 3.0%; 5%: 14.3%; 10%: 27.1%; 25%: 57.8%" "$T/out"
assert "the report names the reasons of the choice" grep -Eq "^segment +#0 .*first" "$T/out"
expect "replay on 2 threads gives the same bits" 0 verify_replay "$T/honest" --threads 2
expect "replay on 3 threads gives the same bits" 0 verify_replay "$T/honest" --threads 3 --quiet --progress
assert "--quiet prints no progress, even with --progress" test ! -s "$T/err"

expect "train_gpt trains the same run on 2 threads" 0 \
    "$TRAIN" --out "$T/honest2" "${SMALL[@]}" --threads 2
assert "2 threads train the same weights as 1 thread" \
    cmp "$T/honest/checkpoints/step-000012.safetensors" "$T/honest2/checkpoints/step-000012.safetensors"
expect "a run trained on 2 threads verifies on 1" 0 verify_replay "$T/honest2" --threads 1

expect "--json carries the replay report" 0 verify_replay "$T/honest" --json --quiet
assert "the JSON report says passed" /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["replay"]
assert r["result"] == "passed" and r["initialization"]["result"] == "passed", r
assert r["segments_total"] == 3 and len(r["segments"]) == 3, r
assert all(s["result"] == "passed" for s in r["segments"]), r
assert r["steps_replayed"] == 12 and r["nonce"] is True, r
assert [d["forged_fraction"] for d in r["detection"]] == [0.01, 0.05, 0.1, 0.25], r' "$T/out"

# The draw depends on the nonce and on nothing else the prover controls.
"$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --nonce aa --json --quiet >"$T/a1"
"$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --nonce aa --json --quiet >"$T/a2"
selection() {
    /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["replay"]
print(r["challenge"], [(s["segment"], s["why"]) for s in r["segments"]])' "$1"
}
selection "$T/a1" >"$T/sel"
selection "$T/a2" >"$T/sel2"
assert "the same nonce draws the same segments" cmp "$T/sel" "$T/sel2"
assert "--replay 1 replays the first, one random and the largest update" \
    grep -Eq "random" "$T/sel"
expect "without a nonce the report warns that the draw is predictable" 0 \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --quiet
assert "  ... NO NONCE is said" grep -q "NO NONCE" "$T/out"

# Forgeries. The logs are signed and well-formed: only replay finds them.
expect "forge: initial checkpoint from another seed" 0 \
    "$FORGE" --out "$T/init-seed" "${SMALL[@]}" --forge init-seed
expect "  ... its log alone verifies" 0 "$ATTEST" verify "$T/init-seed/run.log" --pub "$T/init-seed/run.pub"
fails_with "  ... replay rejects it, naming the tensor" \
    "init +FAILED: .*step-000000.safetensors: tensor wte differs from the weights regenerated from seed" \
    "$T/init-seed"

expect "forge: weights replaced mid-run by another run's weights" 0 \
    "$FORGE" --out "$T/swap" "${SMALL[@]}" --forge swap-weights:6
fails_with "  ... replay rejects segment 5-8 at the first step after the swap" \
    "segment +#1 +steps +5-8 .*FAILED: step 7: loss logged .* replay computes" \
    "$T/swap"
fails_with "  ... the largest-update draw finds it without luck" \
    "segment +#1 .*largest-update.*FAILED" "$T/swap" --replay 0

cp -r "$T/honest" "$T/shard"
printf 'X' | dd of="$T/shard/data/GPL-3" bs=1 seek=100 conv=notrunc 2>/dev/null
fails_with "forge: a data shard changed after it was recorded" \
    "data/GPL-3: its SHA-256 is not the one record [0-9]+ \\(shard [0-9]+\\) holds" "$T/shard"

expect "forge: a step trained on other data than recorded" 0 \
    "$FORGE" --out "$T/other-data" "${SMALL[@]}" --forge other-data:6
fails_with "  ... replay names the step and the loss" \
    "segment +#1 .*FAILED: step 6: loss logged .* replay computes" "$T/other-data"

expect "forge: a step that logs other windows than the data order picks" 0 \
    "$FORGE" --out "$T/other-refs" "${SMALL[@]}" --forge other-refs:7
fails_with "  ... replay names the step" \
    "FAILED: step 7 \\(record [0-9]+\\): its batch is not the one the committed data order picks" \
    "$T/other-refs"

cp -r "$T/honest" "$T/edited"
f="$T/edited/checkpoints/step-000008.safetensors"
printf '\x01' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - 4000)) conv=notrunc 2>/dev/null
fails_with "forge: a checkpoint file edited" \
    "step-000008.safetensors: tensor [a-z0-9.]+ was changed after it was recorded" "$T/edited"

expect "forge: a step's logged loss edited" 0 \
    "$FORGE" --out "$T/edit-loss" "${SMALL[@]}" --forge edit-loss:10
fails_with "  ... replay names the step" "segment +#2 .*FAILED: step 10: loss logged" "$T/edit-loss"

# What cannot be checked is not a verdict on the run: exit 2, and it says why.
expect_err "missing checkpoint directory: could not check (exit 2), naming the file" 2 \
    "ERROR: replay: .*nowhere/step-000000.safetensors: No such file" \
    verify_replay "$T/honest" --checkpoints "$T/nowhere" --quiet
expect_err "replay options need --replay" 2 "go with --replay" \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --threads 2
expect_err "a bad nonce is refused" 2 "nonce" \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --nonce xyz
expect_err "train_gpt refuses to overwrite a run" 2 "exists" "$TRAIN" --out "$T/honest" --steps 1
