#!/usr/bin/python3
"""train.py - a real PyTorch training run on the CPU, recorded with attest.

A byte-level transformer (2 layers, 4 heads, d_model 64, context 64) learns
the text of the licenses Debian ships in /usr/share/common-licenses. Every
fact that decides the result goes into a signed log, DIR/run.log: the code
(git), the configuration and determinism settings, the data shards, the
seeds and initial weights, every step (its samples, the digest of the exact
batch bytes, lr, loss, gradient norm) and the checkpoints.

  /usr/bin/python3 examples/pytorch/train.py --out DIR [--steps N] ...
  attest verify DIR/run.log --pub DIR/run.pub

--corpus DIR trains on another directory's regular files; --lr and --lr-min
set the peak and the final learning rate (a rate that still moves the
weights at the end keeps the signal of the run-to-model test, attest verify
--model: verify/SOUNDNESS.md section 4).

--batch-ramp N grows the batch linearly from 1 row at step 1 to --batch at
step N (a batch-size warmup): the steps' batches then differ in size, and
replay.py and the run-to-model test follow the ramp the config records.

--no-attest runs the same training (same data, checkpoint files) without
recording anything: the baseline of bench/pytorch-overhead.sh.

The run record names replay.py as the replay recipe (verify/REPLAY.md,
"External replay protocol"): `attest verify --replay N --external-replay`
re-runs segments with it. replay.py and tests/python/forge_torch.py import
this file's model, data and step code, so all three train alike.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS_DIR = "/usr/share/common-licenses"
KEY_NAME = "example.com/pytorch-demo"


# ---------------------------------------------------------------- the model

class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a 4x MLP."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)

    def forward(self, x, mask):
        B, T, C = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, h, C // h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // h)
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class ByteGPT(nn.Module):
    def __init__(self, ctx, d_model, n_layers, n_heads):
        super().__init__()
        self.tok = nn.Embedding(256, d_model)
        self.pos = nn.Embedding(ctx, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 256, bias=False)
        # True above the diagonal: positions a token may not attend to. Not state.
        mask = torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(T))
        for b in self.blocks:
            x = b(x, self.mask)
        return self.head(self.ln_f(x))


# ---------------------------------------------------------------- data

def corpus_files(corpus_dir):
    """Regular files of the corpus directory (no symlinks), by sorted name."""
    names = sorted(os.listdir(corpus_dir))
    return [os.path.join(corpus_dir, n) for n in names
            if not os.path.islink(os.path.join(corpus_dir, n))
            and os.path.isfile(os.path.join(corpus_dir, n))]


def write_shards(corpus_dir, data_dir, n_shards):
    """Splits the concatenated corpus into n_shards files of (nearly) equal size."""
    corpus = b"".join(open(p, "rb").read() for p in corpus_files(corpus_dir))
    os.makedirs(data_dir, exist_ok=True)
    paths, cut = [], [len(corpus) * i // n_shards for i in range(n_shards + 1)]
    for i in range(n_shards):
        path = os.path.join(data_dir, "shard-%03d.bin" % i)
        with open(path, "wb") as f:
            f.write(corpus[cut[i]:cut[i + 1]])
        paths.append(path)
    return paths


def next_batch(g, shards, batch, length):
    """B random windows of `length` bytes: (uint8 tensor (B, length), refs)."""
    rows, refs = [], []
    for _ in range(batch):
        s = int(torch.randint(len(shards), (1,), generator=g))
        first = int(torch.randint(len(shards[s]) - length + 1, (1,), generator=g))
        rows.append(shards[s][first:first + length])
        refs.append((s, first, length))
    return torch.stack(rows), refs


def batch_at(step, batch, ramp):
    """Rows of step `step`: --batch, after a linear ramp from 1 row over `ramp` steps."""
    if ramp <= 0 or step >= ramp:
        return batch
    return max(1, -(-batch * step // ramp))


def lr_at(step, steps, peak, warmup, end):
    """Linear warmup, then cosine decay from peak to end."""
    if step <= warmup:
        return peak * step / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * p))


def batch_from_bytes(data, ctx):
    """The batch tensor (rows, ctx + 1) of uint8 whose bytes, row after row, are
    `data`: what next_batch stacks, rebuilt from the bytes its refs name."""
    if len(data) == 0 or len(data) % (ctx + 1):
        raise ValueError("%d bytes is not a whole number of rows of %d" % (len(data), ctx + 1))
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(-1, ctx + 1)


# ---------------------------------------------------------------- one step

def configure_torch(threads):
    """The determinism settings every process of this example runs under."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def new_model(hp, opt_hp, seed):
    """(model, optimizer) initialized from `seed`: the initial weights of a run."""
    torch.manual_seed(seed)
    model = ByteGPT(**hp)
    opt = torch.optim.AdamW(model.parameters(), lr=opt_hp["peak_lr"], betas=opt_hp["betas"],
                            eps=opt_hp["eps"], weight_decay=opt_hp["weight_decay"])
    return model, opt


def train_step(model, opt, batch, lr, clip):
    """One update on a (rows, ctx + 1) uint8 batch at learning rate lr:
    (loss tensor, gradient norm before clipping)."""
    x, y = batch[:, :-1].long(), batch[:, 1:].long()
    for group in opt.param_groups:
        group["lr"] = lr
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss, grad_norm


def settings(config):
    """(hp, opt_hp) as main() builds them, from the configuration it logs."""
    hp = {k: config["model"][k] for k in ("ctx", "d_model", "n_layers", "n_heads")}
    o = config["optimizer"]
    opt_hp = {k: o[k] for k in ("peak_lr", "warmup", "weight_decay", "eps", "clip")}
    opt_hp["betas"] = tuple(o["betas"])
    return hp, opt_hp


class Hooks:
    """What main() lets a caller change in its loop; these defaults change nothing.
    tests/python/forge_torch.py overrides them to make dishonest runs."""

    def begin(self, args, hp, opt_hp, shards):
        """Called once before the first step: the options, settings and shard tensors."""

    def before_step(self, step, model, opt):
        """Called before step `step` trains."""

    def train_batch(self, step, batch):
        """The batch step `step` trains on, given the one it logs."""
        return batch

    def logged_loss(self, step, loss):
        """The loss step `step` logs, given the one it computed."""
        return loss


# ---------------------------------------------------------------- the run

# The replay recipe (verify/REPLAY.md). Replayed with the logged thread count,
# on this machine, segments of 300 steps came out bit for bit (error 0); with
# 2 threads instead of 1 every tensor stayed within 4e-6 except the qkv biases
# (1e-3 to 1e-2: the key bias has no gradient, Adam amplifies rounding noise).
# The smallest relative update of a model tensor over a segment was 5e-3
# (default options) and 5e-4 (12 steps, checkpoints every 4).
REPLAY = {"command": ["/usr/bin/python3", "{code}/examples/pytorch/replay.py", "{request}"],
          "tolerance": 1e-4}


def main(argv=None, hooks=None):
    """Trains and records a run: argv as on the command line (None: sys.argv[1:]),
    hooks a Hooks (None: the honest run)."""
    hooks = hooks or Hooks()
    # Imported here, so that a checker can import the model and data code of
    # this file without the binding (tests/python/check_run.py replays the run).
    sys.path.insert(0, os.path.join(REPO, "python"))
    import attest
    import attest.torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--ckpt-every", type=int, default=300)
    ap.add_argument("--seal-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--data-seed", type=int, default=5678)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batch-ramp", type=int, default=0, metavar="N",
                    help="grow the batch from 1 row to --batch over the first N steps")
    ap.add_argument("--corpus", default=CORPUS_DIR,
                    help="directory whose regular files are the training text (default %(default)s)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--lr-min", type=float, default=None,
                    help="learning rate at the last step (default: a tenth of --lr)")
    # One intra-op thread: on a 2-core machine, 2 threads made this small model's
    # steps 2-3x slower (thread handoff dominates), and the recorder gets a core.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-attest", action="store_true", help="train without recording")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.ckpt_every < 1 or args.seal_every < 1 or args.batch < 1:
        ap.error("--steps, --ckpt-every, --seal-every and --batch must be positive")
    if args.batch_ramp < 0:
        ap.error("--batch-ramp must be 0 (no ramp) or positive")
    lr_min = args.lr / 10 if args.lr_min is None else args.lr_min
    if not (0 < args.lr < 1 and 0 <= lr_min <= args.lr):
        ap.error("--lr must be in (0, 1) and --lr-min in [0, --lr]")
    if not os.path.isdir(args.corpus) or not corpus_files(args.corpus):
        ap.error("--corpus %s: not a directory with regular files" % args.corpus)

    hp = dict(ctx=64, d_model=64, n_layers=2, n_heads=4)
    opt_hp = dict(peak_lr=args.lr, warmup=max(1, min(50, args.steps // 10)), betas=(0.9, 0.95),
                  weight_decay=0.1, eps=1e-8, clip=1.0)
    # Seeded here so that the determinism facts record the seeded RNG state;
    # new_model seeds again, to the same state: nothing draws in between.
    torch.manual_seed(args.seed)
    configure_torch(args.threads)

    out = args.out
    log_path = os.path.join(out, "run.log")
    ckpt_dir = os.path.join(out, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    run = None
    if not args.no_attest:
        if os.path.exists(log_path):
            sys.exit("train.py: %s exists: this example starts a new run in an empty directory"
                     % log_path)
        attest.keygen(KEY_NAME, os.path.join(out, "run"))
        config = {
            "model": dict(hp, name="ByteGPT", vocab=256),
            "optimizer": dict(opt_hp, name="AdamW", min_lr=lr_min,
                              schedule="linear warmup, cosine to min_lr"),
            "training": dict(steps=args.steps, batch=args.batch, batch_ramp=args.batch_ramp,
                             ckpt_every=args.ckpt_every,
                             seal_every=args.seal_every, seed=args.seed,
                             data_seed=args.data_seed, loss="cross_entropy, next byte"),
            "data": {"corpus": os.path.abspath(args.corpus), "shards": 4, "layout": "bytes",
                     "sampling": "per row: shard = randint(n_shards), first = "
                                 "randint(size - ctx), torch.Generator seeded data_seed"},
            "determinism": attest.torch.capture_determinism(),
        }
        run = attest.Run(log_path, key=os.path.join(out, "run.key"), config=config,
                         replay=REPLAY, new=True)
        run.code(os.path.dirname(os.path.abspath(__file__)))

    shard_paths = write_shards(args.corpus, os.path.join(out, "data"), 4)
    shards = [torch.frombuffer(bytearray(open(p, "rb").read()), dtype=torch.uint8)
              for p in shard_paths]
    if run:
        for i, p in enumerate(shard_paths):
            run.shard_file(i, p, "bytes")

    model, opt = new_model(hp, opt_hp, args.seed)
    init_path = os.path.join(ckpt_dir, "step-000000.safetensors")
    attest.torch.save_checkpoint(None, init_path, 0, model, opt)
    if run:
        run.init(args.seed, "torch-default/" + torch.__version__, data_seed=args.data_seed,
                 checkpoint=init_path)
        run.checkpoint(0, init_path)

    hooks.begin(args, hp, opt_hp, shards)
    g = torch.Generator().manual_seed(args.data_seed)
    length = hp["ctx"] + 1
    loss_v = float("nan")
    record_s = 0.0  # time the training thread spends in the recorder's step/seal calls
    step_s = []
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        ts = time.perf_counter()
        batch, refs = next_batch(g, shards, batch_at(step, args.batch, args.batch_ramp), length)
        lr = lr_at(step, args.steps, opt_hp["peak_lr"], opt_hp["warmup"], lr_min)
        hooks.before_step(step, model, opt)
        loss, grad_norm = train_step(model, opt, hooks.train_batch(step, batch), lr,
                                     opt_hp["clip"])
        loss_v = float(loss)
        if run:
            t = time.perf_counter()
            run.step(step, refs, batch=batch, lr=lr, loss=hooks.logged_loss(step, loss_v),
                     grad_norm=float(grad_norm))
            record_s += time.perf_counter() - t
        if step % args.ckpt_every == 0 or step == args.steps:
            path = os.path.join(ckpt_dir, "step-%06d.safetensors" % step)
            attest.torch.save_checkpoint(run, path, step, model, opt)
        if run and step % args.seal_every == 0:
            t = time.perf_counter()
            run.seal()
            record_s += time.perf_counter() - t
        step_s.append(time.perf_counter() - ts)
        if step % 100 == 0:
            print("step %5d  loss %.4f  lr %.2e" % (step, loss_v, lr), flush=True)
    loop_s = time.perf_counter() - t0

    status = (0, "", 0)
    if run:
        run.end("finished")
        status = run.close()  # waits for the last digests, seals
    total_s = time.perf_counter() - t0
    print("steps %d  final loss %.4f  mean step %.2f ms  loop %.2f s  with close %.2f s"
          % (args.steps, loss_v, 1000 * loop_s / args.steps, loop_s, total_s))
    print("mean_step_ms %.4f" % (1000 * loop_s / args.steps))
    print("median_step_ms %.4f" % (1000 * sorted(step_s)[len(step_s) // 2]))
    if run:
        print("recorder calls on the training thread: %.3f ms a step"
              % (1000 * record_s / args.steps))
        print("log %s  (check: attest verify %s --pub %s)"
              % (log_path, log_path, os.path.join(out, "run.pub")))
        code, msg, failed = status
        if code:
            print("train.py: the recorder failed on %d fact(s); first: %s" % (failed, msg),
                  file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
