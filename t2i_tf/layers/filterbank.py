"""DRAW's Gaussian read and write attention (Gregor et al. 2015, §3.2-3.3, eqs. 19-29).

Coordinates. The paper puts the grid centre at g_X = (A+1)/2 (g~_X + 1), so g~_X = 0 is
the image centre (A+1)/2: that is the centre of pixels numbered a = 1..A, and this module
numbers pixels that way. The filter means are mu^i = g + (i - N/2 - 0.5) delta for
i = 1..N, a grid symmetric about g. Ports that number pixels or filters from 0 in one of
these two places (ericjang/draw, the authors' Theano code) shift the grid by one pixel or
one stride; tests/test_filterbank.py checks the symmetry.

Colour images (alignDRAW's COCO model) have image_shape (B, A, C): every channel is read and
written through the same filterbank, so a glimpse holds C N x N patches of x and of x_hat
and a write paints C patches (the DRAW paper's colour experiments, §4.3-4.4).

Everything here is keras.ops, so it runs on the TensorFlow and the JAX backend.
"""

import math

import keras
from keras import ops

# Rows of F_X, F_Y are divided by max(sum, _EPS) so a vanishing variance cannot divide by 0.
_EPS = 1e-8


def attention_window(params, image_height, image_width, n):
    """Turns the five linear outputs of eq. 21 into the window of eqs. 22-24.

    Args:
      params: (batch, 5) = (g~_X, g~_Y, log sigma^2, log delta~, log gamma).
      image_height, image_width: B and A of the paper (rows, columns).
      n: N, the side of the square grid of filters.

    Returns:
      dict of (batch, 1) tensors: gx, gy (grid centre, 1-indexed pixel coordinates),
      delta (stride), sigma2 (filter variance), gamma (intensity).
    """
    gx_, gy_, log_sigma2, log_delta_, log_gamma = ops.split(params, 5, axis=-1)
    gx = (image_width + 1) / 2.0 * (gx_ + 1.0)
    gy = (image_height + 1) / 2.0 * (gy_ + 1.0)
    delta = (max(image_height, image_width) - 1) / max(n - 1, 1) * ops.exp(log_delta_)
    return {
        "gx": gx,
        "gy": gy,
        "delta": delta,
        "sigma2": ops.exp(log_sigma2),
        "gamma": ops.exp(log_gamma),
    }


def grid_offsets(n, dtype="float32"):
    """(i - N/2 - 0.5) for i = 1..N (eqs. 19-20): symmetric about 0."""
    return ops.arange(1, n + 1, dtype=dtype) - n / 2.0 - 0.5


def filterbank(window, image_height, image_width, n):
    """Gaussian filterbanks F_X (batch, N, A) and F_Y (batch, N, B), eqs. 19-20 and 25-26.

    Each row sums to one over the image axis.
    """
    offsets = grid_offsets(n, dtype=window["gx"].dtype)  # (N,)
    mu_x = window["gx"] + offsets * window["delta"]  # (batch, N)
    mu_y = window["gy"] + offsets * window["delta"]  # (batch, N)
    two_sigma2 = 2.0 * window["sigma2"][:, :, None]  # (batch, 1, 1)

    def bank(mu, size):
        a = ops.arange(1, size + 1, dtype=mu.dtype)  # 1-indexed pixel coordinates
        f = ops.exp(-ops.square(a[None, None, :] - mu[:, :, None]) / two_sigma2)
        return f / ops.maximum(ops.sum(f, axis=-1, keepdims=True), _EPS)

    return bank(mu_x, image_width), bank(mu_y, image_height)


def _transpose(m):
    return ops.transpose(m, (0, 2, 1))


def channels(image_shape):
    """C of an image shape: 1 for (B, A), C for (B, A, C)."""
    return image_shape[2] if len(image_shape) == 3 else 1


def _apply_filters(fy, image, fx_t):
    """F_Y image F_X^T: (batch, N, N), or (batch, C, N, N) for an image (batch, B, A, C)."""
    if len(image.shape) == 3:
        return ops.matmul(ops.matmul(fy, image), fx_t)
    per_channel = ops.transpose(image, (0, 3, 1, 2))  # (batch, C, B, A)
    return ops.matmul(ops.matmul(fy[:, None], per_channel), fx_t[:, None])


class GaussianRead(keras.layers.Layer):
    """read(x, x_hat, h_dec) = gamma [F_Y x F_X^T, F_Y x_hat F_X^T], eqs. 21-27.

    Args:
      image_shape: (B, A), the image's rows and columns, or (B, A, C) for C channels.
      n: N, the read patch side.

    Call args: x and x_hat (batch, B, A[, C]), h_dec (batch, units).
    Returns: (patches (batch, 2 C N N), window dict of (batch, 1) tensors).
    """

    def __init__(self, image_shape, n, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.n = n
        self.params = keras.layers.Dense(5, name="params")

    def build(self, h_shape):
        self.params.build(h_shape)

    @property
    def output_size(self):
        return 2 * channels(self.image_shape) * self.n * self.n

    def call(self, x, x_hat, h_dec):
        height, width = self.image_shape[:2]
        window = attention_window(self.params(h_dec), height, width, self.n)
        fx, fy = filterbank(window, height, width, self.n)
        fx_t = _transpose(fx)
        gamma = window["gamma"]
        glimpse = ops.concatenate(
            [
                ops.reshape(_apply_filters(fy, image, fx_t), (-1, self.output_size // 2))
                for image in (x, x_hat)
            ],
            axis=-1,
        )
        return gamma * glimpse, window

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "n": self.n}


class GaussianWrite(keras.layers.Layer):
    """write(h_dec) = (1 / gamma^) F^_Y^T w F^_X with w = W(h_dec), eqs. 28-29.

    Args:
      image_shape: (B, A), or (B, A, C) for C channels (one patch per channel).
      n: N, the write patch side.

    Call args: h_dec (batch, units).
    Returns: (canvas update (batch, B, A[, C]), window dict of (batch, 1) tensors).
    """

    def __init__(self, image_shape, n, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.n = n
        self.params = keras.layers.Dense(5, name="params")
        self.patch = keras.layers.Dense(channels(self.image_shape) * n * n, name="patch")

    def build(self, h_shape):
        self.params.build(h_shape)
        self.patch.build(h_shape)

    def call(self, h_dec):
        height, width = self.image_shape[:2]
        window = attention_window(self.params(h_dec), height, width, self.n)
        fx, fy = filterbank(window, height, width, self.n)
        if len(self.image_shape) == 2:
            w = ops.reshape(self.patch(h_dec), (-1, self.n, self.n))
            update = ops.matmul(ops.matmul(_transpose(fy), w), fx)  # (batch, B, A)
            return update / window["gamma"][:, :, None], window
        w = ops.reshape(self.patch(h_dec), (-1, channels(self.image_shape), self.n, self.n))
        update = ops.matmul(ops.matmul(_transpose(fy)[:, None], w), fx[:, None])  # (b, C, B, A)
        update = ops.transpose(update, (0, 2, 3, 1))  # (batch, B, A, C)
        return update / window["gamma"][:, :, None, None], window

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "n": self.n}


class FullRead(keras.layers.Layer):
    """read(x, x_hat, h_dec) = [x, x_hat], eq. 17 (DRAW without attention).

    Returns (patches (batch, 2 B A), None).
    """

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)

    @property
    def output_size(self):
        return 2 * math.prod(self.image_shape)

    def call(self, x, x_hat, h_dec):
        size = math.prod(self.image_shape)
        return ops.concatenate([ops.reshape(x, (-1, size)), ops.reshape(x_hat, (-1, size))], -1), None

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape}


class FullWrite(keras.layers.Layer):
    """write(h_dec) = W(h_dec), eq. 18: a linear map onto the whole canvas.

    Returns (canvas update (batch, B, A), None).
    """

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.patch = keras.layers.Dense(math.prod(self.image_shape), name="patch")

    def build(self, h_shape):
        self.patch.build(h_shape)

    def call(self, h_dec):
        return ops.reshape(self.patch(h_dec), (-1, *self.image_shape)), None

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape}
