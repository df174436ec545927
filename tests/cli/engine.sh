# The reference trainer (engine/, attest-gpt/1) against PyTorch, and the
# same bits whatever the thread count: tests/tools/gpt_dump writes one
# training step (params, batch, loss, gradients, AdamW update) and
# tests/python/engine_torch.py rebuilds it with autograd and torch.optim.AdamW.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
DUMP="$BUILD/tests/tools/gpt_dump"
export PYTHONDONTWRITEBYTECODE=1

# The same step with 1, 2 and 3 threads: identical files.
expect "gpt_dump runs with 1 thread" 0 "$DUMP" --out "$T/t1.st" --threads 1 --step 3
expect "gpt_dump runs with 2 threads" 0 "$DUMP" --out "$T/t2.st" --threads 2 --step 3
expect "gpt_dump runs with 3 threads" 0 "$DUMP" --out "$T/t3.st" --threads 3 --step 3
assert "1 and 2 threads give the same bytes" cmp "$T/t1.st" "$T/t2.st"
assert "1 and 3 threads give the same bytes" cmp "$T/t1.st" "$T/t3.st"
# odd sizes: width 30, 3 heads of 10, context 7, batch 3
expect "gpt_dump runs odd sizes with 1 thread" 0 "$DUMP" --out "$T/o1.st" --threads 1 --step 4 \
    --width 30 --heads 3 --context 7 --batch 3 --layers 3 --clip 10
expect "gpt_dump runs odd sizes with 2 threads" 0 "$DUMP" --out "$T/o2.st" --threads 2 --step 4 \
    --width 30 --heads 3 --context 7 --batch 3 --layers 3 --clip 10
assert "odd sizes: 1 and 2 threads give the same bytes" cmp "$T/o1.st" "$T/o2.st"
expect_err "gpt_dump refuses a bad configuration, naming the field" 1 "^gpt_dump: heads:" \
    "$DUMP" --out "$T/bad.st" --width 30 --heads 4

if ! "$PY" -c 'import torch' 2>/dev/null; then
    ok "engine matches PyTorch # SKIP $PY has no torch"
    exit 0
fi
# clipping active (norm > 1) on the first file, inactive (clip 10) on the second
"$PY" "$HERE/../python/engine_torch.py" "$T/t1.st"
"$PY" "$HERE/../python/engine_torch.py" "$T/o1.st"
