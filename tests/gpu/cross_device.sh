# Cross-device replay: a run trained on the CPU verifies with GPU replay, a
# run trained on the GPU verifies with CPU replay, both runs are the same
# bytes, and forged runs still fail when replayed on the GPU.
#
# make check-gpu runs it with the real binaries on a GPU; tests/cli/device.sh
# runs it in make check with binaries whose CUDA backend is the CPU
# emulation (tests/gpu/cuda_emu.h). Environment: ATTEST, TRAIN (the CPU
# side), ATTEST_GPU, TRAIN_GPU, FORGE_GPU (the GPU side; default: the same
# binaries), CODE (a git work tree for the code record), STEPS (default 60;
# a checkpoint every STEPS/3), MODEL (model options), THREADS.
. "$(dirname "$0")/../cli/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN=${TRAIN:-$BUILD/train_gpt}
ATTEST_GPU=${ATTEST_GPU:-$ATTEST}
TRAIN_GPU=${TRAIN_GPU:-$TRAIN}
FORGE_GPU=${FORGE_GPU:-$BUILD/tests/forge_gpt}
CODE=${CODE:-$PWD}
THREADS=${THREADS:-2}
STEPS=${STEPS:-60}
K=$((STEPS / 3))
read -r -a MODEL <<<"${MODEL:-}"
SIZE=(--steps "$STEPS" --ckpt-every $K --seal-every $K "${MODEL[@]}")
NONCE=00112233445566778899aabbccddeeff

# verify_on ATTEST_BIN DEVICE DIR [options]: replay of every segment of DIR's run on DEVICE.
verify_on() {
    local bin=$1 dev=$2 dir=$3
    shift 3
    "$bin" verify "$dir/run.log" --pub "$dir/run.pub" --replay all --nonce $NONCE \
        --device "$dev" "$@"
}

expect "a run trains on the CPU" 0 "$TRAIN" --out "$T/cpu" "${SIZE[@]}" --threads "$THREADS" --code "$CODE"
expect "the same run trains on the GPU" 0 "$TRAIN_GPU" --out "$T/gpu" "${SIZE[@]}" --device cuda --code "$CODE"
same=1
for f in "$T"/cpu/checkpoints/*.safetensors; do
    cmp -s "$f" "$T/gpu/checkpoints/${f##*/}" || { same=0; echo "# ${f##*/} differs"; }
done
assert "every checkpoint of the two runs is the same bytes" test "$same" -eq 1 -a \
    "$(ls "$T/cpu/checkpoints" | wc -l)" -ge 3

expect "the CPU run verifies with GPU replay" 0 verify_on "$ATTEST_GPU" cuda "$T/cpu" --json
assert "the report says the replay ran on cuda" grep -q '"device": "cuda"' "$T/out"
assert "every segment passed" grep -q '"result": "passed"' "$T/out"
expect "the GPU run verifies with CPU replay" 0 verify_on "$ATTEST" cpu "$T/gpu" --threads "$THREADS"
assert "the report says VERIFIED" grep -q "^VERIFIED" "$T/out"

# forged runs, trained on the GPU, replayed on the GPU
fails_on_gpu() {
    local name=$1 forge=$2 pat=$3
    "$FORGE_GPU" --out "$T/$forge" "${SIZE[@]}" --device cuda --code "$CODE" --forge "$forge" \
        >"$T/out" 2>"$T/err" || { nok "$name: forge_gpt failed"; return; }
    expect_failure "$name" "$pat" verify_on "$ATTEST_GPU" cuda "$T/$forge"
}
at=$((K + K / 2))
fails_on_gpu "weights swapped in at step $at fail GPU replay" swap-weights:$at \
    "FAILED: step $((at + 1)): loss logged .* replay computes"
at=$((STEPS * 5 / 12))
fails_on_gpu "training on other data at step $at fails GPU replay" other-data:$at \
    "FAILED: step $at: loss logged .* replay computes"
at=$((STEPS * 3 / 4))
fails_on_gpu "an edited loss at step $at fails GPU replay" edit-loss:$at "FAILED: step $at: loss logged"
fails_on_gpu "another initialization fails GPU replay" init-seed "init +FAILED"

# The run-to-model test (--model) measures the model on the replay's device:
# the same examples, losses and statistic on the GPU as on the CPU. It needs
# a run of 40 steps or more.
RUN=$T/cpu
LAST=$STEPS
if [ "$STEPS" -lt 40 ]; then
    RUN=$T/long
    LAST=48
    expect "a 48-step run for the run-to-model test trains on the CPU" 0 "$TRAIN" --out "$RUN" \
        --steps 48 --ckpt-every 24 --seal-every 24 "${MODEL[@]}" --threads "$THREADS" --code "$CODE"
fi
FINAL=$(printf '%s/checkpoints/step-%06d.safetensors' "$RUN" "$LAST")
"$ATTEST" verify "$RUN/run.log" --pub "$RUN/run.pub" --model "$FINAL" --device cpu \
    --threads "$THREADS" --json >"$T/model-cpu.json" 2>/dev/null
"$ATTEST_GPU" verify "$RUN/run.log" --pub "$RUN/run.pub" --model "$FINAL" --device cuda \
    --json >"$T/model-cuda.json" 2>/dev/null
assert "the run-to-model test gives the same numbers, bit for bit, on the GPU as on the CPU" \
    test "$(python3 -c "
import json, sys
a, b = (json.load(open(f))['replay'] for f in sys.argv[1:])
ma, mb = a['model'], b['model']
print(int((a['device'], b['device']) == ('cpu', 'cuda') and ma == mb and ma['examples'] > 0
          and 'spearman' in ma and ma['control']['result'] == 'passed'))" \
        "$T/model-cpu.json" "$T/model-cuda.json")" -eq 1
