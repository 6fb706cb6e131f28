"""tools/make_results.py: the tables it writes from evaluate's JSON, and their placement."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_SPEC = importlib.util.spec_from_file_location(
    "make_results", os.path.join(ROOT, "tools", "make_results.py"))
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)


@pytest.fixture
def tool(tmp_path):
    module = _MODULE
    module.FLAGS.unparse_flags()
    module.FLAGS(["make_results", f"--doc={tmp_path / 'R.md'}",
                  f"--results_dir={tmp_path / 'results'}"])
    yield module
    module.FLAGS.unparse_flags()


def caption_result(model, split):
    recall = {"r@1": 10.0, "r@5": 60.0, "r@10": 70.0, "r@50": 95.0, "median_rank": 3.0}
    return {"model": model, "split": split, "images": 1000, "neg_elbo_nats": 150.0,
            "neg_elbo_sem": 1.0, "reconstruction_nats": 120.0, "kl_nats": 30.0,
            "iw_nll_nats": 147.5, "iw_nll_sem": 1.1, "iw_samples": 50, "iw_images": 1000,
            "retrieval": {"ratio": recall, "likelihood": {**recall, "r@1": 5.0}},
            "ssim_mean": 0.41, "ssim_std": 0.2,
            "attention_top_words": [{"word": "7", "mean_weight": 0.3, "top_rate": 0.8}],
            "captions": {"samples_per_caption": 10,
                         "samples": {"scene_right": 0.5, "digit_accuracy": 0.6,
                                     "ink_in_place": 0.9, "scene_right (one digit)": 0.7,
                                     "scene_right (two digits)": 0.3},
                         "data": {"scene_right": 0.96, "digit_accuracy": 0.97,
                                  "ink_in_place": 1.0}},
            "seconds": {"elbo": 10.0, "retrieval": 100.0}, "command": "python -m x",
            "wall_s": 120.0, "machine": "m", "date": "2026-11-21"}


def test_tables_hold_our_figures_and_the_papers_rows(tool):
    results = {("aligndraw_mnist_captions", "test", "x"):
               caption_result("aligndraw_mnist_captions", "test")}
    text = tool.render(results)
    assert text.startswith(tool.BEGIN) and text.endswith(tool.END)
    row = [l for l in text.splitlines() if l.startswith("| aligndraw_mnist_captions | test |")]
    assert "150.00 ± 1.00" in row[0] and "147.50 ± 1.10 (50, 1,000)" in row[0]
    ours = [l for l in text.splitlines() if "log p(x|y) - log p(x|y_mean)" in l]
    assert ours[0].split(" | ")[3:8] == ["10.0", "60.0", "70.0", "95.0", "3"]
    assert "0.410 ± 0.200" in ours[0]
    assert any("alignPixelRNN" in l and "| 4.3 | 53.6 | 63.1 | 88.0 |" in l
               for l in text.splitlines())
    assert "| aligndraw_mnist_captions | test (1,000 x 10) | 50.0% | 60.0% | 90.0% | 70.0% | 30.0% |" in text
    assert "| *the data set's own images* | test (1,000) | 96.0% |" in text
    assert "`7` 0.300 (80%)" in text and "| 2.0 min (elbo 10 s, retrieval 100 s) |" in text
    assert "Scenes right by the caption's relation" not in text  # no breakdown in the JSON


def test_a_bound_beside_its_importance_estimate_is_not_repeated(tool):
    both = caption_result("aligndraw_mnist_captions", "test")
    elbo = {k: v for k, v in both.items() if not k.startswith("iw_")}
    fewer = {**elbo, "images": 500, "neg_elbo_nats": 151.0}  # another bound: kept
    lines = tool.bound_table({("aligndraw_mnist_captions", "test", "elbo"): elbo,
                              ("aligndraw_mnist_captions", "test", "iw"): both,
                              ("aligndraw_mnist_captions", "test", "500"): fewer})
    rows = [l for l in lines if l.startswith("| aligndraw_mnist_captions | test |")]
    assert len(rows) == 2
    assert "150.00 ± 1.00" in rows[0] and "147.50 ± 1.10 (50, 1,000)" in rows[0]
    assert "| 500 | 151.00 ± 1.00 |" in rows[1]


def test_relations_table_shows_each_relation_where_it_was_scored(tool):
    r = caption_result("aligndraw_mnist_captions", "generalization")
    r["captions"]["samples"]["scene_right_by_relation"] = {"top": [0.25, 40],
                                                           "bottom right": [0.5, 120]}
    text = tool.render({("aligndraw_mnist_captions", "generalization", "x"): r})
    assert "| model | split | left | right | top | bottom | top left | top right | " \
           "bottom left | bottom right |" in text
    assert "| aligndraw_mnist_captions | generalization |  |  | 25% (40) |  |  |  |  | " \
           "50% (120) |" in text


def test_write_tables_replaces_only_the_marked_block(tool, tmp_path):
    doc = tmp_path / "R.md"
    doc.write_text(f"# Results\n\nprose before\n\n{tool.BEGIN}\nold\n{tool.END}\n\nprose after\n")
    os.makedirs(tmp_path / "results")
    r = caption_result("noaligndraw_mnist_captions", "generalization")
    name = tool._run_name("noaligndraw_mnist_captions", "generalization",
                          [f"--metrics={tool.CAPTION_METRICS}"])
    (tmp_path / "results" / f"{name}.json").write_text(
        json.dumps(r))
    tool.write_tables(tool.load_results())
    text = doc.read_text()
    assert text.startswith("# Results\n\nprose before\n\n" + tool.BEGIN)
    assert text.endswith(tool.END + "\n\nprose after\n") and "\nold\n" not in text
    assert "| noaligndraw_mnist_captions | generalization |" in text
    tool.write_tables(tool.load_results())
    assert doc.read_text() == text  # idempotent


def test_curve_table_reads_each_models_training_curve(tool, tmp_path):
    os.makedirs(tmp_path / "m")
    records = [{"step": 1000, "wall_s": 1800.0, "valid/loss": 300.04},
               {"step": 1500, "wall_s": 2700.0, "valid/loss": 290.0},
               {"step": 2000, "wall_s": 3600.0, "valid/loss": 280.0},  # then resumed:
               {"step": 2000, "wall_s": 3700.0, "valid/loss": 281.0},
               {"step": 2100, "wall_s": 7200.0, "valid/loss": 270.0}]
    (tmp_path / "m" / "training_curve.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records))
    lines = tool.curve_table(["m", "not_shipped"], str(tmp_path))
    assert lines[0] == "| model | 1,000 | 2,000 | final (step, hours) |"
    assert lines[2] == "| m | 300.0 | 281.0 | 270.0 (2,100, 2.0 h) |"
    assert len(lines) == 3 and tool.curve_table(["not_shipped"], str(tmp_path)) == []


def test_pixel_model_rows_name_its_data_and_exact_likelihood(tool):
    recall = {"r@1": 8.0, "r@5": 40.0, "r@10": 60.0, "r@50": 99.0, "median_rank": 7.0}
    common = {"model": "alignpixelrnn_mnist_captions", "data": "captioned_mnist_32_binary",
              "seconds": {"nll": 5.0}, "command": "python -m x", "wall_s": 60.0,
              "machine": "m", "date": "2026-11-21"}
    nll = {**common, "split": "test", "images": 10000, "nll_nats": 55.25, "nll_sem": 0.5,
           "bits_per_dim": 0.0778, "bits_per_dim_sem": 0.0007}
    heavy = {**common, "split": "test", "images": 300,
             "retrieval": {"ratio": recall, "likelihood": recall}, "ssim_mean": 0.5,
             "ssim_std": 0.1}
    name = "alignpixelrnn_mnist_captions.test"
    heavy.update({k: nll[k] for k in ("nll_nats", "nll_sem", "bits_per_dim", "bits_per_dim_sem")})
    text = tool.render({("alignpixelrnn_mnist_captions", "test", name): nll,
                        ("alignpixelrnn_mnist_captions", "test", name + ".heavy"): heavy})
    row = ("| alignpixelrnn_mnist_captions | MNIST with captions, 32x32 binary | test | "
           "10,000 | 55.25 ± 0.50 | 0.0778 ± 0.0007 |")
    assert text.count(row) == 1  # the heavy run's same figure is not repeated
    assert ("| alignpixelrnn_mnist_captions | MNIST with captions, 32x32 binary, test (300) | "
            "log p(x|y) - log p(x|y_mean) | 8.0 | 40.0 | 60.0 | 99.0 | 7 | 0.500 ± 0.100 |") in text
    assert tool._run_name("alignpixelrnn_mnist_captions", "test", ["--metrics=nll"]) == \
        "alignpixelrnn_mnist_captions.test"


def test_whole_split_parts_make_one_row_and_keep_their_provenance(tool, tmp_path):
    full = caption_result("aligndraw_mnist_captions", "test")
    full.update(images=10000, queries=10000, iw_images=10000)
    retrieval_part = {k: full[k] for k in ("model", "split", "images", "queries", "retrieval",
                                            "machine", "date")}
    retrieval_part.update(seconds={"retrieval": 4000.0}, command="python -m r", wall_s=4100.0)
    samples_part = {k: v for k, v in full.items() if k != "retrieval"}
    samples_part.update(seconds={"iw_nll": 2000.0, "ssim": 1500.0}, command="python -m s",
                        wall_s=3600.0)
    os.makedirs(tmp_path / "results")
    for (model, split, extra, part), r in zip(tool.FULL_EVALUATIONS,
                                              (retrieval_part, samples_part)):
        path, _ = tool._paths(model, split, extra, part)
        assert path.endswith(f"aligndraw_mnist_captions.test.full-{part}.json")
        with open(path, "w") as f:
            json.dump(r, f)
    results = tool.load_results()
    assert len(results) == 2
    text = tool.render(results)
    ours = [l for l in text.splitlines() if "log p(x|y) - log p(x|y_mean)" in l
            and "test (10,000)" in l]
    assert len(ours) == 1 and "| 10.0 | 60.0 | 70.0 | 95.0 | 3 | 0.410 ± 0.200 |" in ours[0]
    assert "| aligndraw_mnist_captions | test (10,000 x 10) | 50.0% |" in text
    assert "`python -m r` | 68.3 min (retrieval 4000 s)" in text
    assert "`python -m s` | 60.0 min (iw_nll 2000 s, ssim 1500 s)" in text


def test_full_and_splits_pick_the_whole_split_runs(tool, monkeypatch):
    calls = []
    monkeypatch.setattr(tool, "evaluate", lambda *run: calls.append(run))
    monkeypatch.setattr(tool, "write_tables", lambda results: None)
    tool.FLAGS.full, tool.FLAGS.splits = ["all"], ["generalization"]
    tool.main([])
    assert {(model, split, part) for model, split, _, part in calls} == {
        (model, "generalization", part)
        for model in ("aligndraw_mnist_captions", "noaligndraw_mnist_captions",
                      "alignpixelrnn_mnist_captions") for part in ("retrieval", "samples")}
    pixel = [extra for model, _, extra, part in calls if "pixel" in model and part == "samples"]
    assert pixel == [["--metrics=nll,ssim,attention,nearest,captions"]]
    calls.clear()
    tool.FLAGS.full, tool.FLAGS.splits = ["retrieval"], []
    tool.FLAGS.only = ["aligndraw_mnist_captions"]
    tool.main([])
    assert [(split, part) for _, split, _, part in calls] == [
        ("test", "retrieval"), ("generalization", "retrieval")]
    calls.clear()
    tool.FLAGS.full, tool.FLAGS.splits, tool.FLAGS.only = ["samples"], ["test"], []
    tool.main([])
    assert {(model, split, part) for model, split, _, part in calls} == {
        (model, "test", "samples") for model in ("aligndraw_mnist_captions",
                                                 "noaligndraw_mnist_captions",
                                                 "alignpixelrnn_mnist_captions")}


def test_missing_only_skips_the_runs_that_have_a_json(tool, monkeypatch):
    calls = []
    monkeypatch.setattr(tool, "evaluate", lambda *run: calls.append(run))
    monkeypatch.setattr(tool, "write_tables", lambda results: None)
    tool.FLAGS.only, tool.FLAGS.missing_only = ["alignpixelrnn_mnist_captions"], True
    runs = [(m, s, e) for m, s, e in tool.EVALUATIONS if m == "alignpixelrnn_mnist_captions"]
    os.makedirs(tool.FLAGS.results_dir)
    for run in runs[1:]:
        with open(tool._paths(*run)[0], "w") as f:
            json.dump({}, f)
    tool.main([])
    assert calls == [(*runs[0], None)]
    calls.clear()
    tool.FLAGS.missing_only = False
    tool.main([])
    assert calls == [(*run, None) for run in runs]


def test_runs_picks_evaluations_by_name(tool, monkeypatch):
    calls = []
    monkeypatch.setattr(tool, "evaluate", lambda *run: calls.append(run))
    monkeypatch.setattr(tool, "write_tables", lambda results: None)
    tool.FLAGS.runs = ["*_8bit.test.*.t0.*", "draw_mnist.test.*"]
    tool.main([])
    assert [tool._run_name(*run) for run in calls] == [
        "draw_mnist.test.elbo-iw_nll-nearest",
        *(f"alignpixelrnn_mnist_captions_8bit.test.ssim-captions.t{t:g}"
          for t in tool.PIXEL_TEMPERATURES)]


def test_full_rejects_an_unknown_part(tool):
    tool.FLAGS.full = ["retrieval", "everything"]
    with pytest.raises(tool.app.UsageError, match="unknown part everything"):
        tool.main([])


def test_splits_rejects_an_unknown_split(tool, monkeypatch):
    monkeypatch.setattr(tool, "evaluate", lambda *run: pytest.fail("nothing should run"))
    tool.FLAGS.full, tool.FLAGS.splits = ["all"], ["test", "generalisation"]
    with pytest.raises(tool.app.UsageError, match="unknown split generalisation"):
        tool.main([])


def _render_with_oracle(tool, **row):
    """The tables of one alignDRAW test result beside an oracle JSON holding one row."""
    os.makedirs(tool.FLAGS.results_dir)
    with open(os.path.join(tool.FLAGS.results_dir, tool.ORACLE_JSON), "w") as f:
        json.dump({"rows": [{"split": "test", "images": 10000, "scenes": 232, **row}],
                   "command": "python tools/retrieval_oracle.py", "wall_s": 30,
                   "machine": "m", "date": "d"}, f)
    return tool.render({("aligndraw_mnist_captions", "test", "x"):
                        caption_result("aligndraw_mnist_captions", "test")})


def test_the_content_oracle_sits_in_the_retrieval_table(tool):
    text = _render_with_oracle(tool, queries=300, median_rank=3.0, mean_equals=22.3,
                               median_equals=7.0, **{"r@1": 26.4, "r@5": 62.2, "r@10": 69.7,
                                                     "r@50": 95.2})
    assert ("| MNIST with captions, test (300 of 10,000) | the true scene first, ties at random "
            "| 26.4 | 62.2 | 69.7 | 95.2 | 3 | |") in text
    assert "| content oracle (no model) | test | `python tools/retrieval_oracle.py` |" in text
    assert "content oracle, no model (tools/retrieval_oracle.py; the 60x60 pixel-space" in text


def test_oracle_rows_name_their_feature_space(tool):
    text = _render_with_oracle(tool, features="digit_cnn", queries=10000, median_rank=9.0,
                               mean_equals=47.9, median_equals=30.0,
                               **{"r@1": 9.1, "r@5": 36.2, "r@10": 52.9, "r@50": 79.4})
    assert ("| content oracle, no model (tools/retrieval_oracle.py; shortlists in a digit "
            "CNN's last fully-connected layer) | MNIST with captions, test (10,000) | the true "
            "scene first, ties at random | 9.1 | 36.2 | 52.9 | 79.4 | 9 | |") in text


def test_samples_at_a_lower_temperature_get_their_own_table(tool):
    base = caption_result("aligndraw_mnist_captions", "generalization")
    cool = {k: v for k, v in base.items() if k != "retrieval"}
    cool = {**cool, "temperature": 0.5, "ssim_mean": 0.52, "ssim_std": 0.15,
            "captions": {**base["captions"], "samples": {"scene_right": 0.6,
                                                         "scene_right (one digit)": 0.8,
                                                         "scene_right (two digits)": 0.45}}}
    name = "aligndraw_mnist_captions.generalization.ssim-captions.t0.5"
    assert tool._run_name("aligndraw_mnist_captions", "generalization",
                          ["--metrics=ssim,captions", "--temperature=0.5"]) == name
    text = tool.render({("aligndraw_mnist_captions", "generalization", "x"): base,
                        ("aligndraw_mnist_captions", "generalization", name): cool})
    table = text.split("### Samples at a lower prior temperature")[1].split("###")[0]
    assert ("| aligndraw_mnist_captions | generalization (1,000 x 10) | 1 | 0.410 ± 0.200 | "
            "50.0% | 70.0% | 30.0% |") in table
    assert ("| aligndraw_mnist_captions | generalization (1,000 x 10) | 0.5 | 0.520 ± 0.150 | "
            "60.0% | 80.0% | 45.0% |") in table
    captions = text.split("### Do the samples show")[1].split("###")[0]
    ours = [l for l in captions.splitlines() if l.startswith("| aligndraw_mnist_captions |")]
    assert len(ours) == 1 and "| 50.0% |" in ours[0]  # the papers' protocol: temperature 1


def test_heavy_runs_score_the_first_captions_only(tool, monkeypatch):
    seen = []

    class Done(Exception):
        pass

    def fake_run(args, **kwargs):
        seen.append(args)
        raise Done

    monkeypatch.setattr(tool.subprocess, "run", fake_run)
    tool.FLAGS.heavy_max_images = 300
    for extra in (["--metrics=ssim,captions", "--temperature=0.5"], ["--metrics=elbo"]):
        with pytest.raises(Done):
            tool.evaluate("aligndraw_mnist_captions", "test", extra)
    assert "--max_queries=300" in seen[0] and "--temperature=0.5" in seen[0]
    assert not any(a.startswith("--max_queries") for a in seen[1])
    with pytest.raises(Done):
        tool.evaluate(*tool.FULL_EVALUATIONS[0])
    assert "--max_queries=0" in seen[2] and "--iw_max_images=0" in seen[2]
