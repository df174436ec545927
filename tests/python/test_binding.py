#!/usr/bin/python3
"""test_binding.py - tests of the Python binding (python/attest), run by
tests/cli/python.sh with ATTEST_LIB and ATTEST set. Prints "ok - NAME" /
"not ok - NAME" lines; digests are checked against hashlib, files against
a parser written here, logs with the attest CLI."""
import ctypes
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import attest  # noqa: E402
import attest.torch  # noqa: E402

ATTEST = os.environ["ATTEST"]
TMP = tempfile.mkdtemp(prefix="attest-py-")
failures = 0


def ok(name, cond, detail=""):
    global failures
    if cond:
        print("ok - " + name)
    else:
        failures += 1
        print("not ok - " + name)
        if detail:
            for line in str(detail).splitlines()[:8]:
                print("#   " + line)


def case(fn):
    """Runs one test function; an exception is a failure named after it."""
    try:
        fn()
    except Exception:
        ok(fn.__name__ + " ran without an exception", False, traceback.format_exc())
    return fn


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    return None


def H(b):
    return hashlib.sha256(b).digest()


def raw_bytes(t):
    """A tensor's bytes as they lie in memory (any dtype), read without torch."""
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def show(log):
    out = subprocess.run([ATTEST, "log", "show", log, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def verify(log, pub):
    return subprocess.run([ATTEST, "verify", log, "--pub", pub], capture_output=True, text=True)


def parse_safetensors(path):
    """A parser of our own (struct + json): header length, header, data bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8:8 + n]), data[8 + n:], data


# ---------------------------------------------------------------- sha256

@case
def sha256_bytes():
    ok("library found in the build tree or ATTEST_LIB",
       os.path.samefile(attest.library_path, os.environ["ATTEST_LIB"]), attest.library_path)
    blob = os.urandom(100_003)
    ok("sha256(bytes) == hashlib", attest.sha256(blob) == H(blob))
    ok("sha256(b'') == hashlib", attest.sha256(b"") == H(b""))
    ok("sha256(bytearray) == hashlib", attest.sha256(bytearray(blob)) == H(blob))
    ok("sha256(memoryview slice) == hashlib", attest.sha256(memoryview(blob)[7:5000]) == H(blob[7:5000]))
    ok("sha256 of a non-buffer raises TypeError", raises(TypeError, attest.sha256, 12345))


@case
def sha256_numpy():
    for a in (np.arange(1000, dtype=np.float32), np.arange(60, dtype=np.int64).reshape(3, 4, 5),
              np.frombuffer(b"read-only buffer", dtype=np.uint8), np.zeros((0, 3)),
              np.array([True, False])):
        ok("sha256(numpy %s %s) == hashlib" % (a.dtype, a.shape), attest.sha256(a) == H(a.tobytes()))
    a = np.arange(100, dtype=np.float64).reshape(10, 10)
    e = raises(ValueError, attest.sha256, a.T)
    ok("sha256(non-contiguous numpy) raises ValueError naming contiguity",
       e and "contiguous" in str(e), e)


@case
def sha256_torch():
    g = torch.Generator().manual_seed(1)
    cases = [torch.randn(33, 17, generator=g), torch.randn(8, generator=g).to(torch.bfloat16),
             torch.randint(0, 256, (4, 65), generator=g, dtype=torch.uint8), torch.tensor(3.5),
             torch.empty(0, 4), torch.randn(5, generator=g, requires_grad=True)]
    for t in cases:
        ok("sha256(torch %s %s) == hashlib" % (t.dtype, tuple(t.shape)),
           attest.sha256(t) == H(raw_bytes(t)))
    t = torch.arange(24, dtype=torch.float32)
    ok("sha256(tensor) == hashlib(tensor.numpy().tobytes())", attest.sha256(t) == H(t.numpy().tobytes()))
    nc = torch.arange(20, dtype=torch.float32).reshape(4, 5).t()
    e = raises(ValueError, attest.sha256, nc)
    ok("sha256(non-contiguous tensor) raises ValueError naming .contiguous()",
       e and ".contiguous()" in str(e), e)
    ok("sha256(t.contiguous()) == hashlib of its C-order bytes",
       attest.sha256(nc.contiguous()) == H(nc.contiguous().numpy().tobytes()))
    sl = torch.arange(100, dtype=torch.int32)[10:20]
    ok("sha256(contiguous tensor slice) hashes the slice only", attest.sha256(sl) == H(sl.numpy().tobytes()))


# ---------------------------------------------------------------- safetensors

TORCH_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
                torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def some_tensor(dtype, shape, g):
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * 1e3).to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, generator=g, dtype=torch.int64).to(dtype)


@case
def safetensors_round_trip():
    g = torch.Generator().manual_seed(7)
    tensors = {}
    for dt, name in TORCH_DTYPES.items():
        tensors["t.%s" % name] = some_tensor(dt, (3, 5), g)
        tensors["scalar.%s" % name] = some_tensor(dt, (), g)
    tensors["empty"] = torch.empty(0, 4)
    tensors["strided"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # made contiguous
    path = os.path.join(TMP, "all.safetensors")
    attest.save_safetensors(path, tensors, {"format": "pt", "note": "ünïcode"})
    n, header, data, whole = parse_safetensors(path)
    ok("safetensors header length is a multiple of 8", n % 8 == 0, n)
    ok("safetensors metadata round trip", header.pop("__metadata__") == {"format": "pt", "note": "ünïcode"})
    ok("safetensors tensors in the order given", list(header) == list(tensors), list(header))
    end = max(e["data_offsets"][1] for e in header.values())
    ok("safetensors file ends with the last tensor", end == len(data))
    for name, t in tensors.items():
        e = header[name]
        want = t.contiguous()
        b, en = e["data_offsets"]
        good = (e["dtype"] == TORCH_DTYPES[t.dtype] and e["shape"] == list(t.shape)
                and data[b:en] == raw_bytes(want))
        ok("safetensors %s (%s %s) bit-exact" % (name, e["dtype"], e["shape"]), good, e)
    back, meta = attest.torch.read_safetensors(path)
    exact = all(back[k].dtype == t.dtype and back[k].shape == t.shape
                and raw_bytes(back[k]) == raw_bytes(t.contiguous()) for k, t in tensors.items())
    ok("read_safetensors gives back every dtype bit-exact", exact)


@case
def safetensors_numpy():
    arrays = {"f4": np.linspace(0, 1, 7, dtype=np.float32), "u2": np.arange(5, dtype=np.uint16),
              "u4": np.arange(5, dtype=np.uint32), "u8": np.arange(5, dtype=np.uint64),
              "be": np.arange(6, dtype=">i4").reshape(2, 3), "b": np.array([True, False, True])}
    path = os.path.join(TMP, "np.safetensors")
    attest.save_safetensors(path, arrays)
    _, header, data, _ = parse_safetensors(path)
    want = {"f4": "F32", "u2": "U16", "u4": "U32", "u8": "U64", "be": "I32", "b": "BOOL"}
    for k, a in arrays.items():
        b, e = header[k]["data_offsets"]
        ok("numpy %s -> %s, little-endian bytes" % (a.dtype, want[k]),
           header[k]["dtype"] == want[k] and data[b:e] == a.astype(a.dtype.newbyteorder("<")).tobytes())
    e = raises(attest.AttestError, attest.save_safetensors, os.path.join(TMP, "no/such/dir/x"), arrays)
    ok("save_safetensors into a missing directory raises AttestError (EIO)", e and e.code == -3, e)
    e = raises(ValueError, attest.save_safetensors, os.path.join(TMP, "c.st"), {"c": np.zeros(2, np.complex64)})
    ok("save_safetensors of an unmapped dtype raises ValueError", e, e)


@case
def checkpoint_round_trip():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95))
    x = torch.randn(16, 4)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    path = os.path.join(TMP, "ckpt.safetensors")
    attest.torch.save_checkpoint(None, path, 3, model, opt, extra={"note": "hi", "rng": torch.get_rng_state()})
    _, header, _, _ = parse_safetensors(path)
    meta = header["__metadata__"]
    ok("checkpoint names model.* and optim.<index>.<key> tensors",
       "model.0.weight" in header and "optim.0.exp_avg" in header and "optim.3.exp_avg_sq" in header
       and "optim.0.step" in header and "extra.rng" in header, sorted(header))
    ok("checkpoint metadata: step, param_groups, extra strings",
       meta["step"] == "3" and json.loads(meta["optim.param_groups"])[0]["lr"] == 1e-2
       and meta["extra.note"] == "hi", meta)
    torch.manual_seed(99)
    model2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=5.0)
    attest.torch.load_checkpoint(path, model2, opt2)
    same = all(raw_bytes(a) == raw_bytes(b) and a.dtype == b.dtype
               for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    ok("load_checkpoint restores the model bit-exact", same)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    same = all(raw_bytes(s1["state"][i][k]) == raw_bytes(s2["state"][i][k])
               and s1["state"][i][k].dtype == s2["state"][i][k].dtype
               for i in s1["state"] for k in s1["state"][i])
    ok("load_checkpoint restores the optimizer state bit-exact", same and s1["param_groups"] == s2["param_groups"],
       (s1["param_groups"], s2["param_groups"]))
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    same = all(raw_bytes(a) == raw_bytes(b) for a, b in zip(model.parameters(), model2.parameters()))
    ok("training goes on identically after load_checkpoint", same)


@case
def determinism_facts():
    d = attest.torch.capture_determinism()
    ok("capture_determinism reports torch, seed, rng digest, threads",
       d["torch"] == torch.__version__ and d["torch_initial_seed"] == torch.initial_seed()
       and len(d["torch_rng_state_sha256"]) == 64 and d["num_threads"] == torch.get_num_threads()
       and "cudnn_benchmark" in d and "CUBLAS_WORKSPACE_CONFIG" in d and d["numpy"] == np.__version__, d)
    json.dumps(d)


# ---------------------------------------------------------------- keys

@case
def keygen():
    prefix = os.path.join(TMP, "k")
    vkey = attest.keygen("example.com/python-test", prefix)
    ok("keygen returns a verifier key named as asked",
       vkey.startswith("example.com/python-test+") and len(vkey.split("+")[1]) == 8, vkey)
    ok("keygen writes PREFIX.key with mode 0600", os.stat(prefix + ".key").st_mode & 0o777 == 0o600,
       oct(os.stat(prefix + ".key").st_mode))
    ok("keygen writes PREFIX.pub = vkey + newline", open(prefix + ".pub").read() == vkey + "\n")
    key_before = open(prefix + ".key").read()
    e = raises(attest.AttestError, attest.keygen, "example.com/other", prefix)
    ok("keygen refuses to overwrite (ATTEST_EEXIST), files unchanged",
       e and e.code == -9 and open(prefix + ".key").read() == key_before
       and open(prefix + ".pub").read() == vkey + "\n", e)
    e = raises(attest.AttestError, attest.keygen, "bad+name", os.path.join(TMP, "bad"))
    ok("keygen rejects an invalid key name (ATTEST_EINVAL)", e and e.code == -2, e)


# ---------------------------------------------------------------- Run

@case
def run_records():
    d = os.path.join(TMP, "run")
    os.makedirs(d)
    attest.keygen("example.com/python-run", os.path.join(d, "run"))
    shard = os.path.join(d, "shard-000.bin")
    blob = bytes(range(256)) * 40
    open(shard, "wb").write(blob)
    ckpt = os.path.join(d, "init.safetensors")
    attest.save_safetensors(ckpt, {"w": torch.ones(2, 3)})
    batch = torch.frombuffer(bytearray(blob[10:74] + blob[100:164]), dtype=torch.uint8).reshape(2, 64)
    log = os.path.join(d, "run.log")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with attest.Run(log, key=os.path.join(d, "run.key"), config={"model": "tiny", "lr": 0.5},
                        replay={"cmd": "train.py"}, hash_threads=2) as run:
            run.code(REPO)
            run.shard_file(0, shard, "bytes")
            run.shard_bytes(1, "mem.jsonl", b'{"a":1}\n{"a":2}\n', "jsonl")
            run.init(42, "torch-default/x", version="1", data_seed=7, checkpoint=ckpt)
            run.checkpoint(0, ckpt)
            run.step(1, [(0, 10, 64), (0, 100, 64)], batch=batch, lr=0.1, loss=2.5,
                     grad_norm=float("inf"), user={"tokens": 128})
            run.step(2, [(1, 0, 2)], batch_sha256=H(b"x"), lr=1e-3, loss=0.1)
            run.note("a note ✓")
            run.seal()
            run.end("finished")
            status = run.flush()
        final = run.close()
    ok("Run records without failures", status == (0, "", 0) and final == (0, "", 0), (status, final))
    ok("no warning from a clean run", not w, [str(x.message) for x in w])
    r = verify(log, os.path.join(d, "run.pub"))
    ok("attest verify accepts the Python-recorded log", r.returncode == 0, r.stdout + r.stderr)
    recs = show(log)
    types = [x["type"] for x in recs]
    ok("records in the order reported",
       types == ["run", "code", "shard", "shard", "init", "checkpoint", "step", "step", "note",
                 "seal", "end", "seal"], types)
    run_rec = recs[0]
    ok("run record holds config and replay", run_rec["config"] == {"model": "tiny", "lr": 0.5}
       and run_rec["replay"] == {"cmd": "train.py"}, run_rec)
    sh = recs[2]
    ok("shard record: sha256, size, samples, layout",
       sh["sha256"] == hashlib.sha256(blob).hexdigest() and sh["size"] == len(blob)
       and sh["samples"] == len(blob) and sh["layout"] == "bytes" and sh["name"] == "shard-000.bin", sh)
    ok("shard from memory: jsonl lines counted", recs[3]["samples"] == 2 and recs[3]["name"] == "mem.jsonl", recs[3])
    init = recs[4]
    ok("init record: seed, initializer, version, data seed, checkpoint digest",
       init["seed"] == 42 and init["initializer"] == "torch-default/x" and init["initializer_version"] == "1"
       and init["data_seed"] == 7
       and init["checkpoint_sha256"] == hashlib.sha256(open(ckpt, "rb").read()).hexdigest(), init)
    s1 = recs[6]
    ok("step record: batch digest of the tensor bytes, refs, float bits",
       s1["batch_sha256"] == hashlib.sha256(blob[10:74] + blob[100:164]).hexdigest()
       and s1["batch"] == [[0, 10, 64], [0, 100, 64]]
       and s1["loss_bits"] == struct.pack(">d", 2.5).hex() and s1["lr_bits"] == struct.pack(">d", 0.1).hex()
       and s1["grad_norm"] is None and s1["grad_norm_bits"] == struct.pack(">d", float("inf")).hex()
       and s1["user"] == {"tokens": 128}, s1)
    ok("step record with a given digest and no grad norm",
       recs[7]["batch_sha256"] == H(b"x").hex() and "grad_norm" not in recs[7], recs[7])
    ck = recs[5]
    ok("checkpoint record: file and tensor digests",
       ck["sha256"] == hashlib.sha256(open(ckpt, "rb").read()).hexdigest()
       and ck["tensors"][0]["sha256"] == hashlib.sha256(raw_bytes(torch.ones(2, 3))).hexdigest(), ck)
    ok("code record: commit of this repository", len(recs[1].get("commit", "")) in (40, 64), recs[1])
    ok("note and end records", recs[8]["text"] == "a note ✓" and recs[10]["steps"] == 2
       and recs[10]["reason"] == "finished")
    ok("closing twice returns the same status", run.close() == final)
    ok("a closed run refuses more facts (ValueError)", raises(ValueError, run.note, "late"))

    # Reopening the log goes on recording (a resumed run).
    with attest.Run(log, key=os.path.join(d, "run.key")) as again:
        n = again.records()
    ok("reopening an existing log resumes it", n == len(recs), n)


@case
def run_failures():
    d = os.path.join(TMP, "fail")
    os.makedirs(d)
    attest.keygen("example.com/python-fail", os.path.join(d, "run"))
    log = os.path.join(d, "run.log")
    missing = os.path.join(d, "data", "missing-shard.bin")
    run = attest.Run(log, key=os.path.join(d, "run.key"))
    try:
        run.shard_file(3, missing, "bytes")  # fails on a hashing thread: must not raise here
        raised = None
    except Exception as e:  # noqa: BLE001
        raised = e
    ok("a failing shard does not raise", raised is None, raised)
    run.note("after the failure")
    run.init(1, "x")
    run.step(1, [], batch=b"abc", lr=0.1, loss=1.0)
    code, msg, failed = run.flush()
    ok("status() reports the failure with the path", code == -8 and missing in msg and failed == 1,
       (code, msg, failed))
    ok("invalid layout raises ValueError", raises(ValueError, run.shard_file, 4, missing, "u16"))
    ok("empty note (C: ATTEST_EINVAL) raises ValueError", raises(ValueError, run.note, ""))
    ok("step without batch or digest raises ValueError", raises(ValueError, run.step, 2, [], lr=0.1, loss=1.0))
    ok("step with a short digest raises ValueError",
       raises(ValueError, run.step, 2, [], batch_sha256=b"short", lr=0.1, loss=1.0))
    ok("negative seed raises ValueError", raises(ValueError, run.init, -1, "x"))
    ok("the ValueErrors did not count as failures", run.status()[2] == 1, run.status())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with run:
            pass
    ok("leaving the with block warns with the first error", len(w) == 1 and missing in str(w[0].message)
       and issubclass(w[0].category, RuntimeWarning), [str(x.message) for x in w])
    ok("close() status keeps the failure", run.close()[0] == -8, run.close())
    types = [x["type"] for x in show(log)]
    ok("later facts were still recorded", types == ["run", "note", "init", "step", "seal"], types)
    r = verify(log, os.path.join(d, "run.pub"))
    ok("attest verify accepts the log of a run with a failed fact", r.returncode == 0, r.stdout + r.stderr)


@case
def run_left_open():
    d = os.path.join(TMP, "open")
    os.makedirs(d)
    attest.keygen("example.com/python-open", os.path.join(d, "run"))
    code = ("import sys; sys.path.insert(0, %r); import attest\n"
            "run = attest.Run(%r, key=%r)\nrun.note('never closed')\n"
            % (os.path.join(REPO, "python"), os.path.join(d, "run.log"), os.path.join(d, "run.key")))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    types = [x["type"] for x in show(os.path.join(d, "run.log"))] if r.returncode == 0 else []
    ok("a run never closed is flushed and sealed when Python exits",
       types == ["run", "note", "seal"], (r.stderr, types))


@case
def run_open_errors():
    e = raises(attest.AttestError, attest.Run, os.path.join(TMP, "nodir", "run.log"),
               key=os.path.join(TMP, "k.key"))
    ok("Run() on a missing directory raises AttestError with a message", e and e.code < 0 and e.message, e)
    e = raises(attest.AttestError, attest.Run, os.path.join(TMP, "nokey.log"))
    ok("Run() creating a log without a key raises AttestError naming the key",
       e and e.code == -2 and "key" in e.message, e)
    e = raises(attest.AttestError, attest.Run, os.path.join(TMP, "run", "run.log"), key=os.path.join(TMP, "k.key"))
    ok("Run() with the wrong key for an existing log raises AttestError", e and "not this log's key" in e.message, e)
    e = raises(TypeError, attest.Run, os.path.join(TMP, "x.log"), key=os.path.join(TMP, "k.key"), config=[1])
    ok("Run() with a non-dict config raises TypeError", e)


@case
def dataloader_steps():
    d = os.path.join(TMP, "dl")
    os.makedirs(d)
    paths = []
    for k in range(2):
        p = os.path.join(d, "s%d.bin" % k)
        with open(p, "wb") as f:
            f.write(bytes((i * 7 + k) % 251 for i in range(1000 + 37 * k)))
        paths.append((k, p))
    ds = attest.torch.ShardWindows(paths, window=33)
    ok("ShardWindows counts the whole windows of every shard", len(ds) == 1000 // 33 + 1037 // 33, len(ds))
    g = torch.Generator().manual_seed(3)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=True, generator=g,
                                         collate_fn=attest.torch.collate_with_refs)
    attest.keygen("example.com/dl", os.path.join(d, "k"))
    with attest.Run(os.path.join(d, "run.log"), key=os.path.join(d, "k.key")) as run:
        for k, p in paths:
            run.shard_file(k, p, layout="bytes")
        run.init(1, "test")
        for step, (x, refs) in enumerate(loader, 1):
            attest.torch.record_step(run, step, x, refs, lr=torch.tensor(0.5), loss=1.0 / step)
            if step == 6:
                break
        attest.torch.record_step(run, 7, (x, x[:, :3].contiguous()), refs, lr=0.5, loss=0.1)
    recs = [r for r in show(os.path.join(d, "run.log")) if r["type"] == "step"]
    blobs = {k: open(p, "rb").read() for k, p in paths}
    good = len(recs) == 7
    for r in recs[:6]:
        rebuilt = b"".join(blobs[s][a:a + n] for s, a, n in r["batch"])
        good = good and r["batch_sha256"] == hashlib.sha256(rebuilt).hexdigest()
    ok("DataLoader steps: each batch digest is that of the bytes its references name", good, recs[:1])
    both = bytes(x.numpy().tobytes()) + bytes(x[:, :3].contiguous().numpy().tobytes())
    ok("a tuple batch is hashed as its tensors one after the other",
       recs[6]["batch_sha256"] == hashlib.sha256(both).hexdigest())
    e = raises(TypeError, attest.torch.batch_sha256, {"x": [1, 2]})
    ok("a batch of something else than tensors is refused", e)
    ok("the DataLoader run verifies", verify(os.path.join(d, "run.log"), os.path.join(d, "k.pub")).returncode == 0)


shutil.rmtree(TMP, ignore_errors=True)
print("# %d failure(s)" % failures)
sys.exit(1 if failures else 0)
