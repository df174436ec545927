# CLI tests of attest keygen / log / verify: the happy path, exact bytes,
# usage errors, and bad records rejected with the line, record and field.
. "$(dirname "$0")/lib.bash"
cd "$T"

expect "keygen writes a key pair" 0 "$ATTEST" keygen example.com/test-run -o k
assert "signer key file is mode 0600" test "$(stat -c %a k.key)" = 600
assert "verifier key is printed and saved" grep -qx "$(cat k.pub)" out
assert "verifier key has the note format" grep -Eq '^example\.com/test-run\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' k.pub
expect_err "keygen refuses to overwrite" 2 "already exists" "$ATTEST" keygen example.com/test-run -o k
expect_err "keygen rejects a name with a space" 2 "key name" "$ATTEST" keygen "bad name" -o k2
expect_err "keygen rejects a name with +" 2 "key name" "$ATTEST" keygen "a+b" -o k3
assert "rejected keygen leaves no file" test ! -e k2.key -a ! -e k3.key

echo '{"model":"gpt-tiny","lr":0.001}' >config.json
expect "log init creates the log" 0 "$ATTEST" log init run.log --key k.key --config config.json
expect_err "log init refuses an existing log" 2 "exists" "$ATTEST" log init run.log --key k.key
echo '[1,2]' >bad-config.json
expect_err "log init rejects a non-object config" 2 "config" "$ATTEST" log init other.log --key k.key --config bad-config.json
assert "failed init leaves no log behind" test ! -e other.log

sample_records >records.jsonl
expect "log append takes valid records" 0 "$ATTEST" log append run.log <records.jsonl
assert "log append prints each index" test "$(cat out | tr '\n' ' ')" = "1 2 3 4 5 6 7 "
expect "log seal" 0 "$ATTEST" log seal run.log --key k.key
assert "seal reports tree size 8" grep -q "sealed tree size 8" out

i=1
while IFS= read -r line; do
    "$ATTEST" log get run.log --index $i >got
    if [ "$(cat got)" = "$line" ]; then ok "log get returns the exact bytes of record $i"; else nok "log get record $i"; fi
    i=$((i + 1))
done <records.jsonl

expect "log show" 0 "$ATTEST" log show run.log
assert "show has one line per record" test "$(wc -l <out)" -eq 9
assert "show names the types" grep -q "step .*loss 4.25" out
expect "log show --json" 0 "$ATTEST" log show run.log --json
assert "show --json is JSON Lines of the records" test "$(sed -n 2,8p out)" = "$(cat records.jsonl)"

expect "verify passes" 0 "$ATTEST" verify run.log --pub k.pub
assert "verify says VERIFIED" grep -q "^VERIFIED" out
expect "verify --json" 0 "$ATTEST" verify run.log --pub k.pub --json
assert "verify --json verdict" grep -q '"verdict": "verified"' out

echo '{"type":"note","text":"after the seal"}' | "$ATTEST" log append run.log >/dev/null
expect "verify passes with an unsealed tail" 0 "$ATTEST" verify run.log --pub k.pub
assert "verify reports the unsealed record" grep -q "unsealed  1 record" out

"$ATTEST" keygen example.com/test-run -o other >/dev/null
expect "verify fails with another key of the same name" 1 "$ATTEST" verify run.log --pub other.pub
assert "the failure names record 0" grep -q "record 0 (run)" out
expect_err "seal refuses a key that is not the run's" 2 "not the run's key" "$ATTEST" log seal run.log --key other.key
expect_err "verify of a missing log is an operational error" 2 "No such file" "$ATTEST" verify nope.log --pub k.pub
echo "not a log at all" >text.log
expect_err "verify of a non-log is an operational error" 2 "not an attest log" "$ATTEST" verify text.log --pub k.pub

# Bad records: each is refused with line, record index and field; nothing is written.
before=$(stat -c %s run.log)
z=0000000000000000000000000000000000000000000000000000000000000000
bad() { # NAME PATTERN JSON
    expect_err "append rejects $1" 2 "$2" sh -c "echo '$3' | \"$ATTEST\" log append run.log"
}
bad "invalid JSON" "stdin line 1: .*record 10: invalid JSON" '{"type":"note",}'
bad "an unknown type" "record 10: unknown type \"weights\"" '{"type":"weights"}'
bad "a missing field" "record 10 \(shard\): missing field \"samples\"" "{\"type\":\"shard\",\"id\":9,\"name\":\"x\",\"size\":1,\"sha256\":\"$z\",\"layout\":\"bytes\"}"
bad "a duplicate key" "duplicate" '{"type":"note","text":"a","text":"b"}'
bad "a wrong field type" "field \"seed\": expected an integer >= 0, got a string" '{"type":"init","seed":"1","initializer":"x"}'
bad "an unknown field" "unknown field \"colour\"" '{"type":"note","text":"a","colour":"red"}'
bad "a step that goes back" "step numbers must increase" "{\"type\":\"step\",\"step\":2,\"batch\":[[0,0,1]],\"batch_sha256\":\"$z\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\"}"
bad "a step on an unknown shard" "uses shard 7, not recorded before" "{\"type\":\"step\",\"step\":3,\"batch\":[[7,0,1]],\"batch_sha256\":\"$z\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\"}"
bad "samples past a shard's end" "past the end of shard 0" "{\"type\":\"step\",\"step\":3,\"batch\":[[0,2000,100]],\"batch_sha256\":\"$z\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\"}"
bad "a loss that differs from its bits" "does not equal \"loss_bits\"" "{\"type\":\"step\",\"step\":3,\"batch\":[[0,0,1]],\"batch_sha256\":\"$z\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":2,\"loss_bits\":\"3f800000\"}"
bad "a second init" "second \"init\"" '{"type":"init","seed":1,"initializer":"x"}'
bad "a seal" "written by attest_log_seal" '{"type":"seal","size":10,"checkpoint":"x"}'
bad "a control byte" "control byte" "$(printf '{"type":"note","text":"a\tb"}')"
bad "uppercase hex" "64 lowercase hex" "{\"type\":\"checkpoint\",\"step\":1,\"sha256\":\"$(echo $z | tr 0 A)\",\"size\":1,\"tensors\":[]}"
bad "a checkpoint after the last step" "after the last recorded step 2" "{\"type\":\"checkpoint\",\"step\":5,\"sha256\":\"$z\",\"size\":1,\"tensors\":[]}"
assert "rejected records leave the log unchanged" test "$(stat -c %s run.log)" -eq "$before"
printf '%s\n' '{"type":"note","text":"one"}' '{"type":"note"}' '{"type":"note","text":"three"}' >mixed.jsonl
expect_err "append stops at the first bad line and says how many went in" 2 "stdin line 2: .*\(1 record\(s\) appended before it\)" "$ATTEST" log append run.log <mixed.jsonl
expect "a NaN loss is null with its bits" 0 sh -c "echo '{\"type\":\"step\",\"step\":3,\"batch\":[[0,0,1]],\"batch_sha256\":\"$z\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":null,\"loss_bits\":\"7fc00000\"}' | \"$ATTEST\" log append run.log"

printf '{"type":"end","steps":3}\n' | "$ATTEST" log append run.log >/dev/null
bad "a record after end" "only seals may follow \"end\"" '{"type":"note","text":"late"}'
expect "seal after end" 0 "$ATTEST" log seal run.log --key k.key
expect "verify the finished log" 0 "$ATTEST" verify run.log --pub k.pub
assert "nothing unsealed after the final seal" sh -c "! grep -q unsealed '$T/out'"

# Usage: every subcommand has --help (exit 0) and bad usage exits 2.
for sub in keygen verify "log" "log init" "log append" "log seal" "log show" "log get" \
    "log checkpoint" "log prove" "log consistency" "log recover"; do
    expect "attest $sub --help" 0 "$ATTEST" $sub --help
    assert "attest $sub --help prints usage" grep -q "usage: attest" out
done
expect_err "unknown command" 2 "unknown command" "$ATTEST" frobnicate
expect_err "unknown log subcommand" 2 "unknown subcommand" "$ATTEST" log frobnicate x
expect_err "get without --index" 2 "--index I is required" "$ATTEST" log get run.log
expect_err "get with a bad number" 2 "not a non-negative integer" "$ATTEST" log get run.log --index -3
expect_err "get past the end" 2 "no record 999" "$ATTEST" log get run.log --index 999
expect_err "checkpoint of a size that is not sealed" 2 "no seal of tree size 5" "$ATTEST" log checkpoint run.log --size 5
expect_err "verify without --pub" 2 "required" "$ATTEST" verify run.log
