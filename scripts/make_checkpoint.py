"""Write a synthetic transformer-shaped checkpoint, sharded safetensors, one layer in memory at a time.

For measuring ``lowrank-bench model`` at scale (time and peak memory) without
downloading anything: each block holds the attention projections (D×D) and the MLP
(F×D up, D×F down) of a LLaMA-style layer, with power-law spectra σ_i = i^(−decay)
of different decays, in float32. The default (2 blocks at D = 4096, F = 11008) is
about 1.6 GB; ``--blocks`` scales it. Writes ``model-0000i-of-0000n.safetensors`` (one
per tensor) and ``model.safetensors.index.json`` into OUT, which must not exist yet.

    python scripts/make_checkpoint.py /tmp/big --blocks 2
    /usr/bin/time -v lowrank-bench model /tmp/big --max-rank 512 --no-timing
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from lowrank.generators import SyntheticMatrix


def layer_shapes(blocks: int, hidden: int, ffn: int) -> list[tuple[str, tuple[int, int], float]]:
    """(tensor name, shape, spectrum decay) of every weight, in file order."""
    out = []
    for b in range(blocks):
        for name, decay in (("q_proj", 0.6), ("k_proj", 0.7), ("v_proj", 0.4), ("o_proj", 0.4)):
            out.append((f"model.layers.{b}.self_attn.{name}.weight", (hidden, hidden), decay))
        out.append((f"model.layers.{b}.mlp.up_proj.weight", (ffn, hidden), 0.3))
        out.append((f"model.layers.{b}.mlp.down_proj.weight", (hidden, ffn), 0.3))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a new folder")
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--ffn", type=int, default=11008)
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"make_checkpoint: {args.out} exists; choose a new folder", file=sys.stderr)
        return 2
    if min(args.blocks, args.hidden, args.ffn) < 1:
        print("make_checkpoint: --blocks, --hidden and --ffn must be >= 1", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True)
    layers = layer_shapes(args.blocks, args.hidden, args.ffn)
    weight_map, total = {}, 0
    for i, (name, (d, k), decay) in enumerate(layers, 1):
        spectrum = np.arange(1, min(d, k) + 1, dtype=np.float64) ** -decay
        W = SyntheticMatrix.build(d, k, spectrum, seed=i, mixing="householder").W.astype(np.float32)
        shard = f"model-{i:05d}-of-{len(layers):05d}.safetensors"
        save_file({name: W}, str(args.out / shard))
        weight_map[name] = shard
        total += W.nbytes
        print(f"[{i}/{len(layers)}] {name} {d}x{k}", file=sys.stderr)
        del W
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (args.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    print(f"wrote {len(layers)} tensors, {total / 2**30:.2f} GiB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
