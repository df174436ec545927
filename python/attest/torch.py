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
           "batch_refs"]

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
