# The run-to-model test (verify/SOUNDNESS.md section 4) on the configuration
# SOUNDNESS.md documents: attest verify --model says the run's own final
# model came out of it (permutation p below 1e-6) and that a model from
# another run did not (no significance), with the numbers in the report.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN="$BUILD/train_gpt"
CFG=(--corpus /usr/lib/python3.11 --layers 2 --width 64 --heads 2 --context 64 --batch 16
     --lr-max 0.004 --lr-min 0.004 --threads 2 --code "$PWD")
# Under the sanitizers (make sanitize) the engine is several times slower:
# a short run checks the mechanics, and the statistics are left to make check.
STEPS=2000
if readelf -d "$BUILD/libattest.so" 2>/dev/null | grep -q 'NEEDED.*libasan'; then STEPS=300; fi
json_of() { python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['replay']['model']; print($1)" "$T/report.json"; }

expect "a run of $STEPS steps on Debian's Python library, constant learning rate" 0 \
    "$TRAIN" --out "$T/run" "${CFG[@]}" --steps $STEPS --warmup 50 --ckpt-every 100 --seal-every 500
expect "a short run of another seed and data order (a foreign model)" 0 \
    "$TRAIN" --out "$T/other" "${CFG[@]}" --steps 200 --warmup 20 --ckpt-every 100 --seed 7 --data-seed 8

model() { "$ATTEST" verify "$T/run/run.log" --pub "$T/run/run.pub" --model "$1" "${@:2}"; }
FINAL=$(printf '%s/run/checkpoints/step-%06d.safetensors' "$T" "$STEPS")
if [ "$STEPS" -ne 2000 ]; then
    model "$FINAL" --model-examples 200 --json >"$T/report.json" 2>/dev/null
    assert "the test runs and reports (statistics: make check)" \
        test "$(json_of "int(m['examples'] == 200 and 'p' in m and 'spearman' in m)")" -eq 1
    exit 0
fi
expect "the run's own final model is shown to come from it" 0 \
    model "$FINAL"
assert "  ... the report gives the test" grep -Eq "^model .*passed: Spearman -0\.[0-9]+ between step and loss on 3600 examples \(tail steps 1901-2000\), permutation p = 9\.54e-07 \(1048576 permutations" "$T/out"
assert "  ... and what it means" grep -q "follow this run's committed data order" "$T/out"
model "$FINAL" --json >"$T/report.json" 2>/dev/null
assert "  ... p below 1e-6 in the JSON report" test "$(json_of "int(m['p'] < 1e-6 and m['result'] == 'passed')")" -eq 1
assert "  ... |z| above 5" test "$(json_of "int(m['z'] < -5)")" -eq 1

expect_failure "a model from another run is not shown to come from it" \
    "^model .*FAILED: Spearman -?0\.0[0-9]+ .*permutation p = 0\.[0-9]+" \
    model "$T/other/checkpoints/step-000200.safetensors"
assert "  ... the verdict says why" grep -q "not shown to come from this run: its losses on 3600 training examples show no trace of the committed order" "$T/out"
model "$T/other/checkpoints/step-000200.safetensors" --json >"$T/report.json" 2>/dev/null
# For a foreign model p is uniform on (0, 1): the examples are drawn from the
# last seal, which a fresh run key changes every time, so a bound of 0.01 failed
# one run in a hundred. Below 1e-4: one run in ten thousand.
assert "  ... p above 1e-4" test "$(json_of "int(m['p'] > 1e-4)")" -eq 1

expect "a model of another width" 0 "$TRAIN" --out "$T/narrow" "${CFG[@]}" --steps 1 --width 32
expect_failure "  ... is named as not of this architecture" \
    "^model .*step-000000.safetensors: tensor [a-z0-9_.]+ is F32 \[[0-9, ]+\], the run's checkpoints hold it as F32 \[[0-9, ]+\]" \
    model "$T/narrow/checkpoints/step-000000.safetensors"
expect "a file that is not safetensors cannot be checked (exit 2)" 2 model "$T/run/run.pub"
cp "$T/err" "$T/stderr"
assert "  ... and the report says so" grep -q "run.pub: not a safetensors file" "$T/stderr"
expect_err "--model-examples goes with --model" 2 "goes with --model" \
    "$ATTEST" verify "$T/run/run.log" --pub "$T/run/run.pub" --model-examples 100

# Segments that fail leave the engine holding another checkpoint's state:
# the model test still measures the model, from a fresh engine.
expect "a run with a forged initialization (another seed)" 0 "$BUILD/tests/forge_gpt" \
    --out "$T/forged" --steps 48 --ckpt-every 24 --seal-every 24 --layers 1 --width 32 \
    --heads 2 --context 16 --batch 4 --code "$PWD" --forge init-seed
"$ATTEST" verify "$T/forged/run.log" --pub "$T/forged/run.pub" --replay all --json \
    --model "$T/forged/checkpoints/step-000048.safetensors" >"$T/report.json" 2>/dev/null
assert "  ... fails its segments, and its model test still reports the model's numbers" \
    test "$(python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['replay']
m = r['model']
print(int(all(s['result'] == 'failed' for s in r['segments']) and m['examples'] == 192
          and 'spearman' in m and m['control']['result'] == 'passed'))" "$T/report.json")" -eq 1
