# The run-to-model test on a PyTorch run (verify/SOUNDNESS.md section 4).
# attest verify --model asks the run's replay command for the model's losses
# (request kind "losses", verify/REPLAY.md) and first checks that command's
# losses against one the run logged (the control). The run's own final model
# is shown to come from the run; a model of another run, a model of another
# architecture and a replay command whose losses are not the model's fail,
# each saying why. Needs Debian's /usr/bin/python3 with torch.
. "$(dirname "$0")/lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
CODE=$(cd "$HERE/../.." && pwd)
python_env "pytorch run-to-model test" "torch"
TRAIN_PY="$CODE/examples/pytorch/train.py"
CFG=(--corpus /usr/lib/python3.11 --lr 0.004 --lr-min 0.004 --batch 16 --threads 1)
json_of() { python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['replay']['model']; print($1)" "$T/report.json"; }

expect "train.py: 600 steps on Debian's Python library, constant learning rate" 0 \
    "$PY" "$TRAIN_PY" --out "$T/run" "${CFG[@]}" --steps 600 --ckpt-every 200
expect "train.py: a short run of another seed and data order (a foreign model)" 0 \
    "$PY" "$TRAIN_PY" --out "$T/other" "${CFG[@]}" --steps 100 --ckpt-every 100 --seed 7 --data-seed 8
expect_err "train.py refuses --lr-min above --lr" 2 "--lr-min in \[0, --lr\]" \
    "$PY" "$TRAIN_PY" --out "$T/bad" --lr 0.001 --lr-min 0.002
expect_err "train.py refuses a corpus that is not a directory" 2 "--corpus $T/none: not a directory" \
    "$PY" "$TRAIN_PY" --out "$T/bad" --corpus "$T/none"

model() {
    local code=$1 file=$2
    shift 2
    "$ATTEST" verify "$T/run/run.log" --pub "$T/run/run.pub" --replay 0 --external-replay \
        --code "$code" --model "$file" "$@"
}
FINAL="$T/run/checkpoints/step-000600.safetensors"
expect "the run's own final model is shown to come from it" 0 model "$CODE" "$FINAL"
assert "  ... the report gives the test" grep -Eq "^model .*passed: Spearman -0\.[0-9]+ between step and loss on [0-9]+ examples \(tail steps 571-600\), permutation p = 9\.54e-07" "$T/out"
assert "  ... and the control: checkpoint 400 on the examples of step 401 gives the logged loss" \
    grep -Eq "^ +control: .*step-000400.safetensors gives the examples of step 401 a mean loss of [0-9.]+, the log says [0-9.]+ \(relative error [0-9.e+-]+, tolerance 0.0001\): passed" "$T/out"
model "$CODE" "$FINAL" --json --html "$T/report.html" >"$T/report.json" 2>/dev/null
assert "  ... p below 1e-6 and z below -5 in the JSON report" \
    test "$(json_of "int(m['p'] < 1e-6 and m['z'] < -5 and m['result'] == 'passed')")" -eq 1
assert "  ... the control within the run's tolerance" \
    test "$(json_of "int(m['control']['result'] == 'passed' and m['control']['relative_error'] < 1e-4)")" -eq 1
assert "  ... and the HTML report, with the control" grep -Eq "passed</span> Model <code>[^<]*step-000600.safetensors</code> came out of this run: Spearman -0\.[0-9]+ .*Control: the run's losses reproduced on step 401's examples .*: passed\." "$T/report.html"

expect_failure "a model from another run is not shown to come from it" \
    "^model .*FAILED: Spearman -?0\.0[0-9]+ .*permutation p = 0\.[0-9]+" \
    model "$CODE" "$T/other/checkpoints/step-000100.safetensors"
assert "  ... the verdict says why" grep -q "not shown to come from this run: its losses on [0-9]* training examples show no trace of the committed order" "$T/out"

expect "a model of the built-in engine (another architecture)" 0 \
    "$BUILD/train_gpt" --out "$T/gpt" --steps 1
expect_failure "  ... is named as not of this run's architecture, before the command sees it" \
    "^model .*step-000000.safetensors: tensor model\.[a-z0-9_.]+ is missing, the run's checkpoints hold it as F32 \[[0-9, ]+\]" \
    model "$CODE" "$T/gpt/checkpoints/step-000000.safetensors"
expect "a file that is not safetensors cannot be checked (exit 2)" 2 model "$CODE" "$T/run/run.pub"

# A batch-size ramp: the steps' batches grow from 1 row to 16 over the first
# 150 steps. Replay follows the ramp the config records (segment 1-200 is
# replayed), and the test draws from batches of every size.
expect_err "train.py refuses a negative --batch-ramp" 2 "--batch-ramp must be 0" \
    "$PY" "$TRAIN_PY" --out "$T/bad" --batch-ramp -1
expect "train.py: 600 steps, the batch ramped over the first 150" 0 \
    "$PY" "$TRAIN_PY" --out "$T/ramp" "${CFG[@]}" --steps 600 --ckpt-every 200 --batch-ramp 150
"$ATTEST" log show "$T/ramp/run.log" --json >"$T/ramp.jsonl"
assert "  ... step 1 trained on 1 row, step 75 on 8, step 150 on 16" test "$(python3 -c "
import json, sys
rows = {r['step']: len(r['batch']) for r in map(json.loads, open(sys.argv[1])) if r.get('type') == 'step'}
print(int((rows[1], rows[75], rows[150], rows[600]) == (1, 8, 16, 16)))" "$T/ramp.jsonl")" -eq 1
"$ATTEST" verify "$T/ramp/run.log" --pub "$T/ramp/run.pub" --replay 0 --external-replay \
    --code "$CODE" --model "$T/ramp/checkpoints/step-000600.safetensors" --json >"$T/report.json" 2>"$T/err"
assert "  ... its own final model is shown to come from it, the ramp replayed" test "$(python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['replay']
m, s = r['model'], r['segments'][0]
print(int(m['result'] == 'passed' and m['p'] < 1e-6 and m['examples'] == 2480
          and m['control']['result'] == 'passed'
          and (s['from_step'], s['to_step'], s['result']) == (0, 200, 'passed')))" "$T/report.json")" -eq 1
assert "  ... its per-tensor updates: null for a bias that starts at zero and for optimizer state" \
    test "$(python3 -c "
import json, sys
t = {e['name']: e['update'] for e in json.load(open(sys.argv[1]))['replay']['segments'][0]['tensors']}
print(int(t['model.blocks.0.ln1.bias'] is None and t['optim.0.exp_avg'] is None
          and 0 < t['model.tok.weight'] < 1))" "$T/report.json")" -eq 1

# A replay command whose loss ignores the model: the control catches it.
mkdir -p "$T/code/examples"
cp -r "$CODE/examples/pytorch" "$T/code/examples/"
cp -r "$CODE/python" "$T/code/"
sed -i 's/got += \[float(v) for v in loss\]/got += [0.5 for v in loss]/' "$T/code/examples/pytorch/replay.py"
assert "a copy of the code whose losses are all 0.5" grep -q "got += \[0.5 for v in loss\]" \
    "$T/code/examples/pytorch/replay.py"
expect_failure "  ... fails the control, naming the checkpoint, the step and both losses" \
    "FAILED: replay: the losses the replay gives are not the run's: on .*step-000400.safetensors, the examples of step 401 average 0.5, the log says [0-9.]+ " \
    model "$T/code" "$FINAL"
