"""``tinyunet predict``: segment image files with a trained checkpoint."""

from __future__ import annotations

import sys

from .common import command


def add_predict(commands):
    p = command(
        commands, "predict", "segment images with a trained checkpoint",
        description=(
            "Segment image files (PNG or TIFF; a multi-page TIFF page by page) with a\n"
            "checkpoint written by 'tinyunet train' or 'demo'. Each image is scaled as in\n"
            "training (the checkpoint keeps the setting). Writes OUT/<name>_mask.png (binary\n"
            "masks as 0/255; a stack as <name>_mask.tif), with --overlay OUT/<name>_overlay.png,\n"
            "and with --instances OUT/<name>_instances.tif: a 16-bit label image, one integer\n"
            "per object, whose outlines the overlay draws. A three-class model's objects come\n"
            "from its boundary class; a binary model's foreground is split at its necks.\n"
            "--truth scores the objects against true label images (count and average\n"
            "precision). With --tile, large images are predicted tile by tile with the U-Net\n"
            "paper's overlap-tile strategy: mirrored borders, overlapping tiles, only each\n"
            "tile's centre kept."),
        examples=["tinyunet predict --checkpoint runs/demo/best.safetensors cells.png --out pred",
                  "tinyunet predict --checkpoint runs/mine/best.safetensors data/new/*.tif "
                  "--out pred --instances --overlay",
                  "tinyunet predict --checkpoint runs/mine/best.safetensors data/val/images/*.tif "
                  "--out pred --instances --truth data/val/masks",
                  "tinyunet predict --checkpoint runs/demo/best.safetensors big.png --out pred "
                  "--tile 128 --overlay"])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, TIFF)")
    p.add_argument("--checkpoint", required=True, help="a last/best.safetensors checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overlay", action="store_true", help="also write the mask over the image")
    p.add_argument("--instances", action="store_true",
                   help="also write a 16-bit instance label image and count the objects")
    p.add_argument("--method", default="auto", choices=("auto", "components", "split",
                                                        "three_class"),
                   help="how masks become objects: the boundary class (three_class), the "
                        "foreground split at its necks (split) or its connected components "
                        "(default: auto, three_class for a three-class model, else split)")
    p.add_argument("--truth", default=None, metavar="DIR",
                   help="with --instances: a folder of true masks or label images, named as "
                        "the images, to score the objects against")
    p.add_argument("--tile", type=int, default=None,
                   help="overlap-tile prediction with tiles of this side (default: the whole "
                        "image at once)")
    p.add_argument("--overlap", type=int, default=None,
                   help="pixels dropped on each side of a tile (default: tile/4, on the "
                        "pooling grid)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where to run the model (default: cpu)")
    p.set_defaults(run=run_predict)


def run_predict(args) -> int:
    from ..data.files import DataError
    from ..instances import default_method
    from ..predict import load_model, load_preprocessing, predict_files

    if args.truth and not args.instances:
        raise SystemExit("tinyunet predict: --truth scores the objects: add --instances")
    model = load_model(args.checkpoint).to(args.device)
    prep = load_preprocessing(args.checkpoint)
    method = default_method(prep["target"]) if args.method == "auto" else args.method
    try:
        written = predict_files(model, args.images, args.out, tile=args.tile,
                                overlap=args.overlap, overlay=args.overlay,
                                instances=args.instances, normalize=prep["normalize"],
                                percentiles=prep["percentiles"], method=method)
        for path in written:
            print(path)
        if args.truth:
            from ..predict import score_instances

            print(score_instances(args.images, args.out, args.truth))
    except DataError as err:
        print(f"tinyunet predict: {err}", file=sys.stderr)
        return 2
    return 0
