"""``tinyunet predict``: segment image files with a trained checkpoint."""

from __future__ import annotations

from .common import command


def add_predict(commands):
    p = command(
        commands, "predict", "segment images with a trained checkpoint",
        description=(
            "Segment image files with a checkpoint written by 'tinyunet train' or 'demo'.\n"
            "Writes OUT/<name>_mask.png (binary masks as 0/255) and, with --overlay,\n"
            "OUT/<name>_overlay.png. With --tile, large images are predicted tile by tile with\n"
            "the U-Net paper's overlap-tile strategy: mirrored borders, overlapping tiles, only\n"
            "each tile's centre kept."),
        examples=["tinyunet predict --checkpoint runs/demo/best.safetensors cells.png --out pred",
                  "tinyunet predict --checkpoint runs/demo/best.safetensors big.png --out pred "
                  "--tile 128 --overlay"])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, ...)")
    p.add_argument("--checkpoint", required=True, help="a last/best.safetensors checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overlay", action="store_true", help="also write the mask over the image")
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
    from ..predict import load_model, predict_files

    model = load_model(args.checkpoint).to(args.device)
    for path in predict_files(model, args.images, args.out, tile=args.tile,
                              overlap=args.overlap, overlay=args.overlay):
        print(path)
    return 0
