#!/usr/bin/python3
"""test_replay_protocol.py - the prover's side of the external replay protocol
(verify/REPLAY.md) for examples/pytorch: builds requests by hand from logs
that examples/pytorch/train.py and tests/python/forge_torch.py wrote, runs the
run record's replay command on them as the verifier would (no shell, a fresh
empty working directory) and checks what comes out against the logged
checkpoints with a safetensors parser of its own. Prints "ok - NAME" /
"not ok - NAME".

  test_replay_protocol.py --attest BIN --honest DIR [--forged KIND:AT:DIR ...]

Honest run: the init request regenerates checkpoint 0 bit for bit; every
segment lands within the recipe's tolerance of the next checkpoint, with the
logged losses; so does a segment replayed with another thread count; a
request whose batch ref was changed, or one that is malformed, fails with a
message naming the step or member. Forged runs: the segment holding step AT
replays to tensors beyond the tolerance (swap-weights, other-data) or to a
loss beyond it at step AT (edit-loss).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

from tap import failures, ok  # noqa: E402  (tests/python is the script's directory)


def note(text):
    print("# " + text)


# ---------------------------------------------------------------- files

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8,
          "BOOL": torch.bool}
FLOATS = ("F64", "F32", "F16", "BF16")


def safetensors(path):
    """{name: (dtype, shape, bytes)} of a safetensors file, parsed with struct + json."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: (e["dtype"], e["shape"],
                data[base + e["data_offsets"][0]:base + e["data_offsets"][1]])
            for k, e in header.items()}


def as_f64(entry):
    dtype, shape, raw = entry
    if not raw:
        return torch.zeros(0, dtype=torch.float64)
    return torch.frombuffer(bytearray(raw), dtype=DTYPES[dtype]).to(torch.float64)


def rel_l2(out, ref):
    """REPLAY.md's error: ||out - ref||_2 / max(||ref||_2, tiny)."""
    a, b = as_f64(out), as_f64(ref)
    return float(torch.linalg.vector_norm(a - b) /
                 max(float(torch.linalg.vector_norm(b)), sys.float_info.min))


def compare(out_path, ref_path):
    """(same names, dtypes and shapes; {float tensor: error}; non-float tensors all equal)."""
    out, ref = safetensors(out_path), safetensors(ref_path)
    same_layout = list(out) == list(ref) and all(out[k][:2] == ref[k][:2] for k in ref)
    errors, exact = {}, True
    for k in ref:
        if k not in out:
            continue
        if ref[k][0] in FLOATS:
            errors[k] = rel_l2(out[k], ref[k])
        else:
            exact &= out[k][2] == ref[k][2]
    return same_layout, errors, exact


def update_sizes(before_path, after_path):
    """{tensor: ||after - before|| / ||before||} over the float tensors of both files."""
    a, b = safetensors(before_path), safetensors(after_path)
    return {k: rel_l2(b[k], a[k]) for k in a if k in b and a[k][0] in FLOATS}


def bits_value(hexbits):
    return struct.unpack(">d", bytes.fromhex(hexbits))[0]


# ---------------------------------------------------------------- runs and requests

class Run:
    """A run directory of train.py: its records, read with `attest log show --json`."""

    def __init__(self, attest, d):
        self.dir = d
        out = subprocess.run([attest, "log", "show", os.path.join(d, "run.log"), "--json"],
                             capture_output=True, text=True)
        if out.returncode:
            raise SystemExit("attest log show %s: %s" % (d, out.stderr))
        self.recs = [json.loads(line) for line in out.stdout.splitlines()]
        self.run = self.recs[0]
        self.init = next(r for r in self.recs if r["type"] == "init")
        self.shards = [r for r in self.recs if r["type"] == "shard"]
        self.ckpts = [r for r in self.recs if r["type"] == "checkpoint"]
        self.steps = [r for r in self.recs if r["type"] == "step"]

    def ckpt_path(self, i):
        return os.path.join(self.dir, "checkpoints", self.ckpts[i]["name"])

    def segment_of(self, step):
        """The index of the segment holding `step`."""
        return next(i for i in range(len(self.ckpts) - 1)
                    if self.ckpts[i]["step"] < step <= self.ckpts[i + 1]["step"])

    def request(self, work, segment=None):
        """The request for `segment` (None: init), as REPLAY.md describes it."""
        req = {"version": 1, "kind": "init" if segment is None else "segment",
               "run_id": self.run["run_id"], "config": self.run["config"],
               "seed": self.init["seed"], "data_seed": self.init["data_seed"],
               "initializer": self.init["initializer"],
               "output": {"path": os.path.join(work, "out.safetensors"), "step": 0},
               "steps": [],
               "shards": [dict({k: s[k] for k in ("id", "name", "layout", "samples")
                                if k in s}, path=os.path.join(self.dir, "data", s["name"]),
                               **({"compression": s["compression"]} if "compression" in s
                                  else {}))
                          for s in self.shards]}
        if segment is not None:
            a, b = self.ckpts[segment]["step"], self.ckpts[segment + 1]["step"]
            req["input"] = {"path": self.ckpt_path(segment), "step": a}
            req["output"]["step"] = b
            req["losses"] = os.path.join(work, "losses.json")
            req["steps"] = [s for s in self.steps if a < s["step"] <= b]
        return req

    def replay(self, req, work):
        """Runs the recipe's command on `req` as the verifier does: (exit status, stderr)."""
        path = os.path.join(work, "request.json")
        with open(path, "w") as f:
            json.dump(req, f)
        cwd = tempfile.mkdtemp(dir=work)
        argv = [a.replace("{code}", REPO).replace("{request}", path)
                for a in self.run["replay"]["command"]]
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
        return p.returncode, p.stderr, path


class Segment:
    """One replayed segment: its request, exit status, stderr and, on success, errors."""

    def __init__(self, run, index, tmp, edit=None):
        self.work = tempfile.mkdtemp(dir=tmp)
        self.index = index
        self.req = run.request(self.work, index)
        if edit:
            edit(self.req)
        self.rc, self.stderr, self.req_path = run.replay(self.req, self.work)
        self.tol = run.run["replay"]["tolerance"]
        if self.rc or index is None:
            return
        self.layout, self.errors, self.exact = compare(self.req["output"]["path"],
                                                       run.ckpt_path(index + 1))
        self.updates = update_sizes(run.ckpt_path(index), run.ckpt_path(index + 1))
        with open(self.req["losses"]) as f:
            self.losses = json.load(f)["losses"]
        self.loss_errors = [abs(v - bits_value(s["loss_bits"])) /
                            max(abs(bits_value(s["loss_bits"])), sys.float_info.min)
                            for v, s in zip(self.losses, self.req["steps"])]

    def max_error(self):
        return max(self.errors.values())

    def within(self):
        return (self.layout and self.exact and self.max_error() <= self.tol
                and len(self.losses) == len(self.req["steps"])
                and all(e <= self.tol for e in self.loss_errors))

    def summary(self):
        worst = max(self.errors, key=self.errors.get)
        model_updates = [v for k, v in self.updates.items() if k.startswith("model.")]
        return ("segment %d: largest error %.3g (%s), largest loss error %.3g; "
                "smallest model-tensor update %.3g, tolerance %g"
                % (self.index, self.errors[worst], worst, max(self.loss_errors),
                   min(model_updates), self.tol))


# ---------------------------------------------------------------- the checks

def honest(run, tmp):
    recipe = run.run.get("replay", {})
    ok("the run record names replay.py with {code} and {request}, and a tolerance",
       recipe.get("command") == ["/usr/bin/python3", "{code}/examples/pytorch/replay.py",
                                 "{request}"]
       and isinstance(recipe.get("tolerance"), float) and 0 < recipe["tolerance"] < 0.01, recipe)

    init = Segment(run, None, tmp)
    same = False
    if init.rc == 0:
        out, ref = safetensors(init.req["output"]["path"]), safetensors(run.ckpt_path(0))
        same = out == ref and len(ref) > 0
    ok("init: replay.py regenerates checkpoint 0 from the seed, every tensor bit for bit",
       init.rc == 0 and same, init.stderr)

    segs = []
    for i in range(len(run.ckpts) - 1):
        s = Segment(run, i, tmp)
        segs.append(s)
        ok("segment %d (steps %d..%d): exit 0, same tensors, every error and loss within "
           "tolerance" % (i, s.req["steps"][0]["step"], s.req["steps"][-1]["step"]),
           s.rc == 0 and s.within(), s.stderr or s.summary())
        if s.rc == 0:
            note(s.summary())
    good = [s for s in segs if s.rc == 0]
    if good:
        worst = max(s.max_error() for s in good)
        smallest = min(v for s in good for k, v in s.updates.items() if k.startswith("model."))
        # Below every update: a replay that skipped a segment's steps would fail.
        ok("the tolerance is 10x the worst honest error and below every tensor's update",
           worst * 10 <= good[0].tol < smallest,
           "worst error %.3g, smallest update %.3g" % (worst, smallest))

    # Another intra-op thread count sums in another order: not bit for bit, but close.
    def threads(req):
        n = req["config"]["determinism"]["num_threads"]
        req["config"]["determinism"]["num_threads"] = 1 if n != 1 else 2
    s = Segment(run, len(run.ckpts) - 2, tmp, threads)
    ok("segment %d replayed with another thread count stays within tolerance" % s.index,
       s.rc == 0 and s.within(), s.stderr or s.summary())
    if s.rc == 0:
        note("other thread count: " + s.summary())

    def wrong_ref(req):
        ref = req["steps"][1]["batch"][0]
        ref[1] += 1
    s = Segment(run, 1, tmp, wrong_ref)
    n = s.req["steps"][1]["step"]
    ok("a request with a changed batch ref fails (exit 2), naming the request and step %d" % n,
       s.rc == 2 and s.req_path in s.stderr and ("step %d:" % n) in s.stderr
       and "SHA-256" in s.stderr, "exit %d: %s" % (s.rc, s.stderr))

    def no_kind(req):
        del req["kind"]
    s = Segment(run, 0, tmp, no_kind)
    ok("a request without kind fails (exit 2), naming the request and the member",
       s.rc == 2 and s.req_path in s.stderr and "'kind'" in s.stderr,
       "exit %d: %s" % (s.rc, s.stderr))


def losses(run, tmp):
    """Kind "losses": the loss of models on examples (the run-to-model test)."""
    def request(evaluations):
        work = tempfile.mkdtemp(dir=tmp)
        req = run.request(work)
        req["kind"] = "losses"
        for key in ("output", "steps"):
            del req[key]
        req["evaluations"] = evaluations
        req["losses"] = os.path.join(work, "losses.json")
        rc, err, path = run.replay(req, work)
        got = None
        if rc == 0:
            with open(req["losses"]) as f:
                got = json.load(f)["losses"]
        return rc, err, path, got

    # Checkpoint i's loss on the batch of the step after it is what that step logged.
    i = len(run.ckpts) - 2
    step = next(s for s in run.steps if s["step"] == run.ckpts[i]["step"] + 1)
    final = run.ckpt_path(len(run.ckpts) - 1)
    rc, err, _, got = request([{"model": run.ckpt_path(i), "examples": step["batch"]},
                               {"model": final, "examples": step["batch"][:3]}])
    shaped = rc == 0 and [len(v) for v in got] == [len(step["batch"]), 3]
    ok("losses: one list per model, one loss per example", shaped, err or got)
    if shaped:
        mean, logged = sum(got[0]) / len(got[0]), bits_value(step["loss_bits"])
        rel = abs(mean - logged) / logged
        ok("losses: checkpoint %d's losses on step %d's examples average its logged loss "
           "(relative error %.2g)" % (i, step["step"], rel), rel <= run.run["replay"]["tolerance"])
        ok("losses: the final model's losses are finite and positive, and not checkpoint %d's" % i,
           all(isinstance(v, float) and v > 0 for v in got[1]) and got[1] != got[0][:3], got)
    rc, err, path, _ = request([{"model": final, "examples": [step["batch"][0], [0, 0, 10]]}])
    ok("losses: an example of the wrong length fails (exit 2), naming the evaluation and "
       "example", rc == 2 and path in err and "evaluations[0]: example 1: 10 bytes" in err, err)
    rc, err, _, _ = request([{"model": final, "examples": [[0, 10 ** 12, 65]]}])
    ok("losses: an example outside its shard fails (exit 2), naming it",
       rc == 2 and "evaluations[0]: example 0: batch ref [0, 1000000000000, 65] runs outside" in err,
       err)
    missing = os.path.join(tmp, "missing.safetensors")
    rc, err, _, _ = request([{"model": missing, "examples": []}])
    ok("losses: a missing model file fails (exit 2), naming it",
       rc == 2 and ("evaluations[0]: model %s:" % missing) in err, err)
    rc, err, _, _ = request([{"model": run.ckpt_path(0)}])
    ok("losses: an evaluation without examples fails (exit 2), naming the member",
       rc == 2 and "evaluations[0]: missing member 'examples'" in err, err)


def forged(run, kind, at, tmp):
    i = run.segment_of(at)
    s = Segment(run, i, tmp)
    if s.rc:
        ok("%s: segment %d replays" % (kind, i), False, s.stderr)
        return
    note("%s: %s" % (kind, s.summary()))
    k = at - s.req["steps"][0]["step"]
    if kind == "edit-loss":
        others = [e for j, e in enumerate(s.loss_errors) if j != k]
        ok("edit-loss: segment %d: the tensors match, step %d's loss is off by about 1%%"
           % (i, at), s.layout and s.exact and s.max_error() <= s.tol
           and abs(s.loss_errors[k] - 0.01 / 1.01) < 1e-6 and all(e <= s.tol for e in others),
           s.summary() + "\nloss errors %s" % s.loss_errors)
    else:
        ok("%s: segment %d (holding step %d) replays to tensors beyond the tolerance"
           % (kind, i, at), s.max_error() > 10 * s.tol, s.summary())
        ok("%s: the steps before %d replay to the logged losses" % (kind, at),
           all(e <= s.tol for e in s.loss_errors[:k]), s.loss_errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attest", required=True)
    ap.add_argument("--honest", required=True, help="a run directory of train.py")
    ap.add_argument("--forged", action="append", default=[], metavar="KIND:AT:DIR",
                    help="a run directory of forge_torch.py --kind KIND --at AT")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="replay-")
    honest(Run(args.attest, args.honest), tmp)
    losses(Run(args.attest, args.honest), tmp)
    for spec in args.forged:
        kind, at, d = spec.split(":", 2)
        forged(Run(args.attest, d), kind, int(at), tmp)
    print("# %d failure(s)" % failures())
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
