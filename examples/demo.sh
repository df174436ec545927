#!/bin/bash
# demo.sh - records a small scripted run with the attest CLI, seals it,
# verifies it and prints an inclusion proof and the verdict. Run by
# `make demo` (which builds first). Leaves its files in $BUILD/demo.
set -euo pipefail
BUILD=${BUILD:-build}
ATTEST="$PWD/$BUILD/attest"
DEMO="$PWD/$BUILD/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/data"
cd "$DEMO"

step() { printf '\n== %s\n' "$*"; }

step "a signing key for this run"
"$ATTEST" keygen example.com/attest-demo -o run

step "a data shard: 4096 u16 tokens"
head -c 8192 /dev/urandom >data/shard-000.bin
shard_sha=$(sha256sum data/shard-000.bin | cut -d' ' -f1)
echo "data/shard-000.bin sha256 $shard_sha"

step "the log, with the run's claimed configuration"
echo '{"model":"gpt-tiny","layers":2,"d_model":64,"optimizer":"adamw","lr":0.001}' >config.json
"$ATTEST" log init run.log --key run.key --config config.json

step "recording: code, init, shard, steps, a checkpoint, notes"
zero=$(printf '' | sha256sum | cut -d' ' -f1)
{
    echo "{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\",\"dirty\":false,\"branch\":\"main\"}"
    echo "{\"type\":\"init\",\"seed\":42,\"initializer\":\"attest-gpt/1\",\"data_seed\":7}"
    echo "{\"type\":\"shard\",\"id\":0,\"name\":\"shard-000.bin\",\"size\":8192,\"sha256\":\"$shard_sha\",\"layout\":\"tokens-u16le\",\"samples\":4096}"
    echo "{\"type\":\"note\",\"text\":\"demo run: scripted records, no real training yet\"}"
} | "$ATTEST" log append run.log >/dev/null
loss=(40b00000:5.5 40a80000:5.25 40a00000:5 40980000:4.75 40900000:4.5 40880000:4.25)
for i in "${!loss[@]}"; do
    s=$((i + 1))
    bits=${loss[$i]%%:*}
    value=${loss[$i]##*:}
    batch_sha=$(dd if=data/shard-000.bin bs=512 skip=$i count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "{\"type\":\"step\",\"step\":$s,\"batch\":[[0,$((i * 256)),256]],\"batch_sha256\":\"$batch_sha\",\"lr\":0.001,\"lr_bits\":\"3a83126f\",\"loss\":$value,\"loss_bits\":\"$bits\"}"
    if [ "$s" -eq 3 ]; then
        echo "{\"type\":\"checkpoint\",\"step\":3,\"sha256\":\"$zero\",\"size\":0,\"name\":\"step-3.safetensors\",\"tensors\":[]}"
    fi
done | "$ATTEST" log append run.log >/dev/null
"$ATTEST" log seal run.log --key run.key
echo '{"type":"end","steps":6,"reason":"finished"}' | "$ATTEST" log append run.log >/dev/null
"$ATTEST" log seal run.log --key run.key
"$ATTEST" log show run.log

step "an inclusion proof of record 7 (step 3), for a third party"
"$ATTEST" log prove run.log --index 7

step "verification with the public key"
"$ATTEST" verify run.log --pub run.pub
