"""Tests of t2i_tf.layers.filterbank against NumPy references of DRAW eqs. 17-29.

The references below are written from the paper (Gregor et al. 2015, §3.2-3.3), in
float64, with pixels numbered a = 1..A and filters i = 1..N as in eqs. 19-20 and 25-26.
They run on whatever Keras backend this process uses.
"""

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers import filterbank

RTOL = 1e-5
ATOL = 1e-7  # the filters are <= 1; float32 carries ~1e-7 absolute there


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


# ---------------------------------------------------------------- NumPy references


def ref_window(params, height, width, n):
    """Eqs. 21-24: params (batch, 5) = (g~X, g~Y, log sigma^2, log delta~, log gamma)."""
    params = np.asarray(params, dtype=np.float64)
    gx_, gy_, log_sigma2, log_delta_, log_gamma = params.T
    big_a, big_b = width, height  # the paper's A (columns) and B (rows)
    return {
        "gx": (big_a + 1) / 2.0 * (gx_ + 1.0),
        "gy": (big_b + 1) / 2.0 * (gy_ + 1.0),
        "delta": (max(big_a, big_b) - 1) / (n - 1) * np.exp(log_delta_),
        "sigma2": np.exp(log_sigma2),
        "gamma": np.exp(log_gamma),
    }


def ref_means(g, delta, n):
    """Eqs. 19-20: mu^i = g + (i - N/2 - 0.5) delta for i = 1..N; (batch, N)."""
    i = np.arange(1, n + 1, dtype=np.float64)
    return g[:, None] + (i[None, :] - n / 2.0 - 0.5) * delta[:, None]


def ref_bank(mu, sigma2, size):
    """Eqs. 25-26: F[i, a] = exp(-(a - mu^i)^2 / (2 sigma^2)) / Z, a = 1..size."""
    a = np.arange(1, size + 1, dtype=np.float64)
    f = np.exp(-((a[None, None, :] - mu[:, :, None]) ** 2) / (2.0 * sigma2[:, None, None]))
    return f / f.sum(axis=-1, keepdims=True)


def ref_filterbank(window, height, width, n):
    fx = ref_bank(ref_means(window["gx"], window["delta"], n), window["sigma2"], width)
    fy = ref_bank(ref_means(window["gy"], window["delta"], n), window["sigma2"], height)
    return fx, fy


def window_tensors(w):
    """A NumPy window dict as the (batch, 1) float32 tensors the module passes around."""
    return {k: ops.convert_to_tensor(np.asarray(v, np.float32)[:, None]) for k, v in w.items()}


def random_params(rng, batch):
    """Windows whose filters all lie inside the image (|g~| <= 0.3, delta~ <= 1/2), so
    every filter has most of its mass on the image; moderate sigma^2 and gamma."""
    return np.stack([
        rng.uniform(-0.3, 0.3, batch),  # g~X
        rng.uniform(-0.3, 0.3, batch),  # g~Y
        rng.uniform(-1.0, 1.0, batch),  # log sigma^2
        rng.uniform(-2.0, np.log(0.5), batch),  # log delta~
        rng.uniform(-1.0, 1.0, batch),  # log gamma
    ], axis=1).astype(np.float32)


# ---------------------------------------------------------------- attention_window


@pytest.mark.parametrize("height,width", [(20, 30), (30, 20)])
def test_attention_window_known_values(height, width):
    n = 4
    params = np.array([[0.0, 0.0, 0.0, 0.0, 0.0],
                       [0.5, -0.25, np.log(2.0), np.log(0.5), np.log(3.0)],
                       [-1.0, 1.0, -1.0, 1.0, -2.0]], dtype=np.float32)
    w = filterbank.attention_window(ops.convert_to_tensor(params), height, width, n)
    assert set(w) == {"gx", "gy", "delta", "sigma2", "gamma"}
    for key in w:
        assert tuple(ops.shape(w[key])) == (3, 1), key
    got = {k: to_np(v)[:, 0] for k, v in w.items()}

    # Hand-computed: gx uses the width A, gy the height B, delta max(A, B) = 30.
    big_a, big_b = width, height
    np.testing.assert_allclose(got["gx"], [(big_a + 1) / 2, (big_a + 1) / 2 * 1.5, 0.0],
                               rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(got["gy"], [(big_b + 1) / 2, (big_b + 1) / 2 * 0.75, big_b + 1],
                               rtol=RTOL)
    np.testing.assert_allclose(got["delta"], [29 / 3, 29 / 3 * 0.5, 29 / 3 * np.e], rtol=RTOL)
    np.testing.assert_allclose(got["sigma2"], [1.0, 2.0, np.exp(-1.0)], rtol=RTOL)
    np.testing.assert_allclose(got["gamma"], [1.0, 3.0, np.exp(-2.0)], rtol=RTOL)

    # g~ = 0 is the image centre in 1-indexed pixels.
    assert got["gx"][0] == pytest.approx(15.5 if width == 30 else 10.5)
    assert got["gy"][0] == pytest.approx(10.5 if height == 20 else 15.5)

    ref = ref_window(params, height, width, n)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL, atol=1e-6, err_msg=key)


def test_grid_offsets():
    for n in (1, 2, 3, 4, 5, 8, 12):
        offsets = to_np(filterbank.grid_offsets(n))
        np.testing.assert_allclose(offsets, np.arange(1, n + 1) - (n + 1) / 2.0, atol=0)
        np.testing.assert_allclose(offsets + offsets[::-1], 0.0, atol=0)  # symmetric about 0
        assert offsets.sum() == 0.0


# ---------------------------------------------------------------- filterbank


@pytest.mark.parametrize("height,width,n", [(20, 30, 5), (30, 20, 4), (12, 12, 3), (9, 14, 2)])
def test_filterbank_matches_reference(height, width, n):
    rng = np.random.default_rng(height * 100 + width + n)
    params = random_params(rng, batch=4)
    w = ref_window(params, height, width, n)
    fx, fy = filterbank.filterbank(window_tensors(w), height, width, n)
    fx, fy = to_np(fx), to_np(fy)
    assert fx.shape == (4, n, width)  # F_X is N x A
    assert fy.shape == (4, n, height)  # F_Y is N x B
    ref_fx, ref_fy = ref_filterbank(w, height, width, n)
    np.testing.assert_allclose(fx, ref_fx, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(fy, ref_fy, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(fx.sum(-1), 1.0, rtol=RTOL)
    np.testing.assert_allclose(fy.sum(-1), 1.0, rtol=RTOL)
    assert (fx >= 0).all() and (fy >= 0).all()


def test_filter_off_the_image_is_zero_not_nan():
    """A filter whose Gaussian has (numerically) no mass on the image: the row is ~0 and
    finite (rows are divided by max(Z, 1e-8)), the filters on the image still sum to 1."""
    height, width, n = 10, 12, 3
    w = {"gx": np.array([-40.0]), "gy": np.array([5.0]), "delta": np.array([40.0]),
         "sigma2": np.array([0.5]), "gamma": np.array([1.0])}
    fx, fy = filterbank.filterbank(window_tensors(w), height, width, n)
    fx, fy = to_np(fx)[0], to_np(fy)[0]
    assert np.isfinite(fx).all() and np.isfinite(fy).all()
    # mu_X = -80, -40, 0: the first two are off the image, the third half a pixel off it.
    assert fx[0].sum() < 1e-6 and fx[1].sum() < 1e-6
    assert fx[2].sum() == pytest.approx(1.0, rel=1e-5)
    assert fx[2].argmax() == 0


def test_filterbank_from_attention_window():
    """attention_window -> filterbank end to end on a non-square image."""
    height, width, n = 20, 30, 5
    params = random_params(np.random.default_rng(7), batch=3)
    window = filterbank.attention_window(ops.convert_to_tensor(params), height, width, n)
    fx, fy = filterbank.filterbank(window, height, width, n)
    ref_fx, ref_fy = ref_filterbank(ref_window(params, height, width, n), height, width, n)
    np.testing.assert_allclose(to_np(fx), ref_fx, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(to_np(fy), ref_fy, rtol=RTOL, atol=1e-6)


def centres_of_mass(f):
    """Row-wise centre of mass sum_a a F[i, a] in 1-indexed pixel coordinates."""
    a = np.arange(1, f.shape[-1] + 1, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # rows that underflowed to 0 (filters off the image)
        return (f * a).sum(-1) / f.sum(-1)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_grid_symmetric_about_centre(n):
    """mu^i + mu^{N+1-i} = 2 g and mu^i = g + (i - (N+1)/2) delta, read off the filters.

    A large image, windows well inside it and sigma^2 = 1: the centre of mass of a
    Gaussian sampled on integer pixels is then its mean to ~1e-8, so the row centres
    are the filter means of eqs. 19-20.
    """
    height, width = 60, 80
    gx = np.array([25.0, 40.5, 53.3])
    gy = np.array([20.0, 30.5, 37.7])
    delta = np.array([1.0, 2.5, 3.7]) * (3.0 / max(n - 1, 1))
    sigma2 = np.ones(3)
    w = {"gx": gx, "gy": gy, "delta": delta, "sigma2": sigma2, "gamma": np.ones(3)}
    fx, fy = filterbank.filterbank(window_tensors(w), height, width, n)
    mu_x, mu_y = centres_of_mass(to_np(fx)), centres_of_mass(to_np(fy))
    np.testing.assert_allclose(mu_x + mu_x[:, ::-1], np.broadcast_to(2 * gx[:, None], (3, n)),
                               rtol=0, atol=2e-4)
    np.testing.assert_allclose(mu_y + mu_y[:, ::-1], np.broadcast_to(2 * gy[:, None], (3, n)),
                               rtol=0, atol=2e-4)
    i = np.arange(1, n + 1)
    np.testing.assert_allclose(mu_x, gx[:, None] + (i - (n + 1) / 2) * delta[:, None], atol=2e-4)
    np.testing.assert_allclose(mu_y, gy[:, None] + (i - (n + 1) / 2) * delta[:, None], atol=2e-4)
    # The grid's own mean is g (a one-pixel or one-stride shift would move it).
    np.testing.assert_allclose(mu_x.mean(-1), gx, atol=2e-4)
    np.testing.assert_allclose(mu_y.mean(-1), gy, atol=2e-4)


@pytest.mark.parametrize("height,width", [(7, 7), (6, 10), (10, 10), (9, 13)])
def test_full_grid_lands_on_pixels(height, width):
    """g~ = 0, delta~ = 1 and N = max(A, B): delta = 1 and filter i sits on pixel i.

    This is where the off-by-one of the public ports shows (they put it on i - 1 or i + 1,
    or on half-pixels).
    """
    n = max(height, width)
    params = np.array([[0.0, 0.0, np.log(1e-2), 0.0, 0.0]], dtype=np.float32)
    window = filterbank.attention_window(ops.convert_to_tensor(params), height, width, n)
    assert to_np(window["delta"])[0, 0] == pytest.approx(1.0, rel=1e-6)
    fx, fy = filterbank.filterbank(window, height, width, n)
    fx, fy = to_np(fx)[0], to_np(fy)[0]
    i = np.arange(1, n + 1)
    # Along the longer side the N filters land exactly on pixels 1..N.
    f_long, size_long = (fx, width) if width >= height else (fy, height)
    np.testing.assert_allclose(centres_of_mass(f_long), i, atol=1e-5)
    np.testing.assert_array_equal(f_long.argmax(-1), i - 1)
    np.testing.assert_allclose(f_long, np.eye(n), atol=1e-6)
    # Along the shorter side of S pixels the grid is centred: filter i sits on
    # pixel i - (N - S) / 2; check those filters that land inside the image.
    f_short, size_short = (fy, height) if width >= height else (fx, width)
    shift = (n - size_short) / 2.0
    inside = (i - shift >= 1) & (i - shift <= size_short)
    if shift == int(shift):
        np.testing.assert_allclose(centres_of_mass(f_short)[inside], (i - shift)[inside],
                                   atol=1e-5)
    else:  # half-pixel centres: equal mass on the two neighbours
        inner = inside & (i - shift > 1) & (i - shift < size_short)
        np.testing.assert_allclose(centres_of_mass(f_short)[inner], (i - shift)[inner],
                                   atol=1e-5)


# ---------------------------------------------------------------- read / write layers


def set_dense(dense, kernel, bias):
    dense.set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])


@pytest.mark.parametrize("height,width,n", [(20, 30, 3), (30, 20, 2), (8, 8, 4)])
def test_gaussian_read_matches_eq_27(height, width, n):
    rng = np.random.default_rng(1)
    batch = 3
    params = random_params(rng, batch)
    layer = filterbank.GaussianRead((height, width), n)
    layer.build((None, 5))
    assert layer.output_size == 2 * n * n
    # The Dense emits h @ I + b: each example gets its own known window.
    bias = rng.normal(0, 0.1, 5)
    set_dense(layer.params, np.eye(5), bias)
    h = (params - bias).astype(np.float32)
    x = rng.uniform(0, 1, (batch, height, width)).astype(np.float32)
    x_hat = (x - rng.uniform(0, 1, (batch, height, width))).astype(np.float32)
    out, window = layer(x, x_hat, h)
    out = to_np(out)
    assert out.shape == (batch, 2 * n * n)

    w = ref_window(h.astype(np.float64) + bias.astype(np.float32), height, width, n)
    for key in w:
        np.testing.assert_allclose(to_np(window[key])[:, 0], w[key], rtol=RTOL, err_msg=key)
    fx, fy = ref_filterbank(w, height, width, n)
    for b in range(batch):
        gamma = w["gamma"][b]
        patch_x = fy[b] @ x[b] @ fx[b].T  # F_Y x F_X^T, (N, N)
        patch_xh = fy[b] @ x_hat[b] @ fx[b].T
        expected = gamma * np.concatenate([patch_x.ravel(), patch_xh.ravel()])
        np.testing.assert_allclose(out[b], expected, rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("height,width,n", [(20, 30, 3), (30, 20, 5), (8, 8, 4)])
def test_gaussian_write_matches_eq_29(height, width, n):
    rng = np.random.default_rng(2)
    batch, units = 3, 6
    params = random_params(rng, batch)
    layer = filterbank.GaussianWrite((height, width), n)
    layer.build((None, units))
    # The first five units of h are the window parameters, the rest feed the patch only.
    kernel = np.zeros((units, 5))
    kernel[:5] = np.eye(5)
    set_dense(layer.params, kernel, np.zeros(5))
    patch_kernel = rng.normal(0, 1, (units, n * n))
    patch_bias = rng.normal(0, 1, n * n)
    set_dense(layer.patch, patch_kernel, patch_bias)
    h = np.concatenate([params, rng.normal(0, 1, (batch, units - 5))], axis=1).astype(np.float32)
    update, window = layer(h)
    update = to_np(update)
    assert update.shape == (batch, height, width)

    w = ref_window(params, height, width, n)
    for key in w:
        np.testing.assert_allclose(to_np(window[key])[:, 0], w[key], rtol=RTOL, err_msg=key)
    fx, fy = ref_filterbank(w, height, width, n)
    patch = (h.astype(np.float64) @ patch_kernel.astype(np.float32) +
             patch_bias.astype(np.float32)).reshape(batch, n, n)
    for b in range(batch):
        expected = fy[b].T @ patch[b] @ fx[b] / w["gamma"][b]  # (1/gamma) F_Y^T w F_X
        assert expected.shape == (height, width)
        np.testing.assert_allclose(update[b], expected, rtol=RTOL,
                                   atol=1e-5 * np.abs(expected).max())


def test_gaussian_write_is_adjoint_of_read():
    """<read patch of x, w> = gamma^2 <x, write(w)> for the same window: F_Y x F_X^T and
    F_Y^T w F_X are adjoint maps."""
    height, width, n = 20, 30, 4
    rng = np.random.default_rng(3)
    params = random_params(rng, 2)
    read = filterbank.GaussianRead((height, width), n)
    write = filterbank.GaussianWrite((height, width), n)
    read.build((None, 5))
    write.build((None, 5))
    set_dense(read.params, np.eye(5), np.zeros(5))
    set_dense(write.params, np.eye(5), np.zeros(5))
    w_patch = rng.normal(0, 1, (2, n * n))
    set_dense(write.patch, np.zeros((5, n * n)), w_patch[0])
    x = rng.uniform(0, 1, (2, height, width)).astype(np.float32)
    r, _ = read(x, x, params)
    u, _ = write(params)
    gamma = np.exp(params[:, 4].astype(np.float64))
    lhs = (to_np(r)[:, : n * n] * w_patch[0]).sum(-1) / gamma
    rhs = (x * to_np(u)).sum((1, 2)) * gamma
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_full_read_and_write():
    height, width = 5, 7
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (2, height, width)).astype(np.float32)
    x_hat = rng.normal(0, 1, (2, height, width)).astype(np.float32)
    read = filterbank.FullRead((height, width))
    assert read.output_size == 2 * height * width
    r, window = read(x, x_hat, np.zeros((2, 3), np.float32))
    assert window is None
    r = to_np(r)
    assert r.shape == (2, 2 * height * width)
    np.testing.assert_array_equal(r[:, : height * width], x.reshape(2, -1))
    np.testing.assert_array_equal(r[:, height * width:], x_hat.reshape(2, -1))

    write = filterbank.FullWrite((height, width))
    write.build((None, 3))
    kernel = rng.normal(0, 1, (3, height * width))
    bias = rng.normal(0, 1, height * width)
    set_dense(write.patch, kernel, bias)
    h = rng.normal(0, 1, (2, 3)).astype(np.float32)
    u, window = write(h)
    assert window is None
    u = to_np(u)
    assert u.shape == (2, height, width)
    expected = (h.astype(np.float64) @ kernel.astype(np.float32) + bias.astype(np.float32))
    np.testing.assert_allclose(u, expected.reshape(2, height, width), rtol=RTOL, atol=1e-6)


def test_layer_configs_round_trip():
    for layer in (filterbank.GaussianRead((20, 30), 3), filterbank.GaussianWrite((20, 30), 4),
                  filterbank.FullRead((20, 30)), filterbank.FullWrite((20, 30))):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.image_shape == (20, 30)
        if hasattr(layer, "n"):
            assert clone.n == layer.n


def test_colour_read_and_write_apply_one_filterbank_to_every_channel():
    """(B, A, 3) images: each channel is read and written as a (B, A) image would be, through
    the same window (the grayscale layers, already checked against eqs. 27 and 29)."""
    rng = np.random.default_rng(5)
    batch, units, height, width, n, c = 2, 7, 9, 11, 3, 3
    h = rng.normal(0, 0.5, (batch, units)).astype(np.float32)
    x = rng.uniform(0, 1, (batch, height, width, c)).astype(np.float32)
    x_hat = (x - rng.uniform(0, 1, x.shape)).astype(np.float32)
    read = filterbank.GaussianRead((height, width, c), n)
    write = filterbank.GaussianWrite((height, width, c), n)
    grey_read = filterbank.GaussianRead((height, width), n)
    grey_write = filterbank.GaussianWrite((height, width), n)
    for layer in (read, write, grey_read, grey_write):
        layer.build((None, units))
    assert read.output_size == 2 * c * n * n
    params = [rng.normal(0, 0.3, (units, 5)), rng.normal(0, 0.1, 5)]
    for layer in (read, write, grey_read, grey_write):
        set_dense(layer.params, *params)
    patch_kernel, patch_bias = rng.normal(0, 1, (units, c * n * n)), rng.normal(0, 1, c * n * n)
    set_dense(write.patch, patch_kernel, patch_bias)

    out = to_np(read(x, x_hat, h)[0]).reshape(batch, 2, c, n * n)
    update = to_np(write(h)[0])
    assert update.shape == (batch, height, width, c)
    for k in range(c):
        grey = to_np(grey_read(x[..., k], x_hat[..., k], h)[0]).reshape(batch, 2, n * n)
        np.testing.assert_allclose(out[:, :, k], grey, rtol=1e-5, atol=1e-6)
        part = slice(k * n * n, (k + 1) * n * n)
        set_dense(grey_write.patch, patch_kernel[:, part], patch_bias[part])
        np.testing.assert_allclose(update[..., k], to_np(grey_write(h)[0]), rtol=1e-5,
                                   atol=1e-5)


def test_colour_full_read_and_write_shapes():
    read = filterbank.FullRead((4, 5, 3))
    write = filterbank.FullWrite((4, 5, 3))
    write.build((None, 6))
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    out = to_np(read(x, -x, None)[0])
    np.testing.assert_array_equal(out, np.concatenate([x.reshape(2, -1), -x.reshape(2, -1)], 1))
    assert read.output_size == 120
    assert to_np(write(np.ones((2, 6), np.float32))[0]).shape == (2, 4, 5, 3)
