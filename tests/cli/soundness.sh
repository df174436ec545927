# Soundness beyond sampled replay (verify/SOUNDNESS.md): every segment's
# weight change is checked against what AdamW can do in its logged steps;
# implausible segments are replayed whatever the draw. An interpolation
# toward another model (no training) and a blindfold run (genuine training
# where the updates are largest, tiny steps elsewhere) fail with the reason;
# honest runs pass with no segment flagged.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN="$BUILD/train_gpt"
FORGE="$BUILD/tests/forge_gpt"
SMALL=(--steps 120 --ckpt-every 20 --seal-every 20 --batch 8 --threads 2 --code "$PWD")

verify0() { # DIR [options]: replay of the first segment, the largest update and what is implausible
    local dir=$1
    shift
    "$ATTEST" verify "$dir/run.log" --pub "$dir/run.pub" --replay 0 --nonce 00 "$@"
}
json_of() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['replay']; print($1)" "$T/report.json"; }

expect "an honest run" 0 "$TRAIN" --out "$T/honest" "${SMALL[@]}"
expect "  ... verifies" 0 verify0 "$T/honest"
assert "  ... with no segment flagged" test "$(grep -c '^implausible' "$T/out")" -eq 0
verify0 "$T/honest" --json >"$T/report.json" 2>/dev/null
assert "  ... the report measures every segment" test "$(json_of "len(r['plausibility'])")" -eq 6
assert "  ... honest segments use at most the AdamW bound" \
    test "$(json_of "int(max(p['adamw_bound_use'] for p in r['plausibility']) <= 1.0)")" -eq 1
assert "  ... and move more than the floor" \
    test "$(json_of "int(min(p['move_per_lr'] for p in r['plausibility']) > 0.02)")" -eq 1

expect "forge: checkpoints interpolated from the initialization to another run's model" 0 \
    "$FORGE" --out "$T/interpolate" "${SMALL[@]}" --forge interpolate
expect "  ... its log alone verifies" 0 "$ATTEST" verify "$T/interpolate/run.log" --pub "$T/interpolate/run.pub"
expect_failure "  ... the late segments move more than AdamW can: flagged and replayed" \
    "^implausible segment #[0-9]+ .*too large for AdamW: .* moved [0-9.]+x the most" \
    verify0 "$T/interpolate"
assert "  ... and replay rejects them" grep -Eq "^segment .*implausible.*FAILED: step" "$T/out"

expect "forge: blindfold, genuine for 40 steps, then tiny steps toward another model" 0 \
    "$FORGE" --out "$T/blindfold" "${SMALL[@]}" --forge blindfold:40
expect_failure "  ... the tiny segments are flagged" \
    "^implausible segment #2 .*too small for training" verify0 "$T/blindfold"
assert "  ... all four of them" test "$(grep -c '^implausible segment' "$T/out")" -eq 4
assert "  ... the genuine segments replay and pass" grep -Eq "^segment +#0 .*passed" "$T/out"
assert "  ... the replay of a tiny one fails" grep -Eq "^segment +#2 .*implausible.*FAILED: step 41" "$T/out"
verify0 "$T/blindfold" --json >"$T/report.json" 2>/dev/null
assert "  ... the JSON report names the reason" \
    test "$(json_of "sum('too small' in p.get('implausible','') for p in r['plausibility'])")" -eq 4

expect "forge: a checkpoint whose own step counter is not its record's" 0 \
    "$FORGE" --out "$T/counter" "${SMALL[@]}" --forge counter:60
expect_failure "  ... is flagged and replayed" \
    "^implausible segment #2 .*its checkpoint's step counter says 61, its record step 60" \
    verify0 "$T/counter"
