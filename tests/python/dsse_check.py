#!/usr/bin/python3
"""dsse_check.py - checks an envelope of `attest export --format in-toto`
with an implementation we did not write: Python's standard library and
Debian's python3-cryptography (Ed25519), over a DSSE PAE computed here.
Prints "ok - NAME" / "not ok - NAME" and exits 1 when one fails.

  dsse_check.py ENVELOPE RUN.pub [--subjects SUMS] [--data-sums SUMS]

SUMS are `sha256sum` outputs: --subjects of the final checkpoint file(s),
which must be exactly the statement's subjects (by file name); --data-sums
of the data shard files, each of which the predicate must list with that
digest. Nothing of attest is imported: keys, PAE and notes are decoded here
from format/LOG.md and the DSSE specification (protocol.md).
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://attest.dev/training-run/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"

from tap import failures, ok  # noqa: E402  (tests/python is the script's directory)


def pae(payload_type, body):
    """DSSE v1 pre-authentication encoding (protocol.md)."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def b64decode_any(s):
    """Standard or URL-safe base64, padded or not (DSSE envelope.md)."""
    s = s + "=" * (-len(s) % 4)
    alt = b"-_" if ("-" in s or "_" in s) else None
    return base64.b64decode(s, altchars=alt, validate=True)


def read_vkey(path):
    """<name>+<hash8>+<base64(0x01 || 32-byte key)> (format/LOG.md 8.1)."""
    text = open(path, encoding="ascii").read().strip()
    name, hash8, b64 = text.split("+", 2)  # base64 may hold '+', names and hashes do not
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError("not an Ed25519 verifier key")
    want = hashlib.sha256(name.encode() + b"\n" + raw).hexdigest()[:8]
    if want != hash8:
        raise ValueError("key hash %s does not match %s" % (hash8, want))
    return text, name, raw[1:], bytes.fromhex(hash8)


def read_sums(path):
    """sha256sum output -> {file name: digest}."""
    sums = {}
    for line in open(path, encoding="utf-8"):
        digest, fname = line.rstrip("\n").split(None, 1)
        sums[os.path.basename(fname.lstrip("*"))] = digest
    return sums


def check_note(note, name, pk, key_id):
    """A C2SP signed note: Ed25519 over the text by the run key; returns the text."""
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    for line in sigs.splitlines():
        prefix = "\u2014 " + name + " "
        if not line.startswith(prefix):
            continue
        raw = base64.b64decode(line[len(prefix):], validate=True)
        if raw[:4] != key_id:
            continue
        Ed25519PublicKey.from_public_bytes(pk).verify(raw[4:], text.encode("utf-8"))
        return text
    raise ValueError("no signature by " + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("envelope")
    ap.add_argument("pub")
    ap.add_argument("--subjects")
    ap.add_argument("--data-sums")
    a = ap.parse_args()

    vkey, name, pk, key_id = read_vkey(a.pub)
    env = json.load(open(a.envelope, encoding="utf-8"))
    ok("the envelope has payloadType " + PAYLOAD_TYPE, env.get("payloadType") == PAYLOAD_TYPE,
       env.get("payloadType"))
    body = b64decode_any(env["payload"])
    msg = pae(env["payloadType"], body)
    verified = False
    for sig in env.get("signatures", []):
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(b64decode_any(sig["sig"]), msg)
            verified = True
            keyid = sig.get("keyid")
        except (InvalidSignature, ValueError, binascii.Error):
            pass
    if not ok("an Ed25519 signature by the run key verifies over the PAE", verified):
        return 1
    ok("the keyid is SHA-256 of the raw public key", keyid == hashlib.sha256(pk).hexdigest(),
       keyid)

    st = json.loads(body)
    pred = st.get("predicate", {})
    ok("_type is " + STATEMENT_TYPE, st.get("_type") == STATEMENT_TYPE, st.get("_type"))
    ok("predicateType is " + PREDICATE_TYPE, st.get("predicateType") == PREDICATE_TYPE)
    ok("the predicate names the run key", pred.get("run", {}).get("public_key") == vkey)
    ok("every subject has a sha256 digest",
       st.get("subject") and all(len(s["digest"]["sha256"]) == 64 for s in st["subject"]))

    # The seal: a note signed by the run key whose root is the predicate's log root.
    try:
        text = check_note(pred["seals"]["checkpoint"], name, pk, key_id)
        origin, size, root = text.splitlines()[:3]
        good = (origin == name and int(size) == pred["log"]["tree_size"] and
                base64.b64decode(root).hex() == pred["log"]["root"]["sha256"])
        ok("the last seal's note verifies and signs the predicate's tree root", good, text)
    except (ValueError, KeyError, InvalidSignature) as e:
        ok("the last seal's note verifies and signs the predicate's tree root", False, repr(e))

    if a.subjects:
        want = read_sums(a.subjects)
        got = {s.get("name"): s["digest"]["sha256"] for s in st["subject"]}
        ok("the subjects are the final checkpoint file(s), digests as sha256sum prints",
           got == want, "statement %s\nsha256sum %s" % (got, want))
        last = max(c["step"] for c in pred["checkpoints"])
        finals = {c["name"]: c["sha256"] for c in pred["checkpoints"] if c["step"] == last}
        ok("the subjects are the checkpoints of the last checkpoint step", finals == got)
    if a.data_sums:
        want = read_sums(a.data_sums)
        got = {d["name"]: d["sha256"] for d in pred.get("data", [])}
        ok("the predicate's shard digests are what sha256sum prints for the data files",
           got == want and len(want) > 0, "predicate %s\nsha256sum %s" % (got, want))
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
