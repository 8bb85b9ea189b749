"""The models of the lesson: the U-Net family, the plain encoder-decoder, a classifier, and
the diffusion U-Net.

:data:`FAMILY` names the U-Net family for the command line (``tinyunet summary --model NAME``,
``tinyunet train --model NAME``): each variant is the U-Net with one part replaced, and says
which (``changes``, ``changed_stages``; ``summary`` marks it).
"""

from .attention_unet import AttentionUNet
from .classifier import Classifier
from .diffusion_unet import DiffusionUNet
from .residual_unet import ResidualUNet
from .size_plan import size_plan
from .summary import summary, trace
from .unet import EncoderDecoder, UNet
from .unet3d import UNet3D
from .unetpp import UNetPlusPlus

FAMILY = {"unet": UNet, "attention": AttentionUNet, "residual": ResidualUNet,
          "unetpp": UNetPlusPlus, "unet3d": UNet3D}

__all__ = ["UNet", "EncoderDecoder", "AttentionUNet", "ResidualUNet", "UNetPlusPlus", "UNet3D",
           "Classifier", "DiffusionUNet", "FAMILY", "summary", "trace", "size_plan"]
