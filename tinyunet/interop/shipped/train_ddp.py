"""Continue a tinyunet training run on PyTorch's engine, on as many processes as you have.

``tinyunet export --torch`` wrote this script beside ``model.py`` (the network in plain
PyTorch), ``model.safetensors`` and ``optimizer.safetensors`` (the run's weights and optimizer
state), ``arch.json`` (the architecture and the run's settings) and ``data/`` (the run's
images, scaled as the run scaled them, its targets: classes, or the three classes of
``target="three_class"``, and, for the weighted losses, each image's U-Net weight map). It
trains with the run's loss (soft Dice + cross-entropy by default; the weighted losses weigh
each pixel by its map), optimizer and learning-rate schedule under DistributedDataParallel:
each process takes its share of every epoch (DistributedSampler), DDP averages the gradients,
so every process holds the same weights after every step. gloo on CPUs, nccl on GPUs (one
process per GPU)::

    torchrun --standalone --nproc-per-node=2 train_ddp.py --steps 100        # one machine
    torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d \\
             --rdzv-endpoint=HOST:29500 train_ddp.py                         # two machines

A process takes ``batch_size`` images per step, so one step sees batch_size x processes.
At the end rank 0 writes ``--out`` (default ``ddp/``): model.safetensors,
optimizer.safetensors and arch.json (resume from there with ``--resume ddp``) and
metrics.json. Back in tinyunet::

    tinyunet import --torch ddp/model.safetensors --arch ddp/arch.json back.safetensors

Needs torch, numpy and safetensors; nothing from tinyunet.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as TF
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

# isort: split
import model as exported  # the generated model.py, beside this script

HERE = Path(__file__).resolve().parent


# ----- data: the run's images, with its augmentation ------------------------------------------
class Segmentation(Dataset):
    """Images (C, H, W), masks (H, W) and, with ``weighted``, the weight maps (H, W) from an
    ``.npz`` of ``image_00000``, ``mask_00000``, ``weight_00000``, ...; each image served
    ``repeats`` times an epoch (as the run served a small set), with a random ``crop`` and
    random flips and quarter turns that move the mask and the weight map with the image, drawn
    from (seed, epoch, index), so a run repeats whatever the number of processes."""

    def __init__(self, path, crop=None, augment=False, seed=0, weighted=False):
        with np.load(path) as f:
            n = sum(name.startswith("image_") for name in f.files)
            if weighted and n and "weight_00000" not in f.files:
                raise SystemExit(f"{path} has no weight maps (weight_00000, ...), which the "
                                 f"run's weighted loss needs: export the run again")
            self.images = [f[f"image_{i:05d}"].astype(np.float32) for i in range(n)]
            self.planes = [[f[f"mask_{i:05d}"].astype(np.int64)]
                           + ([f[f"weight_{i:05d}"]] if weighted else []) for i in range(n)]
            self.repeats = int(f["repeats"]) if "repeats" in f.files else 1
        self.crop, self.augment, self.seed, self.epoch = crop, augment, seed, 0

    def __len__(self):
        return len(self.images) * self.repeats

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} of {len(self)}")  # (which also ends a for loop)
        image, planes = self.images[i % len(self.images)], self.planes[i % len(self.images)]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        if self.crop:
            corner = [int(rng.integers(size - self.crop + 1)) for size in planes[0].shape]
            window = tuple(slice(c, c + self.crop) for c in corner)
            image, planes = image[(slice(None), *window)], [p[window] for p in planes]
        if self.augment:
            for axis in range(planes[0].ndim):
                if rng.random() < 0.5:
                    image, planes = np.flip(image, axis + 1), [np.flip(p, axis) for p in planes]
            k = int(rng.integers(4))
            image = np.rot90(image, k, axes=(-2, -1))
            planes = [np.rot90(p, k, axes=(-2, -1)) for p in planes]
        return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (image, *planes))


# ----- the losses: tinyunet's F.dice_ce_loss, F.cross_entropy, F.dice_loss and the weighted -----
def soft_dice(logits, target, smooth=1e-5):
    """1 - (2 sum p g + smooth) / (sum p + sum g + smooth) per image and foreground class
    (class 0, the background, left out), averaged; p = softmax over the classes."""
    p = logits.softmax(dim=1)
    g = TF.one_hot(target, logits.shape[1]).movedim(-1, 1).to(p.dtype)
    p, g = p[:, 1:], g[:, 1:]
    pixels = tuple(range(2, logits.ndim))
    dice = (2 * (p * g).sum(pixels) + smooth) / (p.sum(pixels) + g.sum(pixels) + smooth)
    return (1 - dice).mean()


def weighted_ce(logits, target, weight=None):
    """The U-Net paper's loss (eq. 1), tinyunet's ``cross_entropy(..., pixel_weight=w)``:
    sum_x w(x) CE(x) / sum_x w(x), with w the weight map; plain cross-entropy without one."""
    if weight is None:
        return TF.cross_entropy(logits, target)
    return (weight * TF.cross_entropy(logits, target, reduction="none")).sum() / weight.sum()


LOSSES = {"dice_ce": lambda z, y: soft_dice(z, y) + TF.cross_entropy(z, y),
          "ce": TF.cross_entropy, "dice": soft_dice, "weighted_ce": weighted_ce,
          "dice_weighted_ce": lambda z, y, w=None: soft_dice(z, y) + weighted_ce(z, y, w)}
WEIGHTED = ("weighted_ce", "dice_weighted_ce")  # their data carry weight maps


def crop_like(masks, logits):
    """A 'valid'-padding network predicts the centre of its input: crop the masks (or the
    weight maps) to it."""
    for axis, size in enumerate(logits.shape[2:], start=1):
        start = (masks.shape[axis] - size) // 2
        masks = masks.narrow(axis, start, size)
    return masks


def dice_scores(pred, target, num_classes):
    """tinyunet's validation Dice of one image's argmax mask: 2|A n B| / (|A| + |B|) for each
    foreground class (1 where the class is in neither mask), one per class 1..C-1."""
    scores = []
    for c in range(1, num_classes):
        a, b = pred == c, target == c
        size = float(a.sum() + b.sum())
        scores.append(2 * float((a & b).sum()) / size if size else 1.0)
    return scores


# ----- the run ----------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples (in the export folder):\n"
               "  torchrun --standalone --nproc-per-node=2 train_ddp.py --steps 100\n"
               "  torchrun --standalone --nproc-per-node=4 train_ddp.py --resume ddp --steps 500\n"
               "  python train_ddp.py --steps 10          (one process, no DDP)")
    p.add_argument("--resume", default=str(HERE),
                   help="folder with model.safetensors, optimizer.safetensors and arch.json "
                        "(default: this script's folder, the export)")
    p.add_argument("--out", default=str(HERE / "ddp"), help="where rank 0 writes (default: ddp/)")
    p.add_argument("--data", default=str(HERE / "data"),
                   help="folder with train.npz and val.npz (default: data/)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps to take (default: the rest of the run's schedule)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per process per step (default: the run's batch size)")
    p.add_argument("--lr", type=float, default=None, help="base learning rate (default: the run's)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: a GPU per process if there are GPUs (nccl), else CPU (gloo)")
    p.add_argument("--log-every", type=int, default=10, help="print the loss every N steps")
    p.add_argument("--every-rank", action="store_true",
                   help="every process also writes its weights to OUT/rank{R}.safetensors "
                        "(to see that they agree)")
    return p.parse_args(argv)


def pick_device(name):
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def make_optimizer(config, net, lr):
    """The run's optimizer, fresh (when the export has no optimizer.safetensors)."""
    kind = config.get("optimizer", "adam")
    if kind == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](net.parameters(), lr=lr)


def validate(net, path, loss_fn, device, depth, weighted=False):
    """Mean loss and Dice of the argmax masks over the validation images, as tinyunet's
    validation has them: the Dice of each foreground class, averaged over the images, then
    over the classes (the two-class Dice of the cells; the three_class target's interior and
    boundary)."""
    data, dtype = Segmentation(path, weighted=weighted), next(net.parameters()).dtype
    losses, dice = [], []
    net.eval()
    with torch.no_grad():
        for image, mask, *weight in data:
            x = image[None].to(device, dtype)
            pad = []  # mirror up to a multiple of 2**depth ('same' padding), last dim first
            for size in reversed(x.shape[2:]):
                pad += [0, -size % 2**depth]
            logits = net(TF.pad(x, pad, mode="reflect") if any(pad) else x)
            logits = logits[(..., *(slice(0, size) for size in x.shape[2:]))]
            target = crop_like(mask[None].to(device), logits)
            weight = [crop_like(w[None].to(device, dtype), logits) for w in weight]
            losses.append(float(loss_fn(logits, target, *weight)))
            dice.append(dice_scores(logits.argmax(dim=1), target, logits.shape[1]))
    net.train()
    return float(np.mean(losses)), float(np.mean(dice, axis=0).mean())


def main(argv=None):
    args = parse_args(argv)
    distributed = "RANK" in os.environ  # set by torchrun
    device = pick_device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    source = Path(args.resume)
    arch = json.loads((source / "arch.json").read_text())
    config, run = arch.get("train_config") or {}, dict(arch.get("run") or {})
    seed = int(config.get("seed", 0))

    net = exported.load(source / "model.safetensors", device)
    dtype = next(net.parameters()).dtype
    architecture = {"model_class": arch["model_class"], "model_config": arch["model_config"]}
    base_lrs = run.get("base_lrs") or [config.get("lr", 1e-3)]
    if (source / "optimizer.safetensors").exists():
        optimizer = exported.load_optimizer(source / "optimizer.safetensors", net)
    else:
        optimizer = make_optimizer(config, net, base_lrs[0])
    if args.lr is not None:
        base_lrs = [args.lr] * len(optimizer.param_groups)
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = lr
    model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                    else None) if distributed else net

    batch_size = args.batch_size or int(config.get("batch_size", 8))
    loss_name = config.get("loss", "dice_ce")
    if loss_name not in LOSSES:
        raise SystemExit(f"the run's loss {loss_name!r} is not one this script knows "
                         f"({sorted(LOSSES)})")
    loss_fn, weighted = LOSSES[loss_name], loss_name in WEIGHTED
    train_set = Segmentation(Path(args.data) / "train.npz", config.get("crop"),
                             config.get("augment", True), seed, weighted)
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(train_set, batch_size, sampler=sampler, drop_last=True)
    if len(loader) == 0:
        raise SystemExit(f"{len(train_set)} images cannot fill a batch of {batch_size} on each "
                         f"of {world} processes: lower --batch-size")
    # the schedule counts steps as the tinyunet run did; anneal: lr = base (1 - step / total)
    # with total the run's epochs x steps per epoch, or where --steps ends, whichever is later
    step = int(run.get("step", 0))
    per_epoch = config.get("steps_per_epoch") or len(train_set) // int(config.get("batch_size", 8))
    total = (config.get("epochs") or 0) * per_epoch
    steps = args.steps if args.steps is not None else total - step
    total = max(total, step + steps)  # more steps than the schedule had: it stretches to them
    if steps <= 0:
        raise SystemExit(f"the run's schedule ({total} steps) is done at step {step}: give "
                         f"--steps N to go on")

    losses, start, epoch = [], time.perf_counter(), step // len(loader)
    while len(losses) < steps:
        sampler.set_epoch(epoch)
        train_set.epoch, epoch = epoch, epoch + 1
        for images, masks, *weight in loader:   # a weight map for the weighted losses
            images, masks = images.to(device, dtype), masks.to(device)
            logits = model(images)
            weight = [crop_like(w.to(device, dtype), logits) for w in weight]
            loss = loss_fn(logits, crop_like(masks, logits), *weight)
            mean = loss.detach().clone()
            if distributed:
                dist.all_reduce(mean)
            mean = float(mean) / world
            if not np.isfinite(mean):  # every process sees the same mean: all stop together
                raise SystemExit(f"the loss became {mean} at step {step + 1}; the checkpoint in "
                                 f"{source} is untouched: resume with a lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.get("anneal") and total:
                for group, lr in zip(optimizer.param_groups, base_lrs):
                    group["lr"] = lr * max(0.0, 1.0 - step / total)
            optimizer.step()
            step += 1
            losses.append(mean)
            if rank == 0 and (len(losses) % args.log_every == 0 or len(losses) == steps):
                print(f"step {step}  loss {mean:.4f}  lr {optimizer.param_groups[0]['lr']:.3g}  "
                      f"[{world} processes, {time.perf_counter() - start:.1f} s]", flush=True)
            if len(losses) == steps:
                break

    out = Path(args.out)
    if args.every_rank:
        out.mkdir(parents=True, exist_ok=True)
        exported.save(net, out / f"rank{rank}.safetensors", architecture)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        exported.save(net, out / "model.safetensors", architecture)
        exported.save_optimizer(optimizer, net, out / "optimizer.safetensors")
        run.update(step=step, base_lrs=base_lrs)
        (out / "arch.json").write_text(json.dumps({**arch, "run": run}, indent=2) + "\n")
        metrics = {"steps": len(losses), "step": step, "processes": world,
                   "batch_per_process": batch_size, "losses": losses,
                   "seconds": round(time.perf_counter() - start, 3)}
        val = Path(args.data) / "val.npz"
        if val.exists():
            depth = arch["model_config"].get("depth", 0)
            if arch["model_config"].get("padding", "same") != "same":
                depth = 0
            metrics["val_loss"], metrics["val_dice"] = validate(net, val, loss_fn, device,
                                                                depth, weighted)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"wrote {out}/model.safetensors, optimizer.safetensors, arch.json, metrics.json "
              f"(val loss {metrics.get('val_loss', float('nan')):.4f}, Dice "
              f"{metrics.get('val_dice', float('nan')):.3f})", flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
