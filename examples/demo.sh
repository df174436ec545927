#!/bin/bash
# demo.sh - trains the C reference trainer (examples/c/train_gpt.c) with the
# attest hooks and a software TPM, then verifies it as an auditor would:
# the log with the run's public key and the TPM evidence, the recorded
# digests against sha256sum, an inclusion proof for a third party, and
# replay of training segments drawn from the auditor's nonce (the initial
# weights regenerated from the committed seed, each segment re-run bit for
# bit). Prints the verdict, the segments replayed and the detection
# probability. Run by `make demo` (which installs and builds first). Leaves
# its run in $BUILD/demo. Extra arguments go to train_gpt (e.g. --steps 100).
set -euo pipefail
BUILD=${BUILD:-build}
ATTEST="$PWD/$BUILD/attest"
DEMO="$PWD/$BUILD/demo"
export ATTEST_LIB="$PWD/$BUILD/libattest.so.0"
rm -rf "$DEMO"

step() { printf '\n== %s\n' "$*"; }

# A software TPM anchors every seal (extend, counter, certification by the AK).
if command -v swtpm >/dev/null; then
    step "a software TPM (swtpm) for this run"
    export ATTEST_TCTI
    ATTEST_TCTI=$(scripts/swtpm start "$BUILD/demo-tpm")
    trap 'scripts/swtpm stop "$BUILD/demo-tpm"' EXIT
    echo "ATTEST_TCTI=$ATTEST_TCTI"
    step "the auditor enrolls the TPM's attestation key (EK certificate, credential activation)"
    mkdir -p "$BUILD/demo-auditor"
    rm -f "$BUILD/demo-auditor/"*
    "$ATTEST" keygen example.com/demo-auditor -o "$BUILD/demo-auditor/auditor" >/dev/null
    "$ATTEST" tpm enroll --tcti "$ATTEST_TCTI" --key "$BUILD/demo-auditor/auditor.key" \
        -o "$BUILD/demo-auditor/enrollment" --ca "$BUILD/demo-tpm/ca/issuercert.pem" \
        --ca "$BUILD/demo-tpm/ca/swtpm-localca-rootca-cert.pem"
    export ATTEST_TPM_ENROLLMENT="$BUILD/demo-auditor/enrollment"
    TRUST=(--tpm-ca "$BUILD/demo-tpm/ca/issuercert.pem" --tpm-ca "$BUILD/demo-tpm/ca/swtpm-localca-rootca-cert.pem"
        --enrollment-key "$BUILD/demo-auditor/auditor.pub")
fi

step "training attest-gpt/1 on /usr/share/common-licenses, recording every fact"
"$BUILD/train_gpt" --out "$DEMO" "$@"

step "the log: $DEMO/run.log"
"$ATTEST" log show "$DEMO/run.log" >"$DEMO/records.txt"
awk 'NR <= 12 || /checkpoint|seal|end/' "$DEMO/records.txt" | head -40
echo "   ..."

step "the checkpoint digests against sha256sum"
"$ATTEST" log show "$DEMO/run.log" --json >"$DEMO/records.jsonl"
for f in "$DEMO"/checkpoints/*.safetensors; do
    want=$(sha256sum "$f" | cut -d' ' -f1)
    if grep -q "\"sha256\":\"$want\"" "$DEMO/records.jsonl"; then
        echo "  $(basename "$f")  $want  recorded"
    else
        echo "  $(basename "$f")  $want  NOT RECORDED" && exit 1
    fi
done

step "an inclusion proof of the first step, for a third party (C2SP tlog-proof)"
first_step=$(awk '/"type":"step"/ { print NR - 1; exit }' "$DEMO/records.jsonl")
"$ATTEST" log prove "$DEMO/run.log" --index "$first_step"

step "the auditor's nonce, drawn after the run was sealed"
NONCE=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$NONCE"

step "verification: log, TPM evidence, files, initialization, 3 random segments + the largest updates"
"$ATTEST" verify "$DEMO/run.log" --pub "$DEMO/run.pub" ${TRUST[@]+"${TRUST[@]}"} \
    --replay 3 --nonce "$NONCE" --threads 2
