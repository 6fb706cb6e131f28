"""t2i_tf.metrics.ssim: SSIM of an image with itself is 1, falls as noise grows, and equals
tf.image.ssim (11 x 11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, max_val 1.0)."""

import numpy as np
import pytest

from t2i_tf.metrics import ssim


def pairs(shape, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.random((n, *shape))
    b = np.clip(a + 0.3 * rng.standard_normal(a.shape), 0.0, 1.0)
    b[0] = rng.random(shape)  # one unrelated pair
    return a.astype(np.float32), b.astype(np.float32)


def test_window_is_a_normalised_gaussian():
    w = ssim.gaussian_window()
    assert w.shape == (11,) and w.sum() == pytest.approx(1.0)
    assert w[4] / w[5] == pytest.approx(np.exp(-0.5 / 1.5 ** 2))


def test_identical_images_score_one():
    x = np.random.default_rng(0).random((3, 28, 28))
    np.testing.assert_allclose(ssim.ssim(x, x), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ssim.ssim(np.zeros((60, 60)), np.zeros((60, 60))), 1.0)


def test_falls_monotonically_with_noise():
    rng = np.random.default_rng(1)
    x = (rng.random((60, 60)) < 0.2).astype(np.float64)
    noise = rng.standard_normal(x.shape)
    values = [float(ssim.ssim(x, np.clip(x + s * noise, 0, 1))) for s in (0, .05, .1, .2, .4, .8)]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_broadcasts_samples_against_one_image():
    a, b = pairs((28, 28), 4, 2)
    got = ssim.ssim(a.reshape(2, 2, 28, 28), b[:2, None])
    assert got.shape == (2, 2)
    assert got[1, 0] == pytest.approx(float(ssim.ssim(a[2], b[1])))


def test_too_small_image_is_an_error():
    with pytest.raises(ValueError, match="smaller"):
        ssim.ssim(np.zeros((10, 30)), np.zeros((10, 30)))


@pytest.mark.parametrize("shape", [(28, 28), (60, 60), (20, 33)])
def test_matches_tf_image_ssim(shape):
    tf = pytest.importorskip("tensorflow")
    a, b = pairs(shape, 5, 3)
    expected = tf.image.ssim(a[..., None], b[..., None], max_val=1.0).numpy()
    np.testing.assert_allclose(ssim.ssim(a, b), expected, atol=1e-4)


def test_caption_ssim_on_a_tiny_model():
    import keras
    from keras import ops

    from t2i_tf.models.align_draw import AlignDraw

    model = AlignDraw(image_shape=(12, 12), steps=2, enc_units=8, dec_units=8, z_dim=3,
                      read_n=2, write_n=2, vocab_size=6, embed_dim=4, lang_units=4,
                      align_units=8, seed=0)
    model.build()
    rng = np.random.default_rng(4)
    data = {"images": (rng.random((3, 12, 12)) < 0.3).astype(np.float32),
            "ids": rng.integers(2, 6, (3, 4)).astype(np.int32),
            "mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)}
    out = ssim.caption_ssim(model, data, num_samples=4, batch_size=100)
    assert out["pairs"] == 12 and out["per_caption"].shape == (3,)
    assert -1 <= out["mean"] <= 1 and out["std"] > 0
    # One call (index 0): the same noise gives the same samples; row j S + s.
    eps = keras.random.normal((2, 12, 3), seed=0)
    rows = np.repeat(np.arange(3), 4)
    final = ops.convert_to_numpy(model.generate(data["ids"][rows], data["mask"][rows],
                                                eps)["canvases"][-1])
    expected = ssim.ssim(final, data["images"][rows]).reshape(3, 4)
    np.testing.assert_allclose(out["per_caption"], expected.mean(1), rtol=1e-4, atol=1e-5)
    assert out["mean"] == pytest.approx(expected.mean(), rel=1e-4)
    # Two captions a call, the last call padded: same shape of result.
    assert ssim.caption_ssim(model, data, num_samples=4, batch_size=8)["pairs"] == 12


def test_samples_at_a_temperature_scale_the_prior_noise():
    import keras
    from keras import ops

    from t2i_tf.models.align_draw import AlignDraw

    model = AlignDraw(image_shape=(12, 12), steps=2, enc_units=8, dec_units=8, z_dim=3,
                      read_n=2, write_n=2, vocab_size=6, embed_dim=4, lang_units=4,
                      align_units=8, seed=0)
    model.build()
    data = {"ids": np.array([[2, 3, 4], [5, 2, 0]], np.int32),
            "mask": np.array([[1, 1, 1], [1, 1, 0]], bool)}
    rows = np.repeat(np.arange(2), 3)

    def draw(temperature):
        (_, _, canvases), = ssim.samples_per_caption(model, data, 3, 100, 0, temperature)
        return canvases.reshape(6, 12, 12)

    eps = keras.random.normal((2, 6, 3), seed=0)  # call 0's noise (likelihood.noise)
    for t in (0.5, 1.0):
        expected = model.generate(data["ids"][rows], data["mask"][rows], t * eps)
        np.testing.assert_allclose(draw(t), ops.convert_to_numpy(expected["canvases"][-1]),
                                   rtol=1e-5, atol=1e-6)
    mean = draw(0.0).reshape(2, 3, 12, 12)  # the prior's mean: one image per caption
    np.testing.assert_array_equal(mean, np.repeat(mean[:, :1], 3, axis=1))
    varied = draw(1.0).reshape(2, 3, 12, 12)
    assert not np.allclose(varied[:, 0], varied[:, 1])


def test_colour_ssim_is_the_mean_over_channels():
    rng = np.random.default_rng(4)
    a, b = rng.random((2, 3, 16, 16, 3))
    grey = rng.random((16, 16))
    same = np.repeat(grey[:, :, None], 3, axis=2)
    noisy = np.clip(same + rng.normal(0, 0.1, same.shape), 0, 1)
    assert ssim.colour_ssim(same, same) == pytest.approx(1.0)
    channels = [ssim.ssim(a[..., k], b[..., k]) for k in range(3)]
    np.testing.assert_allclose(ssim.colour_ssim(a, b), np.mean(channels, axis=0))
    assert ssim.colour_ssim(a, b).shape == (3,)
    assert ssim.colour_ssim(noisy, same) < 1.0
