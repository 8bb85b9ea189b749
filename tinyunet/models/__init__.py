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
from .summary import summary, trace
from .unet import EncoderDecoder, UNet
from .unetpp import UNetPlusPlus

# The 3D U-Net joins with one line, "unet3d": UNet3D (give the class `dims = 3`, and `changes` /
# `changed_stages` for the summary's marks; the CLI builds its input from `dims` and passes only
# the options its constructor accepts).
FAMILY = {"unet": UNet, "attention": AttentionUNet, "residual": ResidualUNet,
          "unetpp": UNetPlusPlus}

__all__ = ["UNet", "EncoderDecoder", "AttentionUNet", "ResidualUNet", "UNetPlusPlus",
           "Classifier", "DiffusionUNet", "FAMILY", "summary", "trace"]
