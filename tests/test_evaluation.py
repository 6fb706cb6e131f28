"""The evaluation library (t2i_tf/evaluation/): requests checked before any work, the table,
and a whole evaluation called as a function, against the metric computed directly."""

import os

import numpy as np
import pytest

from t2i_tf.errors import UsageError
from t2i_tf.evaluation import requests, table
from t2i_tf.models import registry

DRAW, ALIGN, PIXEL = (registry.spec(n) for n in ("draw", "align_draw", "align_pixel_rnn"))


def test_table_is_markdown():
    text = table.markdown("m on d test (3 examples)", [("a", 1.23456, None), ("b", 2.0, 0.5)])
    assert text == ("m on d test (3 examples)\n\n| metric | value | ± |\n| --- | ---: | ---: |\n"
                    "| a | 1.235 |  |\n| b | 2.000 | 0.500 |")


def test_empty_metrics_is_refused():
    with pytest.raises(UsageError, match="--metrics is empty: name one or more of elbo"):
        requests.check_outputs(requests.Options(metrics=()))
    requests.check_outputs(requests.Options(metrics=None))  # the family's default


def test_json_out_is_checked_before_any_work(tmp_path):
    with pytest.raises(UsageError, match="no folder"):
        requests.check_outputs(requests.Options(json_out=str(tmp_path / "no" / "r.json")))
    with pytest.raises(UsageError, match="is a folder"):
        requests.check_outputs(requests.Options(json_out=str(tmp_path)))
    requests.check_outputs(requests.Options(json_out=str(tmp_path / "r.json")))
    assert not os.path.exists(tmp_path / "r.json")  # checked, not written


@pytest.mark.parametrize("spec,metrics,message", [
    (DRAW, ("elbo", "ssim"), "ssim need a caption model"),
    (DRAW, ("nll",), "nll is the pixel models' exact likelihood"),
    (PIXEL, ("nll", "iw_nll"), "iw_nll: variational bounds of the DRAW models"),
])
def test_a_metric_that_does_not_fit_the_model_is_refused(spec, metrics, message):
    allowed = requests.scoring_data(spec, 2)
    with pytest.raises(UsageError, match=message):
        requests.check_request(requests.Options(metrics=metrics), spec, allowed)


def test_the_request_picks_the_default_data_and_metrics():
    options = requests.Options()
    assert requests.check_request(options, DRAW, ("binarized_mnist", "mnist")) == (
        "binarized_mnist", ["elbo", "iw_nll"])
    assert requests.check_request(options, PIXEL, ("captioned_mnist_32_binary",)) == (
        "captioned_mnist_32_binary", ["nll"])
    options = requests.Options(metrics=("attention", "elbo"), data="captioned_mnist")
    assert requests.check_request(options, ALIGN, ("captioned_mnist",)) == (
        "captioned_mnist", ["elbo", "attention"])


def test_other_data_and_zero_pixel_temperature_are_refused():
    with pytest.raises(UsageError, match="cannot be scored on mnist .it takes --data=captio"):
        requests.check_request(requests.Options(data="mnist"), PIXEL, ("captioned_mnist_32",))
    with pytest.raises(UsageError, match="--temperature=0"):
        requests.check_request(requests.Options(temperature=0.0), PIXEL,
                               ("captioned_mnist_32",))
    with pytest.raises(UsageError, match="COCO has none"):
        requests.check_request(requests.Options(metrics=("captions",)), ALIGN, ("coco_32_rgb",))


def test_evaluate_scores_as_the_metric_does():
    from t2i_tf.data import datasets
    from t2i_tf.evaluation import scoring
    from t2i_tf.metrics import likelihood
    from t2i_tf.training import checkpoint

    options = requests.Options(model="draw_mnist", metrics=("elbo",), max_images=20,
                               batch_size=10, seed=3)
    report = scoring.evaluate(options)
    images = datasets.load_images("binarized_mnist", "test")[:20]
    want = likelihood.negative_elbo(checkpoint.load_model("draw_mnist"), images, 10, 3)
    assert report.title == "draw_mnist on binarized_mnist test (20 examples)"
    assert report.result["images"] == 20 and report.result["data"] == "binarized_mnist"
    np.testing.assert_allclose(report.result["neg_elbo_nats"], want["total"][0], rtol=1e-6)
    assert [r[0] for r in report.rows] == ["negative ELBO (L^x + L^z), nats",
                                           "  reconstruction L^x", "  latent L^z"]
    assert set(report.result["seconds"]) == {"elbo"}
