"""tests/python/engine_torch.py - checks one step of attest-gpt/1 against PyTorch.

Reads the safetensors file of tests/tools/gpt_dump (its own small parser, no
safetensors package), builds the model of engine/ENGINE.md in PyTorch from
the dumped parameters (linear weights are stored [in, out]), and compares:
the loss and every gradient (autograd, float64 and float32), the global
gradient norm, and one clip_grad_norm_ + torch.optim.AdamW step applied to
the engine's own gradients with the engine's moments (float64 and float32).
Prints TAP lines "ok - ..." / "not ok - ..."; exits 1 on a failure.

usage: /usr/bin/python3 engine_torch.py DUMP.safetensors [--tol 1e-5]
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": (torch.float32, 4), "U8": (torch.uint8, 1), "U64": (None, 8)}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt, _ = DTYPES[info["dtype"]]
        if dt is None:  # U64: torch has no uint64; these are small numbers
            vals = struct.unpack("<%dQ" % (len(raw) // 8), raw)
            out[name] = torch.tensor(vals, dtype=torch.int64)
        else:
            out[name] = torch.frombuffer(bytearray(raw), dtype=dt).reshape(info["shape"]).clone()
    return out, meta


def rel(a, b):
    a = a.double()
    b = b.double()
    nb = b.norm().item()
    d = (a - b).norm().item()
    return d / nb if nb > 0 else d


def param_names(L):
    names = ["wte", "wpe"]
    for l in range(L):
        for k in ("ln1.w", "ln1.b", "attn.qkv.w", "attn.qkv.b", "attn.proj.w", "attn.proj.b",
                  "ln2.w", "ln2.b", "mlp.fc.w", "mlp.fc.b", "mlp.proj.w", "mlp.proj.b"):
            names.append("h.%d.%s" % (l, k))
    return names + ["lnf.w", "lnf.b"]


def forward(p, tokens, L, H):
    """Mean cross-entropy of the model of ENGINE.md section 6."""
    idx = tokens[:, :-1].long()
    tgt = tokens[:, 1:].long()
    B, T = idx.shape
    C = p["wte"].shape[1]
    hd = C // H
    x = p["wte"][idx] + p["wpe"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        q = lambda k: p["h.%d.%s" % (l, k)]
        h = F.layer_norm(x, (C,), q("ln1.w"), q("ln1.b"), eps=1e-5)
        qkv = h @ q("attn.qkv.w") + q("attn.qkv.b")
        qq, kk, vv = qkv.split(C, dim=2)
        qq = qq.view(B, T, H, hd).transpose(1, 2)
        kk = kk.view(B, T, H, hd).transpose(1, 2)
        vv = vv.view(B, T, H, hd).transpose(1, 2)
        att = (qq @ kk.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ vv).transpose(1, 2).reshape(B, T, C)
        x = x + (y @ q("attn.proj.w") + q("attn.proj.b"))
        h = F.layer_norm(x, (C,), q("ln2.w"), q("ln2.b"), eps=1e-5)
        h = F.gelu(h @ q("mlp.fc.w") + q("mlp.fc.b"), approximate="tanh")
        x = x + (h @ q("mlp.proj.w") + q("mlp.proj.b"))
    x = F.layer_norm(x, (C,), p["lnf.w"], p["lnf.b"], eps=1e-5)
    logits = x @ p["wte"].t()
    return F.cross_entropy(logits.reshape(-1, 256), tgt.reshape(-1))


class Tap:
    def __init__(self):
        self.failed = 0

    def check(self, cond, what):
        print("%s - %s" % ("ok" if cond else "not ok", what))
        if not cond:
            self.failed += 1


def main():
    path = sys.argv[1]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-5
    t, meta = read_safetensors(path)
    L, H = int(meta["layers"]), int(meta["heads"])
    step = int(meta["step"])
    b1, b2 = float.fromhex(meta["beta1"]), float.fromhex(meta["beta2"])
    eps, wd = float.fromhex(meta["eps"]), float.fromhex(meta["weight_decay"])
    clip = float.fromhex(meta["clip"])
    names = param_names(L)
    tokens = t["tokens"]
    loss_e, norm_e, lr = t["loss"].item(), t["grad_norm"].item(), t["lr"].item()
    tap = Tap()

    tap.check(t["before.state"].tolist()[0] == step - 1 and t["after.state"].tolist()[0] == step,
              "state counts the step (%d -> %d)" % (step - 1, step))

    # loss and gradients, autograd in float64 (the reference) and float32
    worst = {}
    for dt, tl in ((torch.float64, tol), (torch.float32, 20 * tol)):
        p = {n: t["before." + n].to(dt).detach().clone().requires_grad_(True) for n in names}
        loss = forward(p, tokens, L, H)
        loss.backward()
        e = abs(loss.item() - loss_e) / abs(loss.item())
        tap.check(e < tl, "loss %.7f vs torch %s %.7f: relative error %.2e"
                  % (loss_e, str(dt)[6:], loss.item(), e))
        errs = [(rel(t["grad." + n], p[n].grad), n) for n in names]
        worst[dt] = max(errs)
        bad = [(e, n) for e, n in errs if not e < tl]
        for e, n in bad:
            print("#   grad.%s: relative L2 error %.2e" % (n, e))
        tap.check(not bad, "%d gradients vs torch %s: worst relative L2 error %.2e (%s)"
                  % (len(names), str(dt)[6:], worst[dt][0], worst[dt][1]))
        if dt == torch.float64:
            norm_t = torch.cat([p[n].grad.reshape(-1) for n in names]).norm().item()
            e = abs(norm_e - norm_t) / norm_t
            tap.check(e < tol, "grad norm %.7f vs torch %.7f: relative error %.2e"
                      % (norm_e, norm_t, e))

    # clipping + AdamW on the engine's gradients, from the engine's moments
    for dt, tl in ((torch.float64, tol), (torch.float32, tol)):
        ps = {n: t["before." + n].to(dt).detach().clone().requires_grad_(True) for n in names}
        decay = [ps[n] for n in names if ps[n].dim() == 2]
        no_decay = [ps[n] for n in names if ps[n].dim() != 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, betas=(b1, b2), eps=eps, foreach=False)
        for n in names:
            ps[n].grad = t["grad." + n].to(dt).clone()
            opt.state[ps[n]] = {"step": torch.tensor(float(step - 1)),
                                "exp_avg": t["before.adam.m." + n].to(dt).clone(),
                                "exp_avg_sq": t["before.adam.v." + n].to(dt).clone()}
        if clip > 0:
            torch.nn.utils.clip_grad_norm_([ps[n] for n in names], clip)
        opt.step()
        bad, wmax, wupd = [], (0.0, ""), (0.0, "")
        for n in names:
            st = opt.state[ps[n]]
            for what, mine, theirs in (
                    ("", t["after." + n], ps[n].detach()),
                    ("adam.m.", t["after.adam.m." + n], st["exp_avg"]),
                    ("adam.v.", t["after.adam.v." + n], st["exp_avg_sq"]),
                    ("update of ", t["after." + n].double() - t["before." + n].double(),
                     ps[n].detach().double() - t["before." + n].double())):
                e = rel(mine, theirs)
                # the update is a difference of nearby binary32 values: 100 x looser
                if what == "update of ":
                    wupd = max(wupd, (e, what + n))
                else:
                    wmax = max(wmax, (e, what + n))
                if not e < (100 * tl if what == "update of " else tl):
                    bad.append((e, what + n))
        for e, n in bad:
            print("#   %s: relative L2 error %.2e" % (n, e))
        tap.check(not bad, "AdamW step (lr %.6g, clip %g, norm %.4g) vs torch %s: params and "
                  "moments worst relative L2 error %.2e (%s), updates %.2e (%s)"
                  % (lr, clip, norm_e, str(dt)[6:], wmax[0], wmax[1], wupd[0], wupd[1]))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
