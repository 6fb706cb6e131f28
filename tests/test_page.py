"""The web page in a real browser (headless Chromium over the DevTools protocol, tests/chromium.py).

The shipped alignDRAW served by `python -m t2i_tf.serve --model=aligndraw_mnist_captions`
(exported once, for the module): a caption typed and drawn, the canvas read back through
JavaScript, the word lit at each step, an unknown word flagged, bad input answered with an
error on the page, and the page's link drawing the same again. The shipped alignPixelRNN
served by `python -m t2i_tf.serve --model=alignpixelrnn_mnist_captions`: the image filled
row by row, the finished canvas holding the served image's pixels, the word lit by each
row's attention, and a greedy drawing from a link. The page's other cases (a model without
captions, a model without a drawing signature) run against a small stand-in server with the
page's real routes. Skipped only when no chromium is installed.

PAGE_SCREENSHOTS=docs/images pytest tests/test_page.py writes the screenshots that
docs/PAGE.md shows (page.png, page_pixel.png).
"""

import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

import numpy as np
import pytest

from chromium import Browser, find_chromium
from test_binaries import ROOT
from test_serve import CAPTION, launch_server, request

pytestmark = pytest.mark.skipif(find_chromium() is None, reason=(
    "chromium is not installed (apt-get install -y chromium chromium-driver); the page's "
    "tests drive a real browser"))

STATE = "document.body.dataset.state"
# Over canvas k: grey pixels (the drawing) in its top and bottom halves, red ones (the window,
# or a pixel model's current row), blank ones (a pixel model's rows not drawn yet: page.js's
# BLANK).
PIXELS = """((k) => {
  const c = document.querySelectorAll('#samples-grid canvas')[k];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let top = 0, bottom = 0, red = 0, blank = 0, hash = 0;
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if (r === g && g === b && r > 128) { if (i / 4 < c.width * c.height / 2) top++; else bottom++; }
    if (r > 200 && g < 60 && b < 60) red++;
    if (r === 70 && g === 80 && b === 100) blank++;
    hash = (hash * 31 + r + 7 * g + 13 * b) >>> 0;
  }
  return {top, bottom, red, blank, hash,
          count: document.querySelectorAll('#samples-grid canvas').length};
})"""
# Canvas k's image pixels (h x w, raster order): the red channel at the centre of each
# scaled pixel (grey images: the pixel's value).
IMAGE = """((k, h, w) => {
  const c = document.querySelectorAll('#samples-grid canvas')[k];
  const s = c.width / w;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = [];
  for (let y = 0; y < h; y++) {
    const row = Math.floor((y + 0.5) * s) * c.width;
    for (let x = 0; x < w; x++) out.push(d[(row + Math.floor((x + 0.5) * s)) * 4]);
  }
  return out;
})"""


def screenshot(browser, name):
    """Writes the page to $PAGE_SCREENSHOTS/name when that variable names a folder."""
    if os.environ.get("PAGE_SCREENSHOTS"):
        with open(os.path.join(os.environ["PAGE_SCREENSHOTS"], name), "wb") as f:
            f.write(browser.screenshot())


def scrub(browser, step):
    browser.evaluate(f"(() => {{ const s = document.getElementById('scrubber'); "
                     f"s.value = '{step}'; s.dispatchEvent(new Event('input')); return 1; }})()")
    assert browser.evaluate("document.getElementById('player').dataset.step") == str(step)


def visible(browser, element):
    return browser.evaluate(f"getComputedStyle(document.getElementById('{element}')).display "
                            "!== 'none'")


def focus_word(browser, sample=0):
    return browser.evaluate(f"[...document.querySelectorAll('#samples-grid .words')[{sample}]"
                            ".children].findIndex(e => e.classList.contains('focus'))")


def draw(browser, **fields):
    """Types the fields (caption, seed, samples, temperature), presses Enter and waits for
    the page to play the drawing or show an error; returns the page's state."""
    for name, value in fields.items():
        browser.type_text(f"#{name}", value)
    browser.press_enter()
    return browser.wait_for(f"['playing', 'done', 'error'].includes({STATE}) && {STATE}",
                            timeout_s=300)


@pytest.fixture(scope="module")
def browser():
    with Browser() as opened:
        yield opened


def served_page(*flags):
    """Starts `python -m t2i_tf.serve` with flags; yields the page's URL; stops it (exit 0)."""
    proc, url = launch_server(*flags)
    yield url.split("/v1/")[0] + "/"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]


@pytest.fixture(scope="module")
def page_url():
    # --max_words=16: 8 serving_default buckets to compile at start-up instead of 32 (the
    # page draws through its own signature; its captions have at most 12 words).
    yield from served_page("--model=aligndraw_mnist_captions", "--max_batch=8",
                           "--max_words=16")


PIXEL_MODEL = "alignpixelrnn_mnist_captions"


@pytest.fixture(scope="module")
def pixel_page_url():
    # --max_batch=2 --max_words=16: two shapes to compile at start-up.
    yield from served_page(f"--model={PIXEL_MODEL}", "--max_batch=2", "--max_words=16")


def open_page(browser, url):
    browser.open(url)
    return browser.wait_for(f"{STATE} !== 'loading' && {STATE}")


def test_page_draws_the_caption_step_by_step(browser, page_url):
    assert open_page(browser, page_url) == "idle"
    assert browser.evaluate("document.getElementById('model-name').textContent") == (
        "aligndraw_mnist_captions")
    vocabulary = browser.evaluate("document.getElementById('vocabulary').textContent").split()
    assert "digit" in vocabulary and "top" in vocabulary and "<unk>" not in vocabulary
    assert not visible(browser, "method-row")  # the pixel models' field
    assert draw(browser, caption=CAPTION) == "playing"
    browser.wait_for(f"{STATE} === 'done'", timeout_s=60)
    assert browser.evaluate("document.getElementById('error').hidden")
    assert browser.evaluate("document.getElementById('step-label').textContent") == (
        "step 32 of 32")
    screenshot(browser, "page.png")
    final = browser.evaluate(f"{PIXELS}(0)")
    assert final["count"] == 8
    # Two digits, one in each half ("3 at the top of 1"), and the write window in red.
    assert final["top"] > 300 and final["bottom"] > 300 and final["red"] > 0, final
    scrub(browser, 1)
    first = browser.evaluate(f"{PIXELS}(0)")
    assert first["hash"] != final["hash"]  # the canvas grows step by step
    focus = []
    for step in range(1, 33):
        scrub(browser, step)
        focus.append(focus_word(browser))
    words = CAPTION.split()
    assert all(0 <= i < len(words) for i in focus)
    assert len(set(focus)) > 1, focus  # the lit word moves as the model draws
    link = browser.evaluate("document.getElementById('link').getAttribute('href')")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query == {"caption": [CAPTION], "seed": ["0"], "temperature": ["0.5"], "n": ["8"]}


def test_unknown_words_are_flagged_as_typed(browser, page_url):
    open_page(browser, page_url)
    browser.type_text("#caption", "the digit 7 is on the LEFT of the zebra .")
    unknown = browser.evaluate("[...document.querySelectorAll('#tokens .unknown')]"
                               ".map(e => e.textContent)")
    assert unknown == ["zebra"]  # "LEFT" is lower-cased as the graph does
    assert browser.evaluate("!document.getElementById('unknown-note').hidden")
    assert "zebra" in browser.evaluate("document.getElementById('unknown-note').textContent")
    browser.type_text("#caption", CAPTION)
    assert browser.evaluate("document.querySelectorAll('#tokens .unknown').length") == 0
    assert browser.evaluate("document.getElementById('unknown-note').hidden")


BAD_INPUT = [
    # (what, fields typed, a fragment of the error shown)
    ("empty caption", {"caption": "   "}, "no word"),
    ("temperature not a number", {"temperature": "abc"}, "Temperature must be a number"),
    ("negative temperature", {"temperature": "-1"}, "Temperature must be a number"),
    ("too many samples", {"samples": "17"}, "from 1 to 16"),
    ("seed not whole", {"seed": "1.5"}, "Seed must be a whole number"),
    # The page's checks pass; the server (--max_batch=8) refuses and the page says why.
    ("over the server's batch", {"samples": "16"}, "max_batch"),
]


@pytest.mark.parametrize("what,fields,fragment", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_shows_an_error_on_the_page(browser, page_url, what, fields, fragment):
    open_page(browser, page_url)
    assert draw(browser, **fields) == "error"
    error = browser.evaluate("document.getElementById('error').textContent")
    assert fragment in error, error
    assert browser.evaluate("!document.getElementById('error').hidden")
    assert not browser.evaluate("document.getElementById('form').hidden")
    assert not browser.evaluate("document.getElementById('draw').disabled")


def test_link_draws_the_same_again(browser, page_url):
    query = urllib.parse.urlencode({"caption": CAPTION, "seed": 3, "temperature": 0.5, "n": 8})
    assert open_page(browser, f"{page_url}?{query}") in ("drawing", "playing", "done")
    browser.wait_for(f"['playing', 'done'].includes({STATE})", timeout_s=300)
    scrub(browser, 32)
    linked = [browser.evaluate(f"{PIXELS}({k})")["hash"] for k in range(8)]
    assert browser.evaluate("document.getElementById('seed').value") == "3"
    open_page(browser, page_url)
    draw(browser, caption=CAPTION, seed="3")
    scrub(browser, 32)
    assert [browser.evaluate(f"{PIXELS}({k})")["hash"] for k in range(8)] == linked
    draw(browser, seed="4")
    scrub(browser, 32)
    assert browser.evaluate(f"{PIXELS}(0)")["hash"] != linked[0]


def served_images(page_url, signature, **instance):
    """The images uint8 (rows, 32, 32) of one predict call on the served pixel model."""
    from PIL import Image

    status, answer = request(f"{page_url}v1/models/{PIXEL_MODEL}:predict",
                             {"signature_name": signature, "instances": [instance]})
    assert status == 200, answer
    rows = answer["predictions"]
    if signature == "drawing":
        return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(
            row["image_png"]["b64"])))) for row in rows]), [row["log_prob"] for row in rows]
    return np.asarray([row["images"] for row in rows], np.uint8), [r["log_prob"] for r in rows]


def canvas_image(browser, k):
    return np.asarray(browser.evaluate(f"{IMAGE}({k}, 32, 32)"), np.uint8).reshape(32, 32)


def test_pixel_page_fills_the_image_row_by_row(browser, pixel_page_url):
    status, info = request(f"{pixel_page_url}page/model.json")
    assert status == 200, info
    assert (info["draws"], info["steps"], info["image_shape"], info["levels"]) == (
        "rows", 32, [32, 32], 2)
    assert info["methods"] == ["greedy", "sample", "beam"] and info["captions"]
    assert open_page(browser, pixel_page_url) == "idle"
    assert "row by row" in browser.evaluate("document.getElementById('model-about').textContent")
    assert browser.evaluate("document.getElementById('method').value") == "sample"
    assert visible(browser, "method-row")
    assert draw(browser, caption=CAPTION, samples="2") == "playing"
    browser.wait_for(f"{STATE} === 'done'", timeout_s=60)
    assert browser.evaluate("document.getElementById('step-label').textContent") == (
        "row 32 of 32")
    assert visible(browser, "legend-rows") and not visible(browser, "legend-canvases")
    final = browser.evaluate(f"{PIXELS}(0)")
    assert final["count"] == 2 and final["red"] > 0 and final["blank"] == 0, final
    assert final["top"] > 100 and final["bottom"] > 100, final  # a digit in each half
    # The finished canvases are the served images (serving_default, the same seed).
    images, log_prob = served_images(pixel_page_url, "serving_default", captions=CAPTION,
                                     num_samples=2, seed=0, temperature=0.5)
    for k in range(2):
        np.testing.assert_array_equal(canvas_image(browser, k), images[k])
    scores = browser.evaluate("[...document.querySelectorAll('#samples-grid .score')]"
                              ".map(e => e.textContent)")
    assert scores == [f"log p(x | y) = {v:.1f} nats" for v in log_prob]
    scrub(browser, 1)
    first = browser.evaluate(f"{PIXELS}(0)")
    assert first["blank"] > 0 and first["red"] > 0  # row 1 drawn, outlined, the rest blank
    assert first["top"] + first["bottom"] < final["top"] + final["bottom"]
    focus = []
    for row in range(1, 33):
        scrub(browser, row)
        focus.append(focus_word(browser))
    assert all(0 <= i < len(CAPTION.split()) for i in focus)
    assert len(set(focus)) > 1, focus  # the lit word moves as the rows fill
    scrub(browser, 20)
    screenshot(browser, "page_pixel.png")
    link = browser.evaluate("document.getElementById('link').getAttribute('href')")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query == {"caption": [CAPTION], "seed": ["0"], "temperature": ["0.5"], "n": ["2"],
                     "method": ["sample"]}


def test_pixel_page_link_draws_greedy(browser, pixel_page_url):
    query = urllib.parse.urlencode({"caption": CAPTION, "seed": 0, "temperature": 0.5,
                                    "n": 2, "method": "greedy"})
    assert open_page(browser, f"{pixel_page_url}?{query}") in ("drawing", "playing", "done")
    browser.wait_for(f"['playing', 'done'].includes({STATE})", timeout_s=120)
    assert browser.evaluate("document.getElementById('method').value") == "greedy"
    scrub(browser, 32)
    assert browser.evaluate(f"{PIXELS}(0)")["count"] == 1  # greedy: one image per caption
    images, _ = served_images(pixel_page_url, "drawing", captions=CAPTION, method="greedy")
    np.testing.assert_array_equal(canvas_image(browser, 0), images[0])
    # The softmax's temperature must be > 0: the page says so before asking the server.
    assert draw(browser, temperature="0") == "error"
    assert "Temperature must be a number > 0" in browser.evaluate(
        "document.getElementById('error').textContent")


def test_latency_benchmark_times_the_page_request(page_url):
    url = f"{page_url}v1/models/aligndraw_mnist_captions"
    result = subprocess.run([sys.executable, "benchmarks/page_latency.py", f"--url={url}",
                             "--requests=2", "--warmup_requests=0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["requests"] == 2 and out["num_samples"] == 8 and out["caption_words"] == 12
    assert 0 < out["latency_ms_min"] <= out["latency_ms_median"] <= out["latency_ms_max"]
    assert out["answer_bytes"] > 8 * 10000  # eight film strips of 32 canvases


# The page's other cases, against a stand-in for the server: the page's own routes
# (t2i_tf/serving/web_page.py) and a predict route answering a made-up drawing.

class _StandIn:
    """A model with these rest_codec signatures, answering `predictions` to any predict."""

    version = 1

    def __init__(self, signatures, predictions):
        self.signatures = signatures
        self.predictions = predictions


def _signature(name, inputs):
    from t2i_tf.serving import rest_codec

    return rest_codec.Signature(name, {k: rest_codec.TensorInfo(k, np.int32, ()) for k in inputs},
                                {}, {})


@pytest.fixture
def stand_in(tmp_path):
    """Starts a stand-in server for a _StandIn; yields a function model -> page URL."""
    from aiohttp import web

    from t2i_tf.serving import web_page

    loop = asyncio.new_event_loop()
    runners = []

    def serve(model):
        app = web.Application()
        web_page.add_routes(app, model, "stand_in", str(tmp_path))

        async def predict(request):
            return web.json_response({"predictions": model.predictions})

        app.router.add_post("/v1/models/stand_in:predict", predict)

        async def start():
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            return runner.addresses[0][1]

        port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        return f"http://127.0.0.1:{port}/"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield serve
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def _strip_png(steps, size):
    """A film strip of `steps` canvases: a white square that grows one pixel a step."""
    from PIL import Image

    strip = np.zeros((steps * size, size), np.uint8)
    for t in range(steps):
        strip[t * size + 4:t * size + 6 + t, 4:6 + t] = 255
    buffer = io.BytesIO()
    Image.fromarray(strip).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_page_of_a_model_without_captions(browser, stand_in, tmp_path):
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "t2i_tf_model.json").write_text(json.dumps(
        {"model": "draw", "steps": 4, "image_shape": [28, 28], "write_n": 5,
         "vocabulary": None}))
    row = {"canvases_png": {"b64": _strip_png(4, 28)}, "windows": [[10, 10, 8, 1]] * 4}
    model = _StandIn({"drawing": _signature("drawing", ["num_samples", "seed", "temperature"])},
                     [row, row])
    url = stand_in(model)
    assert open_page(browser, url) == "idle"
    assert browser.evaluate("document.getElementById('caption-row').hidden")
    assert draw(browser, samples="2") in ("playing", "done")
    browser.wait_for(f"{STATE} === 'done'", timeout_s=30)
    pixels = browser.evaluate(f"{PIXELS}(1)")
    assert pixels["count"] == 2 and pixels["top"] > 0 and pixels["red"] > 0
    assert browser.evaluate("document.querySelectorAll('#samples-grid .words').length") == 0
    assert "caption" not in browser.evaluate("document.getElementById('link').href")
    assert browser.evaluate("document.getElementById('legend-words').hidden")


def test_page_of_a_model_without_a_drawing_signature(browser, stand_in):
    model = _StandIn({"serving_default": _signature("serving_default", ["seed"])}, [])
    assert open_page(browser, stand_in(model)) == "unsupported"
    message = browser.evaluate("document.getElementById('message').textContent")
    assert 'no "drawing" signature' in message and "pixel models" in message
    assert browser.evaluate("document.getElementById('form').hidden")
