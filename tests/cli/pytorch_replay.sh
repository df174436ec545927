# The prover's side of the external replay protocol (verify/REPLAY.md) for
# the PyTorch example: a short honest run of examples/pytorch/train.py and
# one forged run of each kind (tests/python/forge_torch.py), then
# tests/python/test_replay_protocol.py, which builds replay requests from the
# logs and runs examples/pytorch/replay.py on them. Needs Debian's
# /usr/bin/python3 with torch.
. "$(dirname "$0")/lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
python_env "pytorch replay protocol" "torch"

# 12 steps, checkpoints every 4: three segments; the forgeries sit in the second.
RUN=(--steps 12 --ckpt-every 4 --batch 4 --threads 2)
AT=7
expect "train.py records an honest run" 0 \
    "$PY" "$HERE/../../examples/pytorch/train.py" --out "$T/honest" "${RUN[@]}"
forged=()
for kind in swap-weights other-data edit-loss; do
    expect "forge_torch.py --kind $kind records a signed run" 0 \
        "$PY" "$HERE/../python/forge_torch.py" --kind $kind --at $AT --out "$T/$kind" "${RUN[@]}"
    assert "forge_torch.py: the $kind hook ran at step $AT" \
        grep -q "^forged $kind at step $AT$" "$T/out"
    expect "the $kind run's log verifies without replay" 0 \
        "$ATTEST" verify "$T/$kind/run.log" --pub "$T/$kind/run.pub"
    forged+=(--forged "$kind:$AT:$T/$kind")
done
expect_err "forge_torch.py refuses an unknown kind" 2 "invalid choice" \
    "$PY" "$HERE/../python/forge_torch.py" --kind nothing --out "$T/nothing" "${RUN[@]}"
expect_err "replay.py without a request prints its usage" 2 "usage: replay.py REQUEST.json" \
    "$PY" "$HERE/../../examples/pytorch/replay.py"
expect_err "replay.py names a request it cannot read" 2 "$T/missing.json: cannot read" \
    "$PY" "$HERE/../../examples/pytorch/replay.py" "$T/missing.json"

"$PY" "$HERE/../python/test_replay_protocol.py" --attest "$ATTEST" --honest "$T/honest" \
    "${forged[@]}"

# End to end: attest verify runs the recipe's command (with the auditor's consent).
V=(--replay all --external-replay --code "$HERE/../.." --quiet)
expect "attest verify --external-replay accepts the honest run" 0 \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" "${V[@]}" \
    --data "$T/honest/data" --checkpoints "$T/honest/checkpoints"
assert "  ... the report shows each segment's error next to its update" \
    grep -Eq "^segment +#1 .*update [0-9.e+-]+ +error 0.00e\+00 +passed" "$T/out"
expect "  ... relative --data and --checkpoints work too" 0 \
    sh -c 'cd "$1" && "$2" verify run.log --pub run.pub --replay 1 --external-replay --code "$3" --quiet --data data --checkpoints checkpoints' \
    sh "$T/honest" "$ATTEST" "$HERE/../.."
expect_err "without --external-replay the prover's command is not run (exit 2)" 2 \
    "runs only with --external-replay" \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --quiet
expect_err "a command naming {code} needs --code" 2 "give the prover's code directory with --code" \
    "$ATTEST" verify "$T/honest/run.log" --pub "$T/honest/run.pub" --replay 1 --external-replay --quiet
for kind in swap-weights other-data edit-loss; do
    case $kind in
    edit-loss) why="FAILED: .*step $AT: loss logged" ;;
    *) why="FAILED: .*tensor [a-z_.0-9]+: relative L2 error .* exceeds the run's tolerance" ;;
    esac
    expect "attest verify --external-replay rejects the $kind run" 1 \
        "$ATTEST" verify "$T/$kind/run.log" --pub "$T/$kind/run.pub" "${V[@]}" \
        --data "$T/$kind/data" --checkpoints "$T/$kind/checkpoints"
    assert "  ... naming the step or tensor" grep -Eq "$why" "$T/out"
done

# From a bundle alone: the prover's code comes from the bundle's git bundle of the logged commit.
expect "a bundle of the PyTorch run with data, checkpoints and code" 0 \
    "$ATTEST" bundle create "$T/honest/run.log" -o "$T/honest.attest" --with-data \
    --with-checkpoints all --with-code "$HERE/../.."
expect "it verifies with external replay from the bundle alone (code from the bundle)" 0 \
    "$ATTEST" verify "$T/honest.attest" --replay all --external-replay --quiet
assert "  ... every segment passed" test "$(grep -c '^segment .*passed' "$T/out")" -eq 3
