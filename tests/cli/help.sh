# attest help: every command's usage (the same text as COMMAND --help) and
# the topics that span commands; unknown topics are a usage error.
. "$(dirname "$0")/lib.bash"
for c in keygen log record tpm verify bundle export live; do
    "$ATTEST" "$c" --help >"$T/direct" 2>&1
    expect "attest help $c exits 0" 0 "$ATTEST" help "$c"
    assert "  ... and prints what attest $c --help prints" cmp "$T/out" "$T/direct"
done
for t in exit-codes files replay scripting; do
    expect "attest help $t exits 0" 0 "$ATTEST" help "$t"
    assert "  ... and says something" test -s "$T/out"
done
expect "attest help alone lists the commands and topics" 0 "$ATTEST" help
assert "  ... every topic is listed" grep -q "exit-codes .*scripting\|scripting" "$T/out"
expect_err "an unknown topic is a usage error" 2 'no help on "nope"' "$ATTEST" help nope
expect "attest help exit-codes documents exit code 3" 0 "$ATTEST" help exit-codes
assert "  ... partial" grep -q "^  3  verify only: partial" "$T/out"
