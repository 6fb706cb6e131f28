// The page of `python -m t2i_tf.serve`: asks the server's TF Serving API for a drawing
// (the SavedModel's "drawing" signature) and plays it step by step. The DRAW family
// (info.draws "canvases"): each sample's canvas at step t, the write window of step t, and
// the caption's words lit by their alignment weight. A pixel model (info.draws "rows"):
// each sample's image filled row by row, the current row outlined, the words lit by that
// row's mean weight.
"use strict";

const STEP_MS = 120;  // animation speed: one step per STEP_MS
const BLANK = "rgb(70, 80, 100)";  // a pixel model's rows not drawn yet
const MAX_SAMPLES = 16;
const INT32 = 2 ** 31;
const TEMPERATURE = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

const $ = (id) => document.getElementById(id);
const page = {info: null, known: null, drawing: null, step: 1, timer: null};

function setState(state) {
  document.body.dataset.state = state;
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = false;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// The graph's tokenisation: lower case, split on ASCII whitespace (serving_module.tokenize).
function tokenize(caption) {
  return caption.toLowerCase().split(/[ \t\n\r\f\v]+/).filter((w) => w.length > 0);
}

function isKnown(word) {
  return page.known === null || page.known.has(word);
}

function renderTokens() {
  const words = tokenize($("caption").value);
  const box = $("tokens");
  box.replaceChildren(...words.map((word) => {
    const span = document.createElement("span");
    span.className = isKnown(word) ? "token" : "token unknown";
    span.textContent = word;
    if (!isKnown(word)) span.title = "not in the vocabulary: the model reads it as <unk>";
    return span;
  }));
  const unknown = [...new Set(words.filter((w) => !isKnown(w)))];
  $("unknown-note").hidden = unknown.length === 0;
  $("unknown-note").textContent = unknown.length === 0 ? "" :
    `Unknown to the model (read as <unk>): ${unknown.join(", ")}`;
}

function showVocabulary(tokens) {
  const words = tokens.filter((w) => w !== "<pad>" && w !== "<unk>");
  page.known = new Set(words);
  $("vocabulary-size").textContent = String(words.length);
  $("vocabulary").textContent = words.join(" ");
  $("vocabulary-box").open = words.length <= 200;
}

// The form's values, checked; throws an Error whose message the page shows.
function readForm() {
  const params = {};
  if (page.info.captions) {
    params.caption = $("caption").value.trim();
    if (tokenize(params.caption).length === 0) {
      throw new Error("Type a caption: it has no word.");
    }
  }
  const seed = $("seed").value.trim();
  if (!/^[-+]?\d+$/.test(seed) || Math.abs(Number(seed)) >= INT32) {
    throw new Error(`Seed must be a whole number from ${-INT32} to ${INT32 - 1}, not "${seed}".`);
  }
  params.seed = Number(seed);
  const n = $("samples").value.trim();
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_SAMPLES) {
    throw new Error(`Samples must be a whole number from 1 to ${MAX_SAMPLES}, not "${n}".`);
  }
  params.n = Number(n);
  const temperature = $("temperature").value.trim();
  params.temperature = TEMPERATURE.test(temperature) ? Number(temperature) : NaN;
  if (!Number.isFinite(params.temperature) || (pixelModel() && params.temperature === 0)) {
    throw new Error(pixelModel() ?
      `Temperature must be a number > 0 (the softmax's: 1 samples the model's own ` +
      `distribution, lower draws its likelier pixels), not "${temperature}".` :
      `Temperature must be a number >= 0 (0.5 draws close to the prior's mean, ` +
      `1 samples the model's own prior), not "${temperature}".`);
  }
  if (page.info.methods) params.method = $("method").value;
  return params;
}

function pixelModel() {
  return page.info.draws === "rows";
}

function linkFor(params) {
  const query = new URLSearchParams();
  if (params.caption !== undefined) query.set("caption", params.caption);
  query.set("seed", String(params.seed));
  query.set("temperature", String(params.temperature));
  query.set("n", String(params.n));
  if (params.method !== undefined) query.set("method", params.method);
  return `${location.pathname}?${query}`;
}

async function decodeSample(row) {
  // One output (a model without attention nor captions): the row is the PNG itself.
  const key = pixelModel() ? "image_png" : "canvases_png";
  const fields = row && row.b64 !== undefined ? {[key]: row} : row;
  const png = fields[key];
  if (!png || typeof png.b64 !== "string") throw new Error(`the answer holds no ${key}`);
  const image = new Image();
  image.src = `data:image/png;base64,${png.b64}`;
  await image.decode();
  return {image, windows: fields.windows || null, attention: fields.attention || null,
          logProb: typeof fields.log_prob === "number" ? fields.log_prob : null};
}

async function draw(event) {
  if (event) event.preventDefault();
  hideError();
  let params;
  try {
    params = readForm();
  } catch (error) {
    showError(error.message);
    setState("error");
    return;
  }
  pause();
  setState("drawing");
  $("draw").disabled = true;
  const instance = {num_samples: params.n, seed: params.seed, temperature: params.temperature};
  if (page.info.captions) instance.captions = params.caption;
  if (params.method !== undefined) {
    instance.method = params.method;
    // greedy and beam search draw one image per caption: no copies of it
    if (params.method !== "sample") instance.num_samples = 1;
  }
  try {
    const answer = await fetch(`/v1/models/${encodeURIComponent(page.info.name)}:predict`, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({signature_name: page.info.drawing, instances: [instance]}),
    });
    let body = null;
    try {
      body = await answer.json();
    } catch (_) {
      body = null;
    }
    if (!answer.ok || !body || !Array.isArray(body.predictions)) {
      throw new Error(body && body.error ? `The server refused the drawing: ${body.error}` :
                      `The server answered ${answer.status} ${answer.statusText}.`);
    }
    const samples = await Promise.all(body.predictions.map(decodeSample));
    show(samples, params);
  } catch (error) {
    showError(error.message);
    setState("error");
  } finally {
    $("draw").disabled = false;
  }
}

function show(samples, params) {
  const first = samples[0];
  const rows = pixelModel();
  const steps = page.info.steps || (rows ? first.image.height :
                                    (first.attention || first.windows || []).length);
  if (!steps) throw new Error("the model's number of steps is unknown");
  const height = rows ? first.image.height : first.image.height / steps;
  const width = first.image.width;
  const scale = Math.max(1, Math.floor(240 / Math.max(height, width)));
  const words = page.info.captions ? tokenize(params.caption) : [];
  const grid = $("samples-grid");
  grid.replaceChildren();
  for (const [k, sample] of samples.entries()) {
    const tile = document.createElement("div");
    tile.className = "sample";
    const canvas = document.createElement("canvas");
    canvas.width = width * scale;
    canvas.height = height * scale;
    canvas.style.width = `${canvas.width}px`;
    canvas.style.height = `${canvas.height}px`;
    canvas.title = `sample ${k + 1}`;
    tile.append(canvas);
    sample.canvas = canvas;
    if (sample.attention) {
      const line = document.createElement("div");
      line.className = "words";
      sample.words = words.map((word) => {
        const span = document.createElement("span");
        span.className = isKnown(word) ? "word" : "word unknown";
        span.textContent = word;
        line.append(span);
        return span;
      });
      tile.append(line);
    }
    if (sample.logProb !== null) {
      const score = document.createElement("div");
      score.className = "score";
      score.textContent = `log p(x | y) = ${sample.logProb.toFixed(1)} nats`;
      score.title = "the image's log-likelihood under the model (at temperature 1)";
      tile.append(score);
    }
    grid.append(tile);
  }
  page.drawing = {samples, steps, height, width, scale, rows};
  $("scrubber").max = String(steps);
  $("link").href = linkFor(params);
  history.replaceState(null, "", linkFor(params));
  $("player").hidden = false;
  render(1);
  play();
}

// Shows step t (1..T) of every sample.
function render(t) {
  const d = page.drawing;
  page.step = t;
  for (const sample of d.samples) {
    const ctx = sample.canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    if (d.rows) {
      renderRows(ctx, sample.image, t, d);
    } else {
      ctx.drawImage(sample.image, 0, (t - 1) * d.height, d.width, d.height,
                    0, 0, d.width * d.scale, d.height * d.scale);
    }
    if (sample.windows) {
      const [x, y, span] = sample.windows[t - 1];
      const s = d.scale;
      ctx.strokeStyle = "rgb(255, 0, 0)";
      ctx.lineWidth = 2;
      ctx.strokeRect((x + 0.5 - span / 2) * s, (y + 0.5 - span / 2) * s, span * s, span * s);
      ctx.fillStyle = "rgb(255, 0, 0)";
      ctx.fillRect((x + 0.5) * s - 2, (y + 0.5) * s - 2, 4, 4);
    }
    const unit = d.rows ? "row" : "step";
    if (sample.attention && sample.words) {
      // Lit from the least attended word (clear) to the most (full orange): the weights
      // of a long caption are often close to uniform.
      const weights = sample.attention[t - 1];
      const top = Math.max(...weights);
      const low = Math.min(...weights);
      sample.words.forEach((span, i) => {
        const w = weights[i];
        const light = top > low ? (w - low) / (top - low) : 1;
        span.style.backgroundColor = `rgba(255, 165, 0, ${light.toFixed(3)})`;
        span.title = `alignment weight ${w.toFixed(3)} at ${unit} ${t}`;
        span.dataset.weight = w.toFixed(4);
        span.classList.toggle("focus", w === top);
      });
    }
  }
  $("scrubber").value = String(t);
  $("step-label").textContent = `${d.rows ? "row" : "step"} ${t} of ${d.steps}`;
  $("player").dataset.step = String(t);
}

// A pixel model at step t: image rows 0..t-1 drawn, the rest blank, row t-1 outlined.
function renderRows(ctx, image, t, d) {
  const s = d.scale;
  ctx.drawImage(image, 0, 0, d.width, t, 0, 0, d.width * s, t * s);
  ctx.fillStyle = BLANK;
  ctx.fillRect(0, t * s, d.width * s, (d.height - t) * s);
  ctx.strokeStyle = "rgb(255, 0, 0)";
  ctx.lineWidth = 2;
  ctx.strokeRect(1, (t - 1) * s - 1, d.width * s - 2, s + 2);
}

function play() {
  const d = page.drawing;
  if (!d) return;
  pause();
  if (page.step >= d.steps) render(1);
  setState("playing");
  $("play").textContent = "Pause";
  page.timer = setInterval(() => {
    if (page.step < d.steps) {
      render(page.step + 1);
    } else {
      pause();
      setState("done");
    }
  }, STEP_MS);
}

function pause() {
  if (page.timer !== null) clearInterval(page.timer);
  page.timer = null;
  $("play").textContent = "Play";
  if (page.drawing && document.body.dataset.state === "playing") setState("paused");
}

function fillFromQuery() {
  const query = new URLSearchParams(location.search);
  const fields = {caption: "caption", seed: "seed", n: "samples", temperature: "temperature",
                  method: "method"};
  for (const [key, id] of Object.entries(fields)) {
    if (query.has(key) && $(id)) $(id).value = query.get(key);
  }
  return query.has("caption") || query.has("seed");
}

async function init() {
  let info = null;
  try {
    const answer = await fetch("/page/model.json");
    info = await answer.json();
    if (!answer.ok) throw new Error(info.error || answer.statusText);
  } catch (error) {
    showMessage(`The server did not describe its model: ${error.message}`);
    setState("error");
    return;
  }
  page.info = info;
  $("model-name").textContent = info.name;
  const about = pixelModel() ?
    [info.model, info.image_shape && `${info.image_shape.join(" x ")} pixels`,
     info.levels && `${info.levels} levels`, "drawn pixel by pixel, row by row"] :
    [info.model, info.steps && `${info.steps} steps`,
     info.image_shape && `${info.image_shape.join(" x ")} pixels`];
  $("model-about").textContent = about.filter(Boolean).join(", ");
  if (!info.drawing) {
    showMessage(`${info.name} has no "drawing" signature (it has ${info.signatures.join(", ")}), ` +
                "so this page cannot show it drawing. Export the model again with " +
                "python -m t2i_tf.export: its exports of the DRAW family and of the pixel " +
                "models have one.");
    setState("unsupported");
    return;
  }
  if (info.captions) {
    if (info.vocabulary) showVocabulary(info.vocabulary);
    else $("vocabulary-box").hidden = true;
    $("caption").addEventListener("input", renderTokens);
  } else {
    $("caption-row").hidden = true;
    $("caption-row").replaceChildren();
    $("legend-words").hidden = true;
  }
  if (info.methods) {
    $("method").replaceChildren(...info.methods.map((m) => new Option(m, m, m === "sample",
                                                                      m === "sample")));
    $("method-row").hidden = false;
  }
  $(pixelModel() ? "legend-canvases" : "legend-rows").hidden = true;
  const asked = fillFromQuery();
  if (info.captions) renderTokens();
  $("form").hidden = false;
  $("form").addEventListener("submit", draw);
  $("play").addEventListener("click", () => (page.timer === null ? play() : pause()));
  $("scrubber").addEventListener("input", () => {
    pause();
    setState("paused");
    render(Number($("scrubber").value));
  });
  setState("idle");
  if (asked) draw();
}

init();
