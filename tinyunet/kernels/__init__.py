"""Kernels: the loops under the ops, in interchangeable sets.

``reference``  plain Python/NumPy loops written to be read line by line against the math.
``numba_cpu``  the same functions, fast: numba loops and BLAS products, the batch shared out to
               the cores; convolutions by Winograd, a direct 3x3 kernel or im2col, whichever
               wins for the shapes (numba_cpu/conv.py).
``cuda``       the same functions on the GPU (numba.cuda kernels and CuPy), picked
               automatically for arrays that live there.

The CPU sets export the *same* names with the *same* signatures, and the tests run every shape
through both and compare. A learner steps through ``reference`` (or the numba set with
``NUMBA_DISABLE_JIT=1``) and trusts ``numba_cpu`` because the tests tie them together.

Contract (all kernels):

* Arrays are NumPy arrays in channels-first layout ``(N, C, H, W)`` (``(N, C, D, H, W)`` for
  the 3-D kernels), C-contiguous, float32 or float64; a kernel returns arrays of its input
  dtype. Kernels never see Tensors.
* Hyper-parameters arrive already normalised by the op layer: ``stride``, ``padding``,
  ``dilation``, ``output_padding``, ``kernel_size`` are 2-tuples of ints ``(h, w)`` (3-tuples
  ``(d, h, w)`` for the 3-D kernels); padding is symmetric and non-negative. Validation
  (clear errors naming shapes) is the op layer's job; kernels assume valid input.

Names every kernel set provides:

activation.py
    relu(x) -> y, relu_backward(grad, y) -> grad_x
        Any shape (the only kernels that are not (N, C, H, W)); the backward reads the
        forward's output y, and passes grad except where y <= 0 (as PyTorch).
conv.py
    conv2d(x, w, b, stride, padding, dilation) -> y
        x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None.
    conv_transpose2d(x, w, b, stride, padding, output_padding, dilation) -> y
        x (N, C_in, H, W), w (C_in, C_out, kH, kW), b (C_out,) or None.
    conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation) -> grad_w
        grad_w (C_out, C_in, kH, kW) of y = conv2d(x, w); loops over grad_y's spatial size,
        which may be smaller than conv2d's natural output size.
    (The input-gradient of conv2d *is* conv_transpose2d and the input-gradient of
    conv_transpose2d *is* conv2d: the adjoint pair is written once.)
conv3d.py
    conv3d(x, w, b, stride, padding, dilation) -> y
        x (N, C_in, D, H, W), w (C_out, C_in, kD, kH, kW), b (C_out,) or None; one group
        (the op layer splits ``groups``).
    conv_transpose3d(x, w, b, stride, padding, output_padding, dilation) -> y
        x (N, C_in, D, H, W), w (C_in, C_out, kD, kH, kW), b (C_out,) or None.
    conv3d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation) -> grad_w
        grad_w (C_out, C_in, kD, kH, kW); sums over grad_y's own spatial size.
    (The same adjoint pair as in 2-D: each is the other's input gradient.)
pool3d.py
    max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode) -> (y, argmax)
        argmax int64 (N, C, D_out, H_out, W_out): flat index d*H*W + h*W + w into the input
        volume, as PyTorch's ``return_indices``; the same tie and NaN rules as max_pool2d.
        The output size is ``reference.pool.pool_output_size`` per axis (PyTorch's ceil_mode
        rule).
    max_pool3d_backward(grad_y, argmax, input_shape) -> grad_x
pool.py
    max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode) -> (y, argmax)
        argmax int64 (N, C, H_out, W_out): flat index h * W + w into the input plane, as
        PyTorch's ``return_indices``. Ties go to the first maximum in row-major order; a NaN
        wins (propagates), as in PyTorch. ``ceil_mode`` (a bool) rounds the output size up.
    max_pool2d_backward(grad_y, argmax, input_shape) -> grad_x
    avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override) -> y
        ``divisor_override`` is None or a non-zero int.
    avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad,
                        divisor_override) -> grad_x
        (no ceil_mode: grad_y's shape already says how many windows there are)
    adaptive_avg_pool2d(x, out_size) -> y
    adaptive_avg_pool2d_backward(grad_y, input_shape) -> grad_x
interpolate.py
    upsample_nearest2d(x, out_size, scales, exact) -> y
        src = min(floor(dst * scale), in - 1), or floor((dst + 0.5) * scale) with ``exact``
        (mode "nearest-exact"); scales = (sH, sW) input/output ratios chosen by the op layer
        exactly as PyTorch chooses them.
    upsample_nearest2d_backward(grad_y, input_shape, scales, exact) -> grad_x
    upsample_bilinear2d(x, out_size, align_corners, scales) -> y
    upsample_bilinear2d_backward(grad_y, input_shape, align_corners, scales) -> grad_x
    upsample_bicubic2d(x, out_size, align_corners, scales) -> y
        Keys' cubic convolution (a = -0.75) over 4 x 4 taps, clamped at the borders.
    upsample_bicubic2d_backward(grad_y, input_shape, align_corners, scales) -> grad_x
    (interpolate's other modes reuse these: "linear" is bilinear on a height-1 image, 3-D
    inputs take two 2-D passes, and "area" is pool.py's adaptive_avg_pool2d.)

Fused kernels, which a set may add (the op composes the plain kernels where a set has none;
the numba set has them): ``conv2d_relu(x, w, b, stride, padding, dilation)`` =
relu(conv2d(...)), and ``relu_backward_sum(grad, y)`` = (relu_backward(grad, y), its sum over
(n, h, w)): the forward and backward of ``tinyunet.ops.conv_relu``.
"""
