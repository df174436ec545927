# attest record: one fact per call, with the library's digests, checked
# against sha256sum, zstd and git; bad input exits 2 and names the problem.
. "$(dirname "$0")/lib.bash"
cd "$T"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T"
"$ATTEST" keygen example.com/record -o k >/dev/null
"$ATTEST" log init run.log --key k.key >/dev/null
git init -q -b main repo && git -C repo -c user.name=t -c user.email=t@e commit -q --allow-empty -m first
show() { "$ATTEST" log get run.log --index "$1"; }
field() { show "$1" | sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"; }
num() { show "$1" | sed -n "s/.*\"$2\":\\([0-9]*\\).*/\\1/p"; }

expect "record code" 0 "$ATTEST" record code run.log --repo repo
assert "prints the record's index" test "$(cat out)" = 1
assert "code: the commit is git's HEAD" test "$(field 1 commit)" = "$(git -C repo rev-parse HEAD)"
assert "code: a clean tree is not dirty" grep -q '"dirty":false' <(show 1)

head -c 6000 /dev/urandom >init.bin
expect "record init" 0 "$ATTEST" record init run.log --seed 42 --initializer torch/1.13 --data-seed 7 --checkpoint init.bin
assert "init: checkpoint digest is sha256sum's" test "$(field 2 checkpoint_sha256)" = "$(sha256sum init.bin | cut -d' ' -f1)"

head -c 4096 /dev/urandom >s0.bin
expect "record shard" 0 "$ATTEST" record shard run.log --id 0 --layout tokens-u16le s0.bin
assert "shard: digest is sha256sum's" test "$(field 3 sha256)" = "$(sha256sum s0.bin | cut -d' ' -f1)"
assert "shard: 2048 u16 samples" test "$(num 3 samples)" = 2048
assert "shard: named by its base name" test "$(field 3 name)" = s0.bin
printf '{"t":"a"}\n{"t":"b"}\n{"t":"c"}\n' >text.jsonl
zstd -q text.jsonl -o text.jsonl.zst
expect "record a zstd shard" 0 "$ATTEST" record shard run.log --id 1 --layout jsonl --name corpus/text.zst text.jsonl.zst
assert "zstd shard: stored digest is sha256sum's" test "$(field 4 sha256)" = "$(sha256sum text.jsonl.zst | cut -d' ' -f1)"
assert "zstd shard: content digest is that of zstd -d" test "$(field 4 content_sha256)" = "$(zstd -dc text.jsonl.zst | sha256sum | cut -d' ' -f1)"
assert "zstd shard: 3 lines" test "$(num 4 samples)" = 3

head -c 256 s0.bin >batch.bin
expect "record step with --batch-file" 0 "$ATTEST" record step run.log --step 1 --batch 0:0:128 --batch-file batch.bin --lr 0.001 --loss 2.5 --grad-norm 0.75
assert "step: batch digest is sha256sum's" test "$(field 5 batch_sha256)" = "$(sha256sum batch.bin | cut -d' ' -f1)"
assert "step: loss bits are binary64" test "$(field 5 loss_bits)" = 4004000000000000
assert "step: lr bits" test "$(field 5 lr_bits)" = 3f50624dd2f1a9fc
expect "record step with --batch-sha256 and two ranges" 0 "$ATTEST" record step run.log --step 2 --batch 0:128:64,1:0:2 --batch-sha256 "$(sha256sum batch.bin | cut -d' ' -f1)" --lr 1e-3 --loss nan --user '{"tokens":192}'
assert "step: a NaN loss is null with its bits" grep -q '"loss":null,"loss_bits":"7ff8000000000000"' <(show 6)
assert "step: batch references as given" grep -q '"batch":\[\[0,128,64\],\[1,0,2\]\]' <(show 6)

# A safetensors file of two tensors, written by hand from the spec.
hdr='{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
pad=$(( (8 - (8 + ${#hdr}) % 8) % 8 ))
{ printf "\\x$(printf %02x $(( (${#hdr} + pad) )))\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf '%s' "$hdr"; printf "%${pad}s" ""; printf 'wxyz\x00\x00\x80\x3f'; } >ck.safetensors
expect "record checkpoint" 0 "$ATTEST" record checkpoint run.log --step 2 ck.safetensors
assert "checkpoint: file digest is sha256sum's" test "$(show 7 | grep -o '"sha256":"[0-9a-f]*"' | head -1)" = "\"sha256\":\"$(sha256sum ck.safetensors | cut -d' ' -f1)\""
assert "checkpoint: tensor a's digest is that of its bytes" grep -q "\"name\":\"a\",\"dtype\":\"U8\",\"shape\":\[4\],\"sha256\":\"$(printf wxyz | sha256sum | cut -d' ' -f1)\"" <(show 7)
expect "record a raw checkpoint" 0 "$ATTEST" record checkpoint run.log --step 2 --raw init.bin
assert "raw checkpoint: no tensors" grep -q '"tensors":\[\]' <(show 8)
expect "record note" 0 "$ATTEST" record note run.log "resumed after a node failure"
"$ATTEST" log seal run.log --key k.key >/dev/null
expect "the recorded log verifies" 0 "$ATTEST" verify run.log --pub k.pub

echo dirty >repo/new-file
expect "record code of a dirty tree" 0 "$ATTEST" record code run.log --repo repo
assert "code: dirty with a digest of the changes" grep -q '"dirty":true,"diff_sha256":"[0-9a-f]\{64\}"' <(show 11)

expect_err "record into a missing log" 2 "nope.log" "$ATTEST" record note nope.log hi
expect_err "record a shard that does not exist" 2 "shard 5 \(missing.bin\): missing.bin: No such file" "$ATTEST" record shard run.log --id 5 --layout bytes missing.bin
expect_err "record a shard with an unknown layout" 2 "--layout must be" "$ATTEST" record shard run.log --id 5 --layout parquet s0.bin
expect_err "record a step with a malformed batch" 2 "is not ID:FIRST:COUNT" "$ATTEST" record step run.log --step 3 --batch 0:0 --batch-file batch.bin --lr 1 --loss 1
expect_err "record a step that goes back" 2 "step numbers must increase" "$ATTEST" record step run.log --step 1 --batch 0:0:1 --batch-file batch.bin --lr 1 --loss 1
expect_err "record a checkpoint that is not safetensors" 2 "init.bin" "$ATTEST" record checkpoint run.log --step 2 init.bin
expect_err "record code outside a repository" 2 "not inside a git repository" "$ATTEST" record code run.log --repo /
expect_err "record with an unknown fact" 2 "unknown fact" "$ATTEST" record weights run.log
expect "record --help" 0 "$ATTEST" record --help
expect "the log still verifies after the refusals" 0 "$ATTEST" verify run.log --pub k.pub
