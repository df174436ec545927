#!/usr/bin/python3
"""replay.py - the prover's side of attest's external replay for train.py.

  /usr/bin/python3 examples/pytorch/replay.py REQUEST.json

`attest verify --external-replay` runs it as the run record's replay recipe
(verify/REPLAY.md, "External replay protocol"). Kind "init" regenerates the
initial checkpoint from the logged seed; kind "segment" loads a logged
checkpoint, trains the logged steps on the batches their refs name, with the
logged learning rates, and writes the resulting checkpoint and the losses it
computed; kind "losses" gives the loss of models on examples (the
run-to-model test). Model, data and step code are train.py's; every setting comes from
the request's config (the run's, as logged), none from the command line. It
compares nothing with the logged results: the verifier does.

Exit status: 0 done; 2 the request cannot be replayed (malformed request, a
missing shard, a batch whose bytes do not match the logged digest, ...),
with one line on stderr naming the request and what is wrong.
"""
import hashlib
import json
import math
import os
import struct
import subprocess
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "python"))
import train  # noqa: E402  (the model, data and step code of the run)
import attest.torch  # noqa: E402


class ReplayError(Exception):
    """The request cannot be replayed; the message says why."""


def need(obj, key, types, where):
    """obj[key], which must be one of `types` (bool is never an int here)."""
    if not isinstance(obj, dict) or key not in obj:
        raise ReplayError("%s: missing member %r" % (where, key))
    v = obj[key]
    if isinstance(v, bool) and bool not in types or not isinstance(v, types):
        raise ReplayError("%s: member %r has the wrong type (%s)" % (where, key,
                                                                    type(v).__name__))
    return v


def first_line(err):
    """The first line of an exception's message, or its type when it has none."""
    return (str(err).splitlines() or [type(err).__name__])[0]


def float_bits(hexbits, where):
    """The value of binary64 (16 hex digits) or binary32 (8) bits, most significant first."""
    try:
        raw = bytes.fromhex(hexbits)
    except ValueError:
        raw = b""
    if len(raw) == 8:
        return struct.unpack(">d", raw)[0]
    if len(raw) == 4:
        return struct.unpack(">f", raw)[0]
    raise ReplayError("%s: %r is not 8 or 16 hex digits" % (where, hexbits))


# ---------------------------------------------------------------- data

class Shards:
    """The shards of the request, read (and decompressed) when a step first names one."""

    def __init__(self, entries):
        self.entries, self.data = {}, {}
        for i, e in enumerate(entries):
            where = "shards[%d]" % i
            sid = need(e, "id", (int,), where)
            need(e, "path", (str,), where)
            if need(e, "layout", (str,), where) != "bytes":
                raise ReplayError("%s: layout %r: train.py reads shards of bytes"
                                  % (where, e["layout"]))
            self.entries[sid] = e

    def content(self, sid, where):
        if sid in self.data:
            return self.data[sid]
        e = self.entries.get(sid)
        if e is None:
            raise ReplayError("%s: shard %d is not among the request's shards" % (where, sid))
        path, compression = e["path"], e.get("compression")
        try:
            if compression is None:
                with open(path, "rb") as f:
                    blob = f.read()
            elif compression == "zstd":
                blob = subprocess.run(["zstd", "-d", "-c", "-q", path], check=True,
                                      capture_output=True).stdout
            else:
                raise ReplayError("shard %d: unknown compression %r" % (sid, compression))
        except OSError as err:
            raise ReplayError("shard %d: %s: %s" % (sid, path, err.strerror or err)) from None
        except subprocess.CalledProcessError as err:
            raise ReplayError("shard %d: %s: zstd -d failed: %s"
                              % (sid, path, err.stderr.decode(errors="replace").strip())) from None
        self.data[sid] = blob
        return blob

    def batch_bytes(self, refs, where):
        """The concatenation, in order, of the samples each [shard, first, count] names."""
        parts = []
        for ref in refs:
            if (not isinstance(ref, list) or len(ref) != 3
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in ref)):
                raise ReplayError("%s: batch ref %r is not [shard, first, count]"
                                  % (where, ref))
            sid, first, count = ref
            blob = self.content(sid, where)
            if first < 0 or count < 1 or first + count > len(blob):
                raise ReplayError("%s: batch ref %r runs outside shard %d (%d samples)"
                                  % (where, ref, sid, len(blob)))
            parts.append(blob[first:first + count])
        return b"".join(parts)


# ---------------------------------------------------------------- the two kinds

def replay_init(req, hp, opt_hp):
    """Regenerates the initial checkpoint exactly as train.py writes step 0."""
    out = need(req, "output", (dict,), "request")
    path = need(out, "path", (str,), "output")
    if need(out, "step", (int,), "output") != 0:
        raise ReplayError("output: step %r: an init request writes step 0" % out["step"])
    seed = need(req, "seed", (int,), "request")
    ours = "torch-default/" + torch.__version__
    if req.get("initializer") not in (None, ours):
        print("replay.py: warning: the run was initialized by %r, this is %s"
              % (req["initializer"], ours), file=sys.stderr)
    model, opt = train.new_model(hp, opt_hp, seed)
    attest.torch.save_checkpoint(None, path, 0, model, opt)


def check_optimizer(opt, opt_hp, path):
    """The input checkpoint's optimizer settings must be the ones the config claims."""
    for group in opt.param_groups:
        for key in ("betas", "eps", "weight_decay"):
            got = tuple(group[key]) if key == "betas" else group[key]
            if got != opt_hp[key]:
                raise ReplayError("input %s: optimizer %s is %r, the config says %r"
                                  % (path, key, got, opt_hp[key]))


def replay_segment(req, hp, opt_hp, config):
    """Trains the logged steps from input.path; writes output.path and the losses."""
    inp = need(req, "input", (dict,), "request")
    out = need(req, "output", (dict,), "request")
    in_path, in_step = need(inp, "path", (str,), "input"), need(inp, "step", (int,), "input")
    out_path, out_step = need(out, "path", (str,), "output"), need(out, "step", (int,), "output")
    losses_path = need(req, "losses", (str,), "request")
    steps = need(req, "steps", (list,), "request")
    shards = Shards(need(req, "shards", (list,), "request"))
    batch = need(config["training"], "batch", (int,), "config.training")
    ramp = config["training"].get("batch_ramp", 0)  # absent in runs without a ramp
    if not isinstance(ramp, int) or isinstance(ramp, bool) or ramp < 0:
        raise ReplayError("config.training: batch_ramp is %r, not a step count" % (ramp,))
    if not steps:
        raise ReplayError("steps: a segment has at least one step")
    for i, s in enumerate(steps):
        if need(s, "step", (int,), "steps[%d]" % i) != in_step + 1 + i:
            raise ReplayError("steps[%d]: step %d, expected %d (the steps after input step %d, "
                              "in order)" % (i, s["step"], in_step + 1 + i, in_step))
    if out_step != steps[-1]["step"]:
        raise ReplayError("output: step %d, but the last step is %d"
                          % (out_step, steps[-1]["step"]))

    model, opt = train.new_model(hp, opt_hp, 0)  # shapes only: the weights are loaded next
    try:
        meta = attest.torch.load_checkpoint(in_path, model, opt)
    except OSError as err:
        raise ReplayError("input %s: %s" % (in_path, err.strerror or err)) from None
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError) as err:
        raise ReplayError("input %s: not a checkpoint of this model: %s"
                          % (in_path, first_line(err))) from None
    if meta.get("step") != str(in_step):
        raise ReplayError("input %s: holds step %s, the request says %d"
                          % (in_path, meta.get("step"), in_step))
    check_optimizer(opt, opt_hp, in_path)

    losses = []
    for s in steps:
        n, where = s["step"], "step %d" % s["step"]
        data = shards.batch_bytes(need(s, "batch", (list,), where), where)
        digest = hashlib.sha256(data).hexdigest()
        if digest != need(s, "batch_sha256", (str,), where):
            raise ReplayError("step %d: the batch its refs name has SHA-256 %s, the log says %s"
                              % (n, digest, s["batch_sha256"]))
        rows = train.batch_at(n, batch, ramp)
        if len(data) != rows * (hp["ctx"] + 1):
            raise ReplayError("step %d: the batch is %d bytes, not %d rows of %d"
                              % (n, len(data), rows, hp["ctx"] + 1))
        lr = float_bits(need(s, "lr_bits", (str,), where), where + ": lr_bits")
        loss, _ = train.train_step(model, opt, train.batch_from_bytes(data, hp["ctx"]), lr,
                                   opt_hp["clip"])
        losses.append(float(loss))

    attest.torch.save_checkpoint(None, out_path, out_step, model, opt)
    with open(losses_path, "w") as f:
        json.dump({"losses": [v if math.isfinite(v) else None for v in losses]}, f,
                  allow_nan=False)
        f.write("\n")


def replay_losses(req, hp, opt_hp):
    """Each evaluation's model on its examples: the mean next-byte cross-entropy
    of each window, as train_step computes the loss of a batch."""
    evals = need(req, "evaluations", (list,), "request")
    losses_path = need(req, "losses", (str,), "request")
    shards = Shards(need(req, "shards", (list,), "request"))
    out = []
    for e, ev in enumerate(evals):
        where = "evaluations[%d]" % e
        path = need(ev, "model", (str,), where)
        refs = need(ev, "examples", (list,), where)
        model, _ = train.new_model(hp, opt_hp, 0)  # shapes only: the weights are loaded next
        try:
            attest.torch.load_checkpoint(path, model)
        except OSError as err:
            raise ReplayError("%s: model %s: %s" % (where, path, err.strerror or err)) from None
        except (ValueError, KeyError, RuntimeError, TypeError, AttributeError) as err:
            raise ReplayError("%s: model %s: not a model of this architecture: %s"
                              % (where, path, first_line(err))) from None
        model.eval()
        rows = []
        for i, ref in enumerate(refs):
            data = shards.batch_bytes([ref], "%s: example %d" % (where, i))
            if len(data) != hp["ctx"] + 1:
                raise ReplayError("%s: example %d: %d bytes, the model reads windows of %d"
                                  % (where, i, len(data), hp["ctx"] + 1))
            rows.append(data)
        got = []
        with torch.no_grad():
            for i in range(0, len(rows), 256):
                batch = train.batch_from_bytes(b"".join(rows[i:i + 256]), hp["ctx"])
                x, y = batch[:, :-1].long(), batch[:, 1:].long()
                loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1),
                                       reduction="none").reshape(len(x), -1).mean(1)
                got += [float(v) for v in loss]
        out.append([v if math.isfinite(v) else None for v in got])
    with open(losses_path, "w") as f:
        json.dump({"losses": out}, f, allow_nan=False)
        f.write("\n")


def replay(path):
    try:
        with open(path) as f:
            req = json.load(f)
    except OSError as err:
        raise ReplayError("cannot read: %s" % (err.strerror or err)) from None
    except ValueError as err:
        raise ReplayError("not JSON: %s" % err) from None
    if not isinstance(req, dict):
        raise ReplayError("not a JSON object")
    if need(req, "version", (int,), "request") != 1:
        raise ReplayError("version %r: this replay speaks version 1" % req["version"])
    config = need(req, "config", (dict,), "request")
    try:
        hp, opt_hp = train.settings(config)
        threads = config["determinism"]["num_threads"]
    except (KeyError, TypeError) as err:
        raise ReplayError("config: not train.py's configuration (%s missing)" % err) from None
    train.configure_torch(threads)
    kind = need(req, "kind", (str,), "request")
    if kind == "init":
        replay_init(req, hp, opt_hp)
    elif kind == "segment":
        replay_segment(req, hp, opt_hp, config)
    elif kind == "losses":
        replay_losses(req, hp, opt_hp)
    else:
        raise ReplayError("kind %r: expected \"init\", \"segment\" or \"losses\"" % kind)


def main(argv):
    if len(argv) != 2:
        print("usage: replay.py REQUEST.json", file=sys.stderr)
        return 2
    try:
        replay(argv[1])
    except ReplayError as err:
        print("replay.py: %s: %s" % (argv[1], err), file=sys.stderr)
        return 2
    except attest.AttestError as err:
        print("replay.py: %s: %s" % (argv[1], err), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
