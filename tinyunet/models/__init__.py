"""The models of the lesson: the U-Net family, the plain encoder-decoder, a classifier, and
the diffusion U-Net."""

from .classifier import Classifier
from .diffusion_unet import DiffusionUNet
from .size_plan import SizePlan, size_plan
from .summary import summary, trace
from .unet import EncoderDecoder, UNet
from .unet3d import UNet3D

__all__ = ["UNet", "UNet3D", "EncoderDecoder", "Classifier", "DiffusionUNet", "summary", "trace",
           "size_plan", "SizePlan"]
