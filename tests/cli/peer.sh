# Cross-check with an independent verifier: every checkpoint, inclusion
# proof and consistency proof the CLI prints must verify with peer-go
# (Go's golang.org/x/mod/sumdb/note + sumdb/tlog), and tampered ones fail.
. "$(dirname "$0")/lib.bash"
cd "$T"

if build_peer; then ok "peer-go builds offline"; else nok "peer-go builds offline"; exit 1; fi
"$ATTEST" keygen example.com/peer-check -o k >/dev/null
"$ATTEST" log init run.log --key k.key >/dev/null
V=$(cat k.pub)

# Seals at several tree sizes, including powers of two and their neighbours.
seals=""
n=1
for target in 2 3 4 7 8 9 16 17 31 45; do
    for i in $(seq "$n" $((target - 1))); do
        echo "{\"type\":\"note\",\"text\":\"record $i\"}"
    done | "$ATTEST" log append run.log >/dev/null
    n=$target
    "$ATTEST" log seal run.log --key k.key >/dev/null
    seals="$seals $n"
    n=$((n + 1))
done

# split PROOF_FILE DIR: tlog-proof -> DIR/index, DIR/hashes, DIR/cp
split_proof() {
    mkdir -p "$2"
    awk -v d="$2" 'NR==1 { if ($0 != "c2sp.org/tlog-proof@v1") exit 3; next }
        NR==2 { sub(/^index /, ""); print > (d "/index"); next }
        !blank && $0 == "" { blank = 1; next }
        !blank { print > (d "/hashes"); next }
        { print > (d "/cp") }' "$1"
    touch "$2/hashes"
}

all_ok=1
for s in $seals; do
    "$ATTEST" log checkpoint run.log --size "$s" >"cp$s"
    "$ATTEST" log checkpoint run.log --size "$s" >/dev/null || all_ok=0
    "$PEER" -vkey "$V" -new "cp$s" >"$T/err" 2>&1 || { all_ok=0; cat "$T/err"; }
done
[ $all_ok = 1 ] && ok "peer verifies every checkpoint" || nok "peer verifies every checkpoint"

latest=${seals##* }
all_ok=1
for i in $(seq 0 $((latest - 1))); do
    "$ATTEST" log prove run.log --index "$i" >proof || { all_ok=0; continue; }
    split_proof proof "p$i"
    "$ATTEST" log get run.log --index "$i" >"leaf$i"
    "$PEER" -vkey "$V" -new "p$i/cp" -leaf "leaf$i" -index "$(cat p$i/index)" -proof "p$i/hashes" >"$T/err" 2>&1 ||
        { all_ok=0; echo "# index $i"; cat "$T/err"; }
done
[ $all_ok = 1 ] && ok "peer verifies the inclusion proof of every sealed record (0..$((latest - 1)))" ||
    nok "peer verifies every inclusion proof"
assert "the proof's checkpoint is the latest seal" cmp p0/cp "cp$latest"

all_ok=1
count=0
for a in $seals; do
    for b in $seals; do
        [ "$a" -le "$b" ] || continue
        "$ATTEST" log consistency run.log --from "$a" --to "$b" >"c_${a}_$b" || { all_ok=0; continue; }
        "$PEER" -vkey "$V" -old "cp$a" -new "cp$b" -proof "c_${a}_$b" >"$T/err" 2>&1 ||
            { all_ok=0; echo "# $a -> $b"; cat "$T/err"; }
        count=$((count + 1))
    done
done
[ $all_ok = 1 ] && ok "peer verifies all $count consistency proofs between seals" ||
    nok "peer verifies every consistency proof"
expect "consistency defaults to the latest seal" 0 "$ATTEST" log consistency run.log --from 2
assert "default --to is the latest seal" cmp out "c_2_$latest"
expect "consistency from the empty tree" 0 "$ATTEST" log consistency run.log --from 0 --to 2
assert "consistency from the empty tree is an empty proof" test ! -s "$T/out"
expect_err "consistency from a size that is not sealed" 2 "no seal of tree size 5" "$ATTEST" log consistency run.log --from 5
expect_err "prove an unsealed record" 2 "not sealed yet" "$ATTEST" log prove run.log --index "$latest"

# Tampering: the peer must reject each of these.
tamper_fails() { # NAME PEER-ARGS...
    local name=$1
    shift
    if "$PEER" -vkey "$V" "$@" >/dev/null 2>&1; then nok "peer rejects $name"; else ok "peer rejects $name"; fi
}
# flip FILE LINE COL: changes one base64 character of one line.
flip() {
    awk -v L="$2" -v C="$3" 'NR == L { c = substr($0, C, 1); r = (c == "A") ? "B" : "A";
        $0 = substr($0, 1, C - 1) r substr($0, C + 1) } { print }' "$1"
}
flip "cp$latest" 3 5 >cp_badroot
tamper_fails "a checkpoint with another root" -new cp_badroot
sed '2s/.*/46/' "cp$latest" >cp_badsize
tamper_fails "a checkpoint with another size" -new cp_badsize
flip "cp$latest" 5 40 >cp_badsig
tamper_fails "a checkpoint with a changed signature" -new cp_badsig
"$ATTEST" keygen example.com/peer-check -o other >/dev/null
if "$PEER" -vkey "$(cat other.pub)" -new "cp$latest" >/dev/null 2>&1; then nok "peer rejects another key"; else ok "peer rejects another key"; fi
flip p5/hashes 1 3 >h5
tamper_fails "an inclusion proof with a changed hash" -new p5/cp -leaf leaf5 -index 5 -proof h5
tamper_fails "an inclusion proof for the wrong index" -new p5/cp -leaf leaf5 -index 6 -proof p5/hashes
tamper_fails "an inclusion proof for a changed record" -new p5/cp -leaf leaf6 -index 5 -proof p5/hashes
sed '1d' "c_3_$latest" >c_short
tamper_fails "a consistency proof missing a hash" -old cp3 -new "cp$latest" -proof c_short
tamper_fails "a consistency proof for other sizes" -old cp4 -new "cp$latest" -proof "c_3_$latest"
