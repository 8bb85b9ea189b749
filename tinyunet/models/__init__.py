"""The models of the lesson: the U-Net family, the plain encoder-decoder, a classifier."""

from .classifier import Classifier
from .summary import summary, trace
from .unet import EncoderDecoder, UNet

__all__ = ["UNet", "EncoderDecoder", "Classifier", "summary", "trace"]
