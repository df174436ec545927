# examples/c/record_minimal.c builds against the public headers, records a
# run, and the log verifies; its digests match sha256sum.
. "$(dirname "$0")/lib.bash"
EX="$PWD/$BUILD/record_minimal"
"$ATTEST" keygen example.com/minimal -o "$T/run" >/dev/null
expect "record_minimal runs" 0 "$EX" "$T"
expect "its log verifies" 0 "$ATTEST" verify "$T/run.log" --pub "$T/run.pub"
"$ATTEST" log show "$T/run.log" --json >"$T/records"
assert "the shard digest is sha256sum's" grep -q "\"sha256\":\"$(sha256sum "$T/shard.bin" | cut -d' ' -f1)\"" "$T/records"
assert "the checkpoint digest is sha256sum's" grep -q "\"sha256\":\"$(sha256sum "$T/step-3.safetensors" | cut -d' ' -f1)\"" "$T/records"
assert "three steps and an end" test "$(grep -c '"type":"step"' "$T/records")" -eq 3 -a "$(grep -c '"type":"end","steps":3' "$T/records")" -eq 1
assert "sealed every 4 records and at close" test "$(grep -c '"type":"seal"' "$T/records")" -ge 2
assert "nothing left unsealed" sh -c "! grep -q unsealed '$T/out'"
