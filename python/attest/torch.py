"""attest.torch - PyTorch helpers: checkpoints as safetensors files that the
recorder hashes, their exact reload, and the determinism facts of a process.

Checkpoint layout (one safetensors file):
  model.<state_dict key>          every tensor of model.state_dict()
  optim.<param index>.<key>       every value of optimizer.state_dict()["state"];
                                  Python numbers become 0-dim I64/F64 tensors
  extra.<name>                    tensors passed in `extra`
  __metadata__: "format" "pt", "step", "optim.param_groups" (JSON),
                "optim.scalars" (JSON: which optim entries were Python numbers),
                "extra.<name>" for str values of `extra`
"""
import hashlib
import json
import os
import platform
import struct

import torch

from . import save_safetensors

__all__ = ["save_checkpoint", "load_checkpoint", "read_safetensors", "capture_determinism",
           "batch_refs", "ShardWindows", "collate_with_refs", "batch_sha256", "record_step"]

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
           "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def save_checkpoint(run, path, step, model, optimizer=None, extra=None):
    """Writes model (and optimizer) state to `path` as safetensors and, when
    `run` is not None, records it with run.checkpoint(step, path).
    Returns path."""
    tensors = {}
    for name, t in model.state_dict().items():
        tensors["model." + name] = t
    metadata = {"format": "pt", "step": str(step)}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for idx, state in sd["state"].items():
            for key, v in state.items():
                name = "optim.%d.%s" % (idx, key)
                if isinstance(v, torch.Tensor):
                    tensors[name] = v
                elif isinstance(v, bool):
                    tensors[name] = torch.tensor(v, dtype=torch.bool)
                    scalars[name] = "bool"
                elif isinstance(v, int):
                    tensors[name] = torch.tensor(v, dtype=torch.int64)
                    scalars[name] = "int"
                elif isinstance(v, float):
                    tensors[name] = torch.tensor(v, dtype=torch.float64)
                    scalars[name] = "float"
                else:
                    raise TypeError("optimizer state %s is a %s: not storable"
                                    % (name, type(v).__name__))
        metadata["optim.param_groups"] = json.dumps(sd["param_groups"])
        metadata["optim.scalars"] = json.dumps(scalars, sort_keys=True)
    for name, v in (extra or {}).items():
        if isinstance(v, str):
            metadata["extra." + name] = v
        else:
            tensors["extra." + name] = v
    save_safetensors(path, tensors, metadata)
    if run is not None:
        run.checkpoint(step, path)
    return path


def read_safetensors(path):
    """(tensors: name -> tensor, metadata: dict) of a safetensors file, read with
    the standard library and torch.frombuffer; each tensor is a fresh copy."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: shorter than a safetensors header" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d runs past the end of the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    metadata = header.pop("__metadata__", {}) or {}
    buf = bytearray(data[base:])  # writable, so frombuffer does not warn
    tensors = {}
    for name, e in header.items():
        dtype = _DTYPES[e["dtype"]]
        shape = tuple(e["shape"])
        begin, end = e["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        t = torch.frombuffer(buf, dtype=dtype, count=numel, offset=begin)
        if t.numel() * t.element_size() != end - begin:
            raise ValueError("%s: tensor %s: size does not match its offsets" % (path, name))
        tensors[name] = t.reshape(shape).clone()  # clone: aligned, owns its memory
    return tensors, metadata


def _tuples_like(value, template):
    """JSON turned tuples into lists: give back the template's container types."""
    if isinstance(template, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def load_checkpoint(path, model, optimizer=None):
    """Restores model (and optimizer) state saved by save_checkpoint, bit for bit.
    Returns the checkpoint's metadata dict."""
    tensors, metadata = read_safetensors(path)
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_sd, strict=True)
    if optimizer is not None:
        scalars = json.loads(metadata.get("optim.scalars", "{}"))
        groups = json.loads(metadata["optim.param_groups"])
        for g, cur in zip(groups, optimizer.param_groups):
            for k, v in g.items():
                if k != "params":
                    g[k] = _tuples_like(v, cur.get(k))
        state = {}
        for name, t in tensors.items():
            if not name.startswith("optim."):
                continue
            _, idx, key = name.split(".", 2)
            kind = scalars.get(name)
            v = t
            if kind == "int":
                v = int(t.item())
            elif kind == "float":
                v = float(t.item())
            elif kind == "bool":
                v = bool(t.item())
            state.setdefault(int(idx), {})[key] = v
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    return metadata


def capture_determinism():
    """The facts that decide whether this process's training can be re-run bit for bit."""
    try:
        import numpy
        numpy_version = numpy.__version__
    except ImportError:
        numpy_version = None
    cudnn = torch.backends.cudnn
    return {
        "torch": torch.__version__,
        "torch_initial_seed": torch.initial_seed(),
        "torch_rng_state_sha256": hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "num_threads": torch.get_num_threads(),
        "cudnn_deterministic": bool(cudnn.deterministic),
        "cudnn_benchmark": bool(cudnn.benchmark),
        "cuda_available": torch.cuda.is_available(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "python": platform.python_version(),
        "numpy": numpy_version,
    }


def batch_refs(rows):
    """[(shard, first, count), ...] from rows of (shard, first, count), merging a row
    that continues the previous one in the same shard."""
    out = []
    for shard, first, count in rows:
        if out and out[-1][0] == shard and out[-1][1] + out[-1][2] == first:
            out[-1] = (shard, out[-1][1], out[-1][2] + count)
        else:
            out.append((int(shard), int(first), int(count)))
    return out


# ---------------------------------------------------------------- DataLoader steps

_LAYOUT_DTYPE = {"bytes": torch.uint8, "tokens-u16le": torch.int16, "tokens-u32le": torch.int32}
_LAYOUT_WIDTH = {"bytes": 1, "tokens-u16le": 2, "tokens-u32le": 4}


class ShardWindows(torch.utils.data.Dataset):
    """Fixed-length windows over recorded shards, for a DataLoader.

    shards: [(shard id, path), ...] of files recorded with the same layout;
    item i is (tensor of `window` samples, (shard id, first sample, window)),
    the windows starting every `stride` samples (default: `window`, so they
    do not overlap). Token layouts come back as int16/int32 tensors holding
    the stored bits (reinterpret as unsigned where it matters). Pair it with
    collate_with_refs so that each batch carries the references a step
    record needs.
    """

    def __init__(self, shards, window, layout="bytes", stride=None):
        if layout not in _LAYOUT_DTYPE:
            raise ValueError("layout must be one of %s" % ", ".join(sorted(_LAYOUT_DTYPE)))
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window, self.stride = int(window), int(stride or window)
        width = _LAYOUT_WIDTH[layout]
        self._shards, self._starts, total = [], [], 0
        for shard_id, path in shards:
            with open(path, "rb") as f:
                data = bytearray(f.read())
            if len(data) % width:
                raise ValueError("%s: %d bytes is not a whole number of %s samples"
                                 % (path, len(data), layout))
            samples = torch.frombuffer(data, dtype=_LAYOUT_DTYPE[layout]) if data else \
                torch.empty(0, dtype=_LAYOUT_DTYPE[layout])
            n = 0 if len(samples) < self.window else (len(samples) - self.window) // self.stride + 1
            self._shards.append((int(shard_id), samples))
            self._starts.append(total)
            total += n
        self._total = total

    def __len__(self):
        return self._total

    def __getitem__(self, i):
        if not 0 <= i < self._total:
            raise IndexError(i)
        k = max(j for j, start in enumerate(self._starts) if start <= i)
        shard_id, samples = self._shards[k]
        first = (i - self._starts[k]) * self.stride
        return samples[first:first + self.window], (shard_id, first, self.window)


def collate_with_refs(items):
    """DataLoader collate_fn for ShardWindows: (stacked batch tensor, [refs in row order])."""
    return torch.stack([t for t, _ in items]), [ref for _, ref in items]


def _tensors_of(batch):
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        return [t for key in sorted(batch) for t in _tensors_of(batch[key])]
    if isinstance(batch, (list, tuple)):
        return [t for item in batch for t in _tensors_of(item)]
    raise TypeError("a batch is a tensor, or a list, tuple or dict of them, not %s"
                    % type(batch).__name__)


def batch_sha256(batch):
    """SHA-256 of the exact bytes of a batch as the model consumes it: a tensor's
    bytes, or the bytes of each tensor of a list/tuple (in order) or a dict (by
    sorted key) one after the other. Read in place, without copies."""
    tensors = _tensors_of(batch)
    if len(tensors) == 1:
        from . import sha256
        return sha256(tensors[0])
    h = hashlib.sha256()
    for t in tensors:
        if t.device.type != "cpu" or not t.is_contiguous():
            raise ValueError("batch tensors must be contiguous CPU tensors")
        h.update(t.view(torch.uint8).numpy().data if t.numel() else b"")
    return h.digest()


def record_step(run, step, batch, refs, *, lr, loss, grad_norm=None, user=None):
    """Records one optimizer step of a DataLoader loop: `batch` as the model
    consumed it (hashed in place, see batch_sha256), `refs` the samples it
    holds [(shard id, first, count), ...] (merged where rows continue each
    other), lr and loss (tensors or numbers)."""
    def number(x):
        return float(x.item()) if isinstance(x, torch.Tensor) else float(x)
    run.step(step, batch_refs(refs), batch_sha256=batch_sha256(batch), lr=number(lr),
             loss=number(loss), grad_norm=None if grad_norm is None else number(grad_norm),
             user=user)
