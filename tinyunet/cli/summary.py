"""``tinyunet summary``: the size trace of a U-Net, stage by stage."""

from __future__ import annotations

from .common import command


def add_summary(commands):
    p = command(
        commands, "summary", "print a U-Net's size trace: shapes, channels, parameters",
        description=(
            "Build a U-Net and print, stage by stage, the output shape, the channels (a skip\n"
            "connection shows its concatenation, e.g. 256 + 128 -> 384) and the parameters."),
        examples=["tinyunet summary",
                  "tinyunet summary --base-channels 64 --up-mode bilinear --size 256",
                  "tinyunet summary --base-channels 64 --padding valid --size 572"])
    p.add_argument("--in-channels", type=int, default=1, help="input channels (default: 1)")
    p.add_argument("--num-classes", type=int, default=2, help="classes (default: 2)")
    p.add_argument("--base-channels", type=int, default=16,
                   help="channels of the first level (default: 16)")
    p.add_argument("--depth", type=int, default=4, help="number of poolings (default: 4)")
    p.add_argument("--up-mode", default="transposed", choices=("transposed", "bilinear",
                                                               "nearest"),
                   help="upsampling (default: transposed)")
    p.add_argument("--padding", default="same", choices=("same", "valid"),
                   help="'same' keeps the size, 'valid' is the 2015 paper (default: same)")
    p.add_argument("--norm", default="none", choices=("none", "batch", "group"),
                   help="normalisation after each conv (default: none)")
    p.add_argument("--no-skips", action="store_true",
                   help="the plain encoder-decoder, without skip connections")
    p.add_argument("--size", type=int, default=128, help="input side in pixels (default: 128)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the trace (default: 1)")
    p.set_defaults(run=run_summary)


def run_summary(args) -> int:
    from ..models import UNet, summary

    model = UNet(in_channels=args.in_channels, num_classes=args.num_classes,
                 base_channels=args.base_channels, depth=args.depth, padding=args.padding,
                 up_mode=args.up_mode, skips=not args.no_skips,
                 norm=None if args.norm == "none" else args.norm)
    summary(model, (args.batch, args.in_channels, args.size, args.size))
    return 0
