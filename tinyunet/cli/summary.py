"""``tinyunet summary``: the size trace of a U-Net (or a variant), stage by stage."""

from __future__ import annotations

import inspect

from .common import command

# option -> the constructor argument it sets; the model's own default stands where not given
MODEL_OPTIONS = ("in_channels", "num_classes", "base_channels", "depth", "up_mode", "padding",
                 "norm", "skips")


def add_summary(commands):
    from ..models import FAMILY

    p = command(
        commands, "summary", "print a U-Net's size trace: shapes, channels, parameters",
        description=(
            "Build a U-Net (or one of its variants) and print, stage by stage, the output\n"
            "shape, the channels (a skip connection shows its concatenation, e.g.\n"
            "256 + 128 -> 384, and with valid padding the crop of the encoder map, e.g.\n"
            "crop 136->104) and the parameters. Stages are named by level: encoder.k,\n"
            "pool.k, ups.k, skip.k and decoder.k all belong to level k (size H / 2**k).\n"
            "A variant marks with * the stages it changes from the plain U-Net."),
        examples=["tinyunet summary",
                  "tinyunet summary --base-channels 64 --up-mode bilinear --size 256",
                  "tinyunet summary --base-channels 64 --padding valid --size 572",
                  "tinyunet summary --model attention --depth 3 --size 64",
                  "tinyunet summary --model unetpp --base-channels 8 --size 64",
                  "tinyunet summary --model unet3d --plan"])
    p.add_argument("--model", default="unet", choices=sorted(FAMILY),
                   help="the U-Net or a variant: attention (gated skips), residual (residual "
                        "units), unetpp (nested dense skips) (default: unet)")
    p.add_argument("--in-channels", type=int, help="input channels (default: 1)")
    p.add_argument("--num-classes", type=int, help="classes (default: 2)")
    p.add_argument("--base-channels", type=int, help="channels of the first level (default: 16)")
    p.add_argument("--depth", type=int, help="number of poolings (default: 4)")
    p.add_argument("--up-mode", choices=("transposed", "bilinear", "nearest"),
                   help="upsampling (default: transposed)")
    p.add_argument("--padding", choices=("same", "valid"),
                   help="'same' keeps the size, 'valid' is the 2015 paper (default: same)")
    p.add_argument("--norm", choices=("none", "batch", "group"),
                   help="normalisation after each conv (default: none)")
    p.add_argument("--no-skips", dest="skips", action="store_const", const=False,
                   help="the plain encoder-decoder, without skip connections")
    p.add_argument("--size", type=int,
                   help="input side in pixels (voxels for unet3d); an illegal size is refused "
                        "with the nearest legal ones (default: 128, or the nearest legal size "
                        "above it for the model's depth and padding)")
    p.add_argument("--plan", action="store_true",
                   help="first print the size plan: each level's sizes down and up and the "
                        "crop of each skip (tinyunet.models.size_plan)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the trace (default: 1)")
    p.set_defaults(run=run_summary)


def run_summary(args) -> int:
    from ..models import FAMILY, size_plan, summary
    from ..models.size_plan import legal_size

    cls = FAMILY[args.model]
    accepted = inspect.signature(cls).parameters
    kwargs = {}
    for name in MODEL_OPTIONS:
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            option = "--no-skips" if name == "skips" else "--" + name.replace("_", "-")
            raise SystemExit(f"tinyunet summary: --model {args.model} has no {option} option")
        kwargs[name] = None if value == "none" else value
    try:
        model = cls(**kwargs)
        depth, padding = model.config["depth"], model.config["padding"]
        size = args.size
        if size is None:  # the default: 128, or the nearest size above it this U-Net takes
            size = legal_size(128, depth, padding)
            if size != 128:
                print(f"input size {size}: 128 is not legal for {cls.__name__}(depth={depth}, "
                      f"padding='{padding}'), {size} is the nearest legal size above\n")
        if args.plan:
            print(size_plan((size,) * cls.dims, depth, padding, cls.dims), end="\n\n")
        summary(model, (args.batch, model.config["in_channels"]) + (size,) * cls.dims)
    except (ValueError, NotImplementedError) as err:  # a bad setting or size: say which
        raise SystemExit(f"tinyunet summary: {err}") from None
    return 0
