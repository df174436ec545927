# --device cpu|cuda on train_gpt, attest verify and attest live: bad values
# and a missing GPU give clear errors (exit 2); then the cross-device suite
# (tests/gpu/cross_device.sh) with the GPU side played by binaries whose
# CUDA backend is the CPU emulation of the CUDA source. The same suite runs
# on a real GPU in make check-gpu.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
TRAIN="$BUILD/train_gpt"

expect_err "train_gpt rejects --device gpu" 2 'device takes cpu or cuda, not "gpu"' \
    "$TRAIN" --out "$T/x" --device gpu
expect_err "attest verify rejects --device gpu" 2 'device takes cpu or cuda, not "gpu"' \
    "$ATTEST" verify "$T/x/run.log" --pub "$T/x/run.pub" --replay 1 --device gpu
expect_err "attest live rejects --device gpu" 2 'device takes cpu or cuda, not "gpu"' \
    "$ATTEST" live "$T/x/run.log" --pub "$T/x/run.pub" --nonce 00 -o "$T/t" --device gpu
expect_err "--device goes with --replay" 2 "go with --replay" \
    "$ATTEST" verify "$T/x/run.log" --pub "$T/x/run.pub" --device cpu

if "$BUILD/tests/gpu/engine_devices" 2>/dev/null | grep -q "^# device cuda:"; then
    expect_err "train_gpt --device cuda without a GPU says so" 2 "^train_gpt: device cuda: " \
        "$TRAIN" --out "$T/nogpu" --steps 2 --device cuda
    expect_err "attest verify --device cuda without a GPU says so" 2 "^attest: device cuda: " \
        "$ATTEST" verify "$T/x/run.log" --pub "$T/x/run.pub" --replay 1 --device cuda
else
    ok "# SKIP a GPU is present: the no-GPU errors are not checked here"
fi

# Under the sanitizers the emulated suite takes far too long (fibers and
# instrumented kernels); gpu/engine_devices_emu covers the emulation there.
if readelf -d "$BUILD/libattest.so" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    ok "# SKIP the emulated cross-device suite under the sanitizers (make check runs it)"
else
    ATTEST_GPU="$BUILD/tests/gpu/attest-emu" TRAIN_GPU="$BUILD/tests/gpu/train_gpt-emu" \
        FORGE_GPU="$BUILD/tests/gpu/forge_gpt-emu" STEPS=24 \
        MODEL="--layers 1 --width 32 --heads 2 --context 16 --batch 4" \
        bash "$(dirname "$0")/../gpu/cross_device.sh"
fi
