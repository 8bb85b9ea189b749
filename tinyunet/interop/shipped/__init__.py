"""Plain-PyTorch files that ``tinyunet export --torch`` ships into its output folder; they are
never imported by tinyunet itself.

``model_io.py``   loading and saving the network and its optimizer (safetensors, no pickle);
                  inlined into the generated ``model.py`` after the network's classes.
``train_ddp.py``  the training script for ``torchrun``, copied as it is; it imports the
                  generated ``model.py`` that sits beside it.
"""
