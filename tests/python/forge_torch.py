#!/usr/bin/python3
"""forge_torch.py - dishonest runs of examples/pytorch/train.py, for the verifier's tests.

  forge_torch.py --kind KIND --out DIR [--at STEP] [train.py's options]

Each is a complete signed run directory as train.py writes it (train.py's own
code, through its Hooks), with one lie at step AT (default: the middle step,
steps // 2 + 1); everything else is trained and logged honestly:

  swap-weights  before step AT trains, the model's weights become another
                run's: a model initialized from seed + 1 and trained 3 steps
                on windows of a generator seeded data_seed + 1. The optimizer
                state stays; training goes on and is logged normally.
  other-data    step AT trains on other bytes (a batch of the same shape drawn
                by a generator seeded data_seed + 1) and logs the refs and
                batch digest of the batch the data order picked.
  edit-loss     step AT logs its loss times 1.01.

Prints "forged KIND at step AT" on success; train.py's output follows.
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "pytorch"))
import train  # noqa: E402

KINDS = ("swap-weights", "other-data", "edit-loss")


class Forge(train.Hooks):
    def __init__(self, kind, at):
        self.kind, self.at = kind, at

    def begin(self, args, hp, opt_hp, shards):
        self.args, self.hp, self.opt_hp, self.shards = args, hp, opt_hp, shards
        if self.at is None:
            self.at = args.steps // 2 + 1
        if not 1 <= self.at <= args.steps:
            sys.exit("forge_torch.py: --at %d is not a step of this run (1..%d)"
                     % (self.at, args.steps))
        self.hit = False

    def other_batch(self, rows):
        g = torch.Generator().manual_seed(self.args.data_seed + 1)
        return train.next_batch(g, self.shards, rows, self.hp["ctx"] + 1)[0]

    def before_step(self, step, model, opt):
        if self.kind != "swap-weights" or step != self.at:
            return
        other, other_opt = train.new_model(self.hp, self.opt_hp, self.args.seed + 1)
        g = torch.Generator().manual_seed(self.args.data_seed + 1)
        for _ in range(3):
            batch = train.next_batch(g, self.shards, self.args.batch, self.hp["ctx"] + 1)[0]
            train.train_step(other, other_opt, batch, self.opt_hp["peak_lr"], self.opt_hp["clip"])
        with torch.no_grad():
            for p, q in zip(model.parameters(), other.parameters()):
                p.copy_(q)
        self.hit = True

    def train_batch(self, step, batch):
        if self.kind != "other-data" or step != self.at:
            return batch
        self.hit = True
        other = self.other_batch(len(batch))
        assert other.shape == batch.shape and not torch.equal(other, batch)
        return other

    def logged_loss(self, step, loss):
        if self.kind != "edit-loss" or step != self.at:
            return loss
        self.hit = True
        return loss * 1.01


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=False)
    ap.add_argument("--kind", required=True, choices=KINDS)
    ap.add_argument("--at", type=int, help="the forged step (default: steps // 2 + 1)")
    ap.add_argument("-h", "--help", action="help")
    args, rest = ap.parse_known_args()
    if "--no-attest" in rest:
        ap.error("a forged run is recorded: --no-attest makes no sense here")
    forge = Forge(args.kind, args.at)
    train.main(rest, forge)
    if not forge.hit:
        sys.exit("forge_torch.py: the %s hook never ran" % args.kind)
    print("forged %s at step %d" % (args.kind, forge.at))


if __name__ == "__main__":
    main()
