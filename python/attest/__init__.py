"""attest - record how a model was trained into a signed, append-only log.

A ctypes binding over libattest (include/attest/run.h, digest.h,
safetensors.h, note.h). Standard library only; numpy and torch objects are
accepted where they are passed in, never imported here.

The library is found, in this order: the file named by $ATTEST_LIB; the
build tree this package sits in (<repo>/build/libattest.so.0); the system
(ctypes.util.find_library("attest")).

A failing recorder never kills training: the record methods of Run raise
only for programming errors (invalid arguments: ValueError/TypeError);
anything that fails later (an unreadable shard, a full disk) is kept and
reported by Run.status(), Run.close() and a warning when a `with` block
ends.
"""
import atexit
import ctypes
import ctypes.util
import json
import operator
import os
import sys
import threading
import warnings
import weakref

__all__ = [
    "AttestError", "Run", "keygen", "sha256", "save_safetensors", "library_path",
    "LAYOUTS", "DTYPE_BITS",
]

# ---------------------------------------------------------------- the library


def _find_library():
    env = os.environ.get("ATTEST_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, os.pardir, os.pardir, "build", "libattest.so.0")
    if os.path.exists(built):
        return os.path.normpath(built)
    return ctypes.util.find_library("attest")


library_path = _find_library()
if not library_path:
    raise ImportError("attest: libattest not found: set ATTEST_LIB, build the repository "
                      "(make) or install the library")
_lib = ctypes.CDLL(library_path)  # CDLL: the GIL is released during every call
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None

_c_char_pp = ctypes.POINTER(ctypes.c_char_p)
_u8p = ctypes.POINTER(ctypes.c_uint8)
_u64p = ctypes.POINTER(ctypes.c_uint64)

# Return codes of attest/error.h used here (never renumbered).
ATTEST_EINVAL = -2
ATTEST_EEXIST = -9


_RUN_NEW = 1


class _RunOptions(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("seal_every_records", ctypes.c_uint64),
        ("seal_every_seconds", ctypes.c_double),
        ("hash_threads", ctypes.c_uint),
        ("memory_bound", ctypes.c_uint64),
        ("replay_json", ctypes.c_char_p),
        ("flags", ctypes.c_uint),
        ("tpm_tcti", ctypes.c_char_p),
        ("tpm_enrollment", ctypes.c_char_p),
    ]


class _SampleRef(ctypes.Structure):
    _fields_ = [("shard", ctypes.c_uint64), ("first", ctypes.c_uint64),
                ("count", ctypes.c_uint64)]


class _Step(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("step", ctypes.c_uint64),
        ("refs", ctypes.POINTER(_SampleRef)),
        ("n_refs", ctypes.c_size_t),
        ("batch", ctypes.c_void_p),
        ("batch_len", ctypes.c_size_t),
        ("batch_sha256", _u8p),
        ("lr", ctypes.c_double),
        ("loss", ctypes.c_double),
        ("has_grad_norm", ctypes.c_int),
        ("grad_norm", ctypes.c_double),
        ("user_json", ctypes.c_char_p),
    ]


class _TensorView(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_char_p),
        ("rank", ctypes.c_size_t),
        ("shape", _u64p),
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_uint64),
    ]


_RUN_OPTIONS_VERSION = 1
_STEP_VERSION = 1
_CHECKPOINT_RAW = 1


def _declare(name, restype, *argtypes):
    fn = getattr(_lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_int, _p = ctypes.c_int, ctypes.c_void_p
_strerror = _declare("attest_strerror", ctypes.c_char_p, _int)
_sha256 = _declare("attest_sha256", _int, _p, ctypes.c_size_t, _u8p)
_signer_generate = _declare("attest_signer_generate", _int, ctypes.POINTER(_p), ctypes.c_char_p)
_signer_save = _declare("attest_signer_save", _int, _p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_size_t)
_signer_vkey = _declare("attest_signer_vkey", _int, _p, ctypes.POINTER(_p))
_signer_free = _declare("attest_signer_free", None, _p)
_st_write = _declare("attest_safetensors_write", _int, ctypes.c_char_p,
                     ctypes.POINTER(_TensorView), ctypes.c_size_t, _c_char_pp, ctypes.c_char_p,
                     ctypes.c_size_t)
_run_open = _declare("attest_run_open", _int, ctypes.POINTER(_p), ctypes.c_char_p,
                     ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_RunOptions),
                     ctypes.POINTER(_p))
_run_code = _declare("attest_run_code", _int, _p, ctypes.c_char_p)
_run_init = _declare("attest_run_init", _int, _p, ctypes.c_uint64, ctypes.c_char_p,
                     ctypes.c_char_p, _int, ctypes.c_uint64, ctypes.c_char_p)
_run_shard_file = _declare("attest_run_shard_file", _int, _p, ctypes.c_uint64, ctypes.c_char_p,
                           ctypes.c_char_p, _int)
_run_shard_buffer = _declare("attest_run_shard_buffer", _int, _p, ctypes.c_uint64,
                             ctypes.c_char_p, _p, ctypes.c_size_t, _int)
_run_step = _declare("attest_run_step", _int, _p, ctypes.POINTER(_Step))
_run_checkpoint = _declare("attest_run_checkpoint", _int, _p, ctypes.c_uint64, ctypes.c_char_p,
                           ctypes.c_uint)
_run_note = _declare("attest_run_note", _int, _p, ctypes.c_char_p)
_run_seal = _declare("attest_run_seal", _int, _p)
_run_end = _declare("attest_run_end", _int, _p, ctypes.c_char_p)
_run_flush = _declare("attest_run_flush", _int, _p)
_run_status = _declare("attest_run_status", _int, _p, ctypes.c_char_p, ctypes.c_size_t, _u64p)
_run_close = _declare("attest_run_close", _int, _p, ctypes.c_char_p, ctypes.c_size_t, _u64p)
_run_records = _declare("attest_run_records", ctypes.c_uint64, _p)


# ---------------------------------------------------------------- errors


def strerror(code):
    """The library's short description of a return code."""
    return _strerror(code).decode()


class AttestError(Exception):
    """A libattest call failed: .code is the ATTEST_E* code, .message the reason."""

    def __init__(self, code, message=None):
        self.code = code
        self.message = message or strerror(code)
        super().__init__(self.message)


def _take_string(ptr):
    """Decodes and frees a malloc'd C string (NULL: None)."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _libc.free(ptr)


def _path(p):
    return os.fsencode(p)


def _text(s, what):
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    return s.encode("utf-8")


def _uint(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s must be an int, not %s" % (what, type(v).__name__))
    if not 0 <= v <= 2**63 - 1:
        raise ValueError("%s must be between 0 and 2^63-1, not %d" % (what, v))
    return v


def _json(obj, what):
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise TypeError("%s must be a dict, not %s" % (what, type(obj).__name__))
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


# ---------------------------------------------------------------- buffers

class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None
_PyBUF_SIMPLE = 0


def _torch_tensor(obj):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


class _Memory:
    """(pointer, length) of an object's bytes, held without a copy while in use.

    Buffer-protocol objects (bytes, bytearray, memoryview, numpy arrays) must
    be C-contiguous; torch tensors must be contiguous CPU tensors. Anything
    else is a ValueError/TypeError: hashing a silent copy would hide which
    bytes were hashed.
    """

    def __init__(self, obj):
        self.obj = obj
        self.view = None
        if _torch_tensor(obj):
            t = obj
            if t.device.type != "cpu":
                raise ValueError("tensor is on %s: move it to the CPU first (.cpu())" % t.device)
            if not t.is_contiguous():
                raise ValueError("tensor is not contiguous: pass .contiguous() (its bytes in "
                                 "C order) explicitly")
            if t.is_conj() or t.is_neg():
                raise ValueError("tensor has a lazy conj/neg bit: call .resolve_conj()/"
                                 ".resolve_neg() first")
            self.ptr = t.data_ptr()
            self.len = t.numel() * t.element_size()
            return
        view = _PyBuffer()
        try:
            _get_buffer(obj, ctypes.byref(view), _PyBUF_SIMPLE)
        except TypeError:
            raise TypeError("cannot hash %s: expected bytes-like, a numpy array or a torch "
                            "tensor" % type(obj).__name__) from None
        except (BufferError, ValueError) as e:
            raise ValueError("cannot hash %s without a copy (%s): pass a C-contiguous array"
                             % (type(obj).__name__, e)) from None
        self.view = view
        self.ptr = view.buf
        self.len = view.len

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.view is not None:
            _release_buffer(ctypes.byref(self.view))
            self.view = None


def sha256(obj):
    """SHA-256 (32 bytes) of an object's memory, hashed in place without a copy.

    Accepts bytes, bytearray, memoryview, C-contiguous numpy arrays and
    contiguous CPU torch tensors (their numel * element_size bytes as they
    lie in memory). Non-contiguous arrays and tensors are rejected with
    ValueError. The GIL is released while hashing.
    """
    out = (ctypes.c_uint8 * 32)()
    with _Memory(obj) as m:
        rc = _sha256(m.ptr, m.len, out)
    if rc:
        raise AttestError(rc)
    return bytes(out)


# ---------------------------------------------------------------- keys


def keygen(name, prefix):
    """Creates PREFIX.key (signer key, mode 0600) and PREFIX.pub (verifier key).

    Refuses to overwrite either file (AttestError with ATTEST_EEXIST).
    Returns the verifier key text.
    """
    prefix = os.fsdecode(prefix)
    keypath, pubpath = prefix + ".key", prefix + ".pub"
    if os.path.lexists(pubpath):
        raise AttestError(ATTEST_EEXIST, "%s: already exists; not overwriting" % pubpath)
    signer = ctypes.c_void_p()
    rc = _signer_generate(ctypes.byref(signer), _text(name, "name"))
    if rc:
        raise AttestError(rc, "%r: %s" % (name, strerror(rc)))
    try:
        err = ctypes.create_string_buffer(512)
        rc = _signer_save(signer, _path(keypath), err, len(err))
        if rc:
            raise AttestError(rc, err.value.decode("utf-8", "replace") or
                              "%s: %s" % (keypath, strerror(rc)))
        vkey_p = ctypes.c_void_p()
        rc = _signer_vkey(signer, ctypes.byref(vkey_p))
        if rc:
            raise AttestError(rc)
        vkey = _take_string(vkey_p.value)
    finally:
        _signer_free(signer)
    with open(pubpath, "x") as f:
        f.write(vkey + "\n")
    return vkey


# ---------------------------------------------------------------- safetensors

# Bits of one element of each dtype safetensors knows and this binding writes.
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
              "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64}

_TORCH_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
                 "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
                 "bool": "BOOL"}
_NUMPY_DTYPES = {"f4": "F32", "f2": "F16", "f8": "F64", "i8": "I64", "i4": "I32", "i2": "I16",
                 "i1": "I8", "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL"}


def _tensor_bytes(value, name):
    """(dtype, shape, object holding the little-endian C-order bytes) of a tensor or array."""
    if _torch_tensor(value):
        t = value.detach().cpu().contiguous().resolve_conj().resolve_neg()
        dtype = _TORCH_DTYPES.get(str(t.dtype).replace("torch.", ""))
        if dtype is None:
            raise ValueError("tensor %r: dtype %s has no safetensors mapping here" % (name, t.dtype))
        if sys.byteorder != "little" and t.element_size() > 1:
            raise ValueError("tensor %r: big-endian host; safetensors is little-endian" % name)
        return dtype, tuple(t.shape), t
    if hasattr(value, "__array_interface__") and hasattr(value, "dtype"):
        dt = value.dtype
        key = dt.kind + str(dt.itemsize)
        dtype = _NUMPY_DTYPES.get(key)
        if dtype is None:
            raise ValueError("array %r: dtype %s has no safetensors mapping" % (name, dt))
        if dt.byteorder == ">" or (dt.byteorder == "=" and sys.byteorder != "little"):
            value = value.astype(dt.newbyteorder("<"))
        if not value.flags["C_CONTIGUOUS"]:
            value = value.copy(order="C")
        return dtype, tuple(int(n) for n in value.shape), value
    raise TypeError("tensor %r: expected a torch tensor or a numpy array, not %s"
                    % (name, type(value).__name__))


def save_safetensors(path, tensors, metadata=None):
    """Writes a safetensors file: `tensors` maps names to torch tensors or numpy
    arrays (written in the dict's order), `metadata` is a str->str dict.

    Torch tensors are detached, moved to the CPU and made contiguous first.
    The file appears atomically (written beside, fsync'd, renamed).
    Raises AttestError (ATTEST_EINVAL names the bad tensor, ATTEST_EIO).
    """
    n = len(tensors)
    views = (_TensorView * max(n, 1))()
    keep = []  # everything the views point into, alive until the call returns
    mems = []
    try:
        for i, (name, value) in enumerate(tensors.items()):
            dtype, shape, holder = _tensor_bytes(value, name)
            m = _Memory(holder)
            mems.append(m)
            shp = (ctypes.c_uint64 * max(len(shape), 1))(*shape)
            bname, bdtype = _text(name, "tensor name"), dtype.encode()
            keep += [holder, shp, bname, bdtype]
            views[i] = _TensorView(bname, bdtype, len(shape), shp, m.ptr, m.len)
        meta = None
        if metadata:
            items = []
            for k, v in metadata.items():
                items += [_text(k, "metadata key"), _text(v, "metadata value %r" % k)]
            meta = (ctypes.c_char_p * (len(items) + 1))(*items, None)
            keep.append(items)
        err = ctypes.create_string_buffer(512)
        rc = _st_write(_path(path), views, n, meta, err, len(err))
    finally:
        for m in mems:
            m.__exit__()
    if rc:
        raise AttestError(rc, "%s: %s" % (os.fsdecode(path),
                                          err.value.decode("utf-8", "replace") or strerror(rc)))


# ---------------------------------------------------------------- the recorder

_open_runs = weakref.WeakSet()


@atexit.register
def _close_open_runs():
    for run in list(_open_runs):
        run.close()

LAYOUTS = {"bytes": 0, "tokens-u16le": 1, "tokens-u32le": 2, "jsonl": 3}


def _layout(layout):
    try:
        return LAYOUTS[layout]
    except (KeyError, TypeError):
        raise ValueError("unknown layout %r (one of %s)" % (layout, ", ".join(LAYOUTS))) from None


class Run:
    """A recording session over one log (attest_run_open).

    Run(log, key=None, config=None, ...) creates the log (key needed; config
    dict stored as the claimed configuration) or reopens an existing one to
    go on recording (new=True: refuse an existing log, AttestError EEXIST).
    tpm="swtpm:host=...,port=..." (or $ATTEST_TCTI) anchors every seal in that TPM. Use it as a context manager; leaving the block closes
    the run (flush, final seal) and warns if any fact failed.

    Record methods return at once: hashing and writing happen on the
    library's threads. They raise ValueError/TypeError only for invalid
    arguments; failures found later are counted by status(). They may be
    called from several threads (the log keeps the order of the calls);
    close() once they have stopped. A run left open is closed (and sealed)
    when it is garbage-collected or when the interpreter exits.
    """

    def __init__(self, log, key=None, config=None, seal_every_records=0, seal_every_seconds=0.0,
                 hash_threads=0, memory_bound=0, replay=None, new=False, tpm=None):
        self._h = None
        self._lock = threading.Lock()
        self._local_first = None  # an immediate failure that was not an invalid argument
        self._local_failed = 0
        self._final = None
        replay_json = _json(replay, "replay")
        opts = _RunOptions(_RUN_OPTIONS_VERSION, _uint(seal_every_records, "seal_every_records"),
                           float(seal_every_seconds), int(hash_threads),
                           _uint(memory_bound, "memory_bound"), replay_json,
                           _RUN_NEW if new else 0,
                           tpm.encode() if tpm is not None else None)
        handle, errmsg = ctypes.c_void_p(), ctypes.c_void_p()
        rc = _run_open(ctypes.byref(handle), _path(log), _path(key) if key is not None else None,
                       _json(config, "config"), ctypes.byref(opts), ctypes.byref(errmsg))
        msg = _take_string(errmsg.value)
        if rc:
            raise AttestError(rc, "%s: %s" % (os.fsdecode(log), msg or strerror(rc)))
        self._h = handle
        self.log = os.fsdecode(log)
        _open_runs.add(self)

    # -- plumbing

    def _handle(self):
        h = self._h
        if h is None:
            raise ValueError("the run is closed")
        return h

    def _check(self, rc, what):
        if rc == 0:
            return
        if rc == ATTEST_EINVAL:
            raise ValueError("%s: invalid argument (%s)" % (what, strerror(rc)))
        # Not the caller's fault (out of memory): keep it, do not stop training.
        with self._lock:
            self._local_failed += 1
            if self._local_first is None:
                self._local_first = (rc, "%s: %s" % (what, strerror(rc)))

    # -- facts

    def code(self, repo="."):
        """Records the git repository containing `repo` (commit, dirty state, diff digest)."""
        self._check(_run_code(self._handle(), _path(repo)), "code")

    def init(self, seed, initializer, version=None, data_seed=None, checkpoint=None):
        """Records the initialization: seed, initializer name/version, data-order seed and
        the initial checkpoint file (hashed). Must come before the first step."""
        self._check(_run_init(self._handle(), _uint(seed, "seed"), _text(initializer, "initializer"),
                              _text(version, "version") if version is not None else None,
                              data_seed is not None,
                              _uint(data_seed, "data_seed") if data_seed is not None else 0,
                              _path(checkpoint) if checkpoint is not None else None), "init")

    def shard_file(self, id, path, layout="bytes", name=None):
        """Records a data shard file (hashed as stored; samples counted per layout)."""
        self._check(_run_shard_file(self._handle(), _uint(id, "id"), _path(path),
                                    _text(name, "name") if name is not None else None,
                                    _layout(layout)), "shard %s" % id)

    def shard_bytes(self, id, name, data, layout="bytes"):
        """Records a data shard held in memory (copied by the library, then hashed)."""
        lay = _layout(layout)
        with _Memory(data) as m:
            rc = _run_shard_buffer(self._handle(), _uint(id, "id"), _text(name, "name"), m.ptr,
                                   m.len, lay)
        self._check(rc, "shard %s" % id)

    def step(self, step, refs, batch=None, batch_sha256=None, *, lr, loss, grad_norm=None,
             user=None):
        """Records one optimizer step.

        refs: [(shard id, first sample, count), ...] in the order the model read them.
        batch: the exact batch the model consumed (anything sha256() takes; hashed
        here, in place) or batch_sha256: its 32-byte digest. lr, loss, grad_norm:
        floats, stored with their binary64 bits. user: a dict of extra fields.
        """
        if batch is not None:
            if batch_sha256 is not None:
                raise ValueError("step %s: pass batch or batch_sha256, not both" % step)
            batch_sha256 = sha256(batch)
        if batch_sha256 is None:
            raise ValueError("step %s: batch or batch_sha256 is required" % step)
        digest = bytes(batch_sha256)
        if len(digest) != 32:
            raise ValueError("step %s: batch_sha256 must be 32 bytes, not %d" % (step, len(digest)))
        # One flat u64 array laid out as attest_sample_ref[n]: cheap for long batches.
        flat = []
        for r in refs:
            if len(r) != 3:
                raise ValueError("step %s: a ref is (shard, first, count), not %r" % (step, r))
            flat.extend(operator.index(v) for v in r)
        if flat and (min(flat) < 0 or max(flat) > 2**63 - 1):
            raise ValueError("step %s: ref values must be between 0 and 2^63-1" % step)
        arr = (ctypes.c_uint64 * max(len(flat), 3))(*flat)
        d = (ctypes.c_uint8 * 32).from_buffer_copy(digest)
        s = _Step(_STEP_VERSION, _uint(step, "step"), ctypes.cast(arr, ctypes.POINTER(_SampleRef)),
                  len(flat) // 3, None, 0,
                  ctypes.cast(d, _u8p), float(lr), float(loss), grad_norm is not None,
                  float(grad_norm) if grad_norm is not None else 0.0, _json(user, "user"))
        self._check(_run_step(self._handle(), ctypes.byref(s)), "step %s" % step)

    def checkpoint(self, step, path, raw=False):
        """Records a checkpoint file written after `step` (0: the initial weights): its
        SHA-256 and, unless raw, each safetensors tensor's. The file must not change
        until the record is written (flush())."""
        self._check(_run_checkpoint(self._handle(), _uint(step, "step"), _path(path),
                                    _CHECKPOINT_RAW if raw else 0), "checkpoint %s" % step)

    def note(self, text):
        """Records free text for the log."""
        self._check(_run_note(self._handle(), _text(text, "text")), "note")

    def seal(self):
        """Signs every record reported so far (needs the key)."""
        self._check(_run_seal(self._handle()), "seal")

    def end(self, reason=None):
        """Records the end of the run; only seals may follow."""
        self._check(_run_end(self._handle(), _text(reason, "reason") if reason is not None
                             else None), "end")

    # -- state

    def flush(self):
        """Waits until every fact reported so far is written or failed; returns status()."""
        _run_flush(self._handle())
        return self.status()

    def _merge(self, code, msg, failed):
        with self._lock:
            if code == 0 and self._local_first is not None:
                code, msg = self._local_first
            return code, msg, failed + self._local_failed

    def status(self):
        """(code, message, failed count): the first failure so far (0, "" when none)."""
        if self._h is None:
            return self._final if self._final is not None else (0, "", 0)
        msg = ctypes.create_string_buffer(1024)
        failed = ctypes.c_uint64()
        code = _run_status(self._h, msg, len(msg), ctypes.byref(failed))
        text = msg.value.decode("utf-8", "replace") if code else ""
        return self._merge(code, text, failed.value)

    def records(self):
        """Records written to the log so far (flushes first)."""
        return _run_records(self._handle())

    def close(self):
        """Flushes, seals what is unsealed, stops the threads. Returns status().
        Closing twice is harmless."""
        with self._lock:
            h, self._h = self._h, None
        if h is None:
            return self.status()
        msg = ctypes.create_string_buffer(1024)
        failed = ctypes.c_uint64()
        code = _run_close(h, msg, len(msg), ctypes.byref(failed))
        text = msg.value.decode("utf-8", "replace") or (strerror(code) if code else "")
        self._final = self._merge(code, text, failed.value)
        return self._final

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code, msg, failed = self.close()
        if code:
            warnings.warn("attest: %d fact(s) of %s were not recorded; first: %s"
                          % (failed, self.log, msg), RuntimeWarning, stacklevel=2)
        return False

    def __del__(self):
        try:
            if self._h is not None:
                self.close()
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass
