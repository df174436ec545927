#!/bin/bash
# demo.sh - trains the PyTorch example with the attest hooks, verifies its
# log with the run's public key, checks the recorded digests against the
# files, prints an inclusion proof of one step and the verdict. Run by
# `make demo` (which installs and builds first). Leaves its run in $BUILD/demo.
# Extra arguments go to train.py (e.g. --steps 200).
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

step "training a byte-level transformer on /usr/share/common-licenses, recording every fact"
/usr/bin/python3 examples/pytorch/train.py --out "$DEMO" "$@"

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
first_step=$(grep -n '"type":"step"' "$DEMO/records.jsonl" | head -1 | cut -d: -f1)
first_step=$((first_step - 1))
"$ATTEST" log prove "$DEMO/run.log" --index "$first_step"

step "verification with the run's public key"
"$ATTEST" verify "$DEMO/run.log" --pub "$DEMO/run.pub" ${TRUST[@]+"${TRUST[@]}"}
