#!/usr/bin/python3
"""check_run.py - checks the log of examples/pytorch/train.py against the files
it names, without the attest binding: the standard library, torch, sha256sum
and `attest log show --json` only. Prints "ok - NAME" / "not ok - NAME".

  check_run.py --attest BIN --dir DIR --steps N --ckpt-every K --seal-every S

Beyond digests, it replays the run: from the initial checkpoint, with the
batches rebuilt from the shards by each step's refs and the recorded
learning rates, it must reproduce every recorded loss and gradient norm
bit for bit and every checkpoint's tensors.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "pytorch")

from tap import failures, ok  # noqa: E402  (tests/python is the script's directory)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sha256sum(path):
    out = subprocess.run(["sha256sum", path], check=True, capture_output=True, text=True).stdout
    return out.split()[0]


def bits(x):
    return struct.pack(">d", x).hex()


def parse_safetensors(path):
    """(header dict without __metadata__, metadata, data bytes) read with struct + json."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    return header, meta, data[8 + n:]


DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "F16": torch.float16,
          "BF16": torch.bfloat16, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def tensor(header, data, name):
    e = header[name]
    b, end = e["data_offsets"]
    t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]]) if end > b else \
        torch.empty(0, dtype=DTYPES[e["dtype"]])
    return t.reshape(e["shape"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attest", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--ckpt-every", type=int, required=True)
    ap.add_argument("--seal-every", type=int, required=True)
    args = ap.parse_args()
    d = args.dir
    log = os.path.join(d, "run.log")
    out = subprocess.run([args.attest, "log", "show", log, "--json"], capture_output=True, text=True)
    ok("attest log show --json reads the log", out.returncode == 0, out.stderr)
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    by_type = {}
    for r in recs:
        by_type.setdefault(r["type"], []).append(r)
    config = recs[0]["config"]

    # Shards: the files as stored, and together the corpus the example reads.
    shards = {}
    for s in by_type.get("shard", []):
        path = os.path.join(d, "data", s["name"])
        blob = open(path, "rb").read()
        shards[s["id"]] = blob
        ok("shard %d (%s): sha256 == hashlib" % (s["id"], s["name"]), s["sha256"] == hashlib.sha256(blob).hexdigest(), s)
        ok("shard %d: size and samples (bytes layout)" % s["id"],
           s["size"] == len(blob) and s["samples"] == len(blob) and s["layout"] == "bytes", s)
    corpus_dir = config["data"]["corpus"]
    names = sorted(n for n in os.listdir(corpus_dir)
                   if not os.path.islink(os.path.join(corpus_dir, n)) and os.path.isfile(os.path.join(corpus_dir, n)))
    corpus = b"".join(open(os.path.join(corpus_dir, n), "rb").read() for n in names)
    ok("the shards are the corpus, in order", b"".join(shards[i] for i in sorted(shards)) == corpus
       and len(shards) == 4)

    # Checkpoints: whole-file digests (hashlib and sha256sum), then every tensor's.
    want_steps = [0] + [k for k in range(1, args.steps + 1)
                        if k % args.ckpt_every == 0 or k == args.steps]
    cks = by_type.get("checkpoint", [])
    ok("checkpoints at steps %s" % want_steps, [c["step"] for c in cks] == want_steps, [c["step"] for c in cks])
    for c in cks:
        path = os.path.join(d, "checkpoints", c["name"])
        h = sha256_file(path)
        ok("checkpoint %d: sha256 == hashlib == sha256sum" % c["step"],
           c["sha256"] == h == sha256sum(path) and c["size"] == os.path.getsize(path), c["sha256"])
        header, meta, data = parse_safetensors(path)
        good = [t["name"] for t in c["tensors"]] == list(header) and meta.get("step") == str(c["step"])
        for t in c["tensors"]:
            e = header[t["name"]]
            b, end = e["data_offsets"]
            good &= (t["dtype"] == e["dtype"] and t["shape"] == e["shape"]
                     and t["sha256"] == hashlib.sha256(data[b:end]).hexdigest())
        ok("checkpoint %d: %d tensor digests == hashlib of their bytes" % (c["step"], len(c["tensors"])), good)
    init = by_type["init"][0]
    init_path = os.path.join(d, "checkpoints", "step-000000.safetensors")
    ok("init: checkpoint_sha256 == hashlib of step-000000.safetensors, seeds as configured",
       init["checkpoint_sha256"] == sha256_file(init_path) and init["seed"] == config["training"]["seed"]
       and init["data_seed"] == config["training"]["data_seed"], init)

    # Steps: numbering, batch digests rebuilt from the shards, float bits.
    steps = by_type.get("step", [])
    ok("steps are 1..%d" % args.steps, [s["step"] for s in steps] == list(range(1, args.steps + 1)))
    good_batch = good_bits = True
    for s in steps:
        rebuilt = b"".join(shards[i][first:first + n] for i, first, n in s["batch"])
        good_batch &= s["batch_sha256"] == hashlib.sha256(rebuilt).hexdigest()
        good_bits &= (s["loss_bits"] == bits(s["loss"]) and s["lr_bits"] == bits(s["lr"])
                      and s["grad_norm_bits"] == bits(s["grad_norm"]))
    ok("every batch_sha256 == hashlib of the windows its refs name", good_batch and steps)
    ok("every loss/lr/grad_norm bits == struct.pack('>d', value)", good_bits and steps)

    # Order: a seal after every seal_every-th step, then end and a final seal.
    types = [r["type"] for r in recs]
    good = True
    for i, r in enumerate(recs):
        if r["type"] == "step" and r["step"] % args.seal_every == 0:
            rest = types[i + 1:]
            nxt = rest.index("step") if "step" in rest else len(rest)
            good &= "seal" in rest[:nxt]
    ok("a seal follows every %d-th step" % args.seal_every, good)
    ok("the log ends with end (reason finished, steps %d) and a seal" % args.steps,
       types[-2:] == ["end", "seal"] and recs[-2]["steps"] == args.steps and recs[-2]["reason"] == "finished",
       types[-3:])

    replay(recs, config, shards, d, steps, cks)
    print("# %d failure(s)" % failures())
    return 1 if failures() else 0


def replay(recs, config, shards, d, steps, cks):
    """Re-runs the training from the initial checkpoint with the recorded batches and lrs."""
    sys.path.insert(0, EXAMPLE)
    import train  # the model code the code record points at; it does not import attest

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(config["determinism"]["num_threads"])
    hp = {k: config["model"][k] for k in ("ctx", "d_model", "n_layers", "n_heads")}
    o = config["optimizer"]
    model = train.ByteGPT(**hp)
    header, _, data = parse_safetensors(os.path.join(d, "checkpoints", "step-000000.safetensors"))
    model.load_state_dict({k[6:]: tensor(header, data, k) for k in header if k.startswith("model.")})
    opt = torch.optim.AdamW(model.parameters(), lr=o["peak_lr"], betas=tuple(o["betas"]), eps=o["eps"],
                            weight_decay=o["weight_decay"])
    ck_by_step = {c["step"]: c for c in cks}
    same_loss = same_norm = same_ckpt = True
    for s in steps:
        rows = [torch.frombuffer(bytearray(shards[i][first:first + n]), dtype=torch.uint8)
                for i, first, n in s["batch"]]
        batch = torch.stack(rows)
        x, y = batch[:, :-1].long(), batch[:, 1:].long()
        lr = struct.unpack(">d", bytes.fromhex(s["lr_bits"]))[0]
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o["clip"])
        opt.step()
        same_loss &= bits(float(loss)) == s["loss_bits"]
        same_norm &= bits(float(norm)) == s["grad_norm_bits"]
        c = ck_by_step.get(s["step"])
        if c:
            digests = {t["name"]: t["sha256"] for t in c["tensors"]}
            for k, v in model.state_dict().items():
                b = v.contiguous().numpy().tobytes()
                same_ckpt &= digests.get("model." + k) == hashlib.sha256(b).hexdigest()
    ok("replay reproduces every recorded loss bit for bit", same_loss and steps)
    ok("replay reproduces every recorded gradient norm bit for bit", same_norm and steps)
    ok("replay reproduces every checkpoint's model tensors", same_ckpt and len(ck_by_step) > 1)


if __name__ == "__main__":
    sys.exit(main())
