# A real (short) PyTorch training run recorded through the binding:
# examples/pytorch/train.py, then `attest verify`, then
# tests/python/check_run.py, which checks the log against the files with
# hashlib, sha256sum and a safetensors parser of its own, and replays the
# run bit for bit. Needs Debian's /usr/bin/python3 with torch.
. "$(dirname "$0")/lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
python_env "pytorch example" "torch"

STEPS=12 EVERY=4 SEAL=5
expect "train.py records a short run" 0 \
    "$PY" "$HERE/../../examples/pytorch/train.py" --out "$T/run" --steps $STEPS --ckpt-every $EVERY \
    --seal-every $SEAL --threads 2 --batch 4
assert "train.py prints its summary" grep -q "^steps $STEPS  final loss" "$T/out"
expect "attest verify accepts the training log" 0 "$ATTEST" verify "$T/run/run.log" --pub "$T/run/run.pub"
assert "every record is sealed" grep -q "^VERIFIED" "$T/out"
expect_err "train.py refuses to overwrite a run" 1 "already exists|exists" \
    "$PY" "$HERE/../../examples/pytorch/train.py" --out "$T/run" --steps 1
"$PY" "$HERE/../python/check_run.py" --attest "$ATTEST" --dir "$T/run" --steps $STEPS \
    --ckpt-every $EVERY --seal-every $SEAL
