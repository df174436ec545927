#!/bin/bash
# bench/pytorch-overhead.sh - what recording costs a real training loop:
# examples/pytorch/train.py with the same config with --no-attest (same data
# and checkpoint files, nothing recorded) and recording everything,
# alternated BENCH_REPEAT times in this run. Prints each run's mean and
# median step time, the median over runs of each, and the overhead; the
# median step resists the bursts of other work on a shared machine.
# Not part of `make check`; never asserts timings. Needs /usr/bin/python3
# with torch and a built library (make).
#   BENCH_STEPS (default 100), BENCH_BATCH (32), BENCH_THREADS (1),
#   BENCH_CKPT_EVERY (25), BENCH_SEAL_EVERY (10), BENCH_REPEAT (3)
set -euo pipefail
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
export ATTEST_LIB="$BUILD/libattest.so.0" PYTHONDONTWRITEBYTECODE=1
TRAIN="$(cd "$(dirname "$0")/.." && pwd)/examples/pytorch/train.py"
STEPS=${BENCH_STEPS:-100} BATCH=${BENCH_BATCH:-32} THREADS=${BENCH_THREADS:-1}
CKPT=${BENCH_CKPT_EVERY:-25} SEAL=${BENCH_SEAL_EVERY:-10} REPEAT=${BENCH_REPEAT:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

# train MODE [ARGS...]: runs train.py into $DIR/MODE, prints "MEAN MEDIAN" step times in ms.
train() {
    local out=$DIR/$1
    shift
    rm -rf "$out"
    /usr/bin/python3 "$TRAIN" --out "$out" --steps "$STEPS" --batch "$BATCH" --threads "$THREADS" \
        --ckpt-every "$CKPT" --seal-every "$SEAL" "$@" >"$out.txt"
    awk '$1 == "mean_step_ms" { m = $2 } $1 == "median_step_ms" { d = $2 } END { print m, d }' "$out.txt"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pct() { echo "($2 - $1) * 100 / $1" | bc -l; }

echo "== train.py: $STEPS steps, batch $BATCH, $THREADS thread(s), checkpoint every $CKPT," \
    "seal every $SEAL; $(nproc) cores; $REPEAT alternated runs each"
: >"$DIR/plain.all"
: >"$DIR/recorded.all"
for i in $(seq "$REPEAT"); do
    read -r pm pd < <(train plain --no-attest)
    read -r rm_ rd < <(train recorded)
    echo "$pm $pd" >>"$DIR/plain.all"
    echo "$rm_ $rd" >>"$DIR/recorded.all"
    printf 'run %d: mean step %7.2f / %7.2f ms, median step %7.2f / %7.2f ms (without / with)\n' \
        "$i" "$pm" "$rm_" "$pd" "$rd"
done
pm=$(cut -d' ' -f1 "$DIR/plain.all" | median)
pd=$(cut -d' ' -f2 "$DIR/plain.all" | median)
rm_=$(cut -d' ' -f1 "$DIR/recorded.all" | median)
rd=$(cut -d' ' -f2 "$DIR/recorded.all" | median)
records=$(wc -l < <("$BUILD/attest" log show "$DIR/recorded/run.log" --json))
calls=$(sed -n 's/^recorder calls on the training thread: \([0-9.]*\) ms.*/\1/p' "$DIR/recorded.txt")
printf 'without attest  mean step %7.2f ms  median step %7.2f ms\n' "$pm" "$pd"
printf 'with attest     mean step %7.2f ms  median step %7.2f ms  (%s records a run)\n' "$rm_" "$rd" "$records"
printf 'overhead        mean %+6.2f %%  median %+6.2f %%\n' "$(pct "$pm" "$rm_")" "$(pct "$pd" "$rd")"
printf 'recorder calls on the training thread: %s ms a step (last run)\n' "$calls"
