// The paint page. The label map lives in `state.ids` (one class id per canvas pixel, row-major);
// the canvas only shows it, written pixel by pixel with exact palette colours (no canvas stroke
// API, so no antialiasing can mix colours), and the ids themselves are what is sent.
"use strict";

(() => {
  const MAX_UNDO = 40;
  const $ = (id) => document.getElementById(id);
  const state = {
    classes: [], colors: [], width: 0, height: 0, ids: null, cls: 0, tool: "brush", size: 16,
    undo: [], ref: null, drawing: false, last: null, busy: false, modelSize: null,
  };
  let canvas, ctx, image;

  function showMessage(text, kind = "error") {
    const box = $("message");
    box.textContent = text || "";
    box.className = kind;
    box.hidden = !text;
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  }

  function toBase64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  function fromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // ---- canvas and label map ----
  function setMap(width, height, ids) {
    state.width = width; state.height = height; state.ids = ids;
    canvas.width = width; canvas.height = height;
    image = ctx.createImageData(width, height);
    paintPixels(0, 0, width, height);
    $("canvas-size").textContent = `Canvas ${width}x${height}; the model paints at ${state.modelSize.join("x")}.`;
  }

  function paintPixels(x0, y0, w, h) {
    const data = image.data, ids = state.ids, colors = state.colors, width = state.width;
    for (let y = y0; y < y0 + h; y++) {
      for (let p = y * width + x0, end = p + w; p < end; p++) {
        const c = colors[ids[p]];
        data[4 * p] = c[0]; data[4 * p + 1] = c[1]; data[4 * p + 2] = c[2]; data[4 * p + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0, x0, y0, w, h);
  }

  function pushUndo() {
    state.undo.push({ width: state.width, height: state.height, ids: state.ids.slice() });
    if (state.undo.length > MAX_UNDO) state.undo.shift();
    $("undo").disabled = false;
  }

  function undo() {
    const last = state.undo.pop();
    if (last) setMap(last.width, last.height, last.ids);
    $("undo").disabled = state.undo.length === 0;
  }

  function stamp(cx, cy) {
    // a disc of diameter state.size centred at (cx, cy) in canvas pixels, hard-edged
    const r = state.size / 2, r2 = r * r;
    const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(state.width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(state.height - 1, Math.ceil(cy + r));
    if (x1 < x0 || y1 < y0) return;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        if (dx * dx + dy * dy <= r2) state.ids[y * state.width + x] = state.cls;
      }
    }
    paintPixels(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  }

  function strokeTo(point) {
    const from = state.last || point;
    const distance = Math.hypot(point.x - from.x, point.y - from.y);
    const steps = Math.max(1, Math.ceil(distance / Math.max(1, state.size / 4)));
    for (let i = 1; i <= steps; i++) {
      stamp(from.x + (point.x - from.x) * i / steps, from.y + (point.y - from.y) * i / steps);
    }
    state.last = point;
  }

  function fill(x, y) {
    // 4-connected flood fill of the region of (x, y)'s class
    const { width, height, ids } = state, target = ids[y * width + x];
    if (target === state.cls) return;
    const stack = new Int32Array(width * height);
    let top = 0;
    stack[top++] = y * width + x;
    ids[y * width + x] = state.cls;
    while (top > 0) {
      const p = stack[--top], px = p % width;
      const next = [px > 0 ? p - 1 : -1, px < width - 1 ? p + 1 : -1, p - width, p + width];
      for (const q of next) {
        if (q >= 0 && q < width * height && ids[q] === target) { ids[q] = state.cls; stack[top++] = q; }
      }
    }
    paintPixels(0, 0, width, height);
  }

  function canvasPoint(event) {
    const rect = canvas.getBoundingClientRect();
    return { x: (event.clientX - rect.left) * canvas.width / rect.width,
             y: (event.clientY - rect.top) * canvas.height / rect.height };
  }

  function onPointerDown(event) {
    if (event.button !== 0) return;
    const point = canvasPoint(event);
    pushUndo();
    if (state.tool === "fill") {
      const x = Math.min(state.width - 1, Math.floor(point.x)), y = Math.min(state.height - 1, Math.floor(point.y));
      fill(Math.max(0, x), Math.max(0, y));
      return;
    }
    state.drawing = true;
    state.last = null;
    canvas.setPointerCapture(event.pointerId);
    strokeTo(point);
  }

  function onPointerMove(event) {
    if (state.drawing) strokeTo(canvasPoint(event));
  }

  function onPointerUp() {
    state.drawing = false;
    state.last = null;
  }

  // ---- palette and tools ----
  function selectClass(id) {
    state.cls = id;
    for (const button of document.querySelectorAll(".swatch-button")) {
      const active = Number(button.dataset.classId) === id;
      button.classList.toggle("active", active);
      button.setAttribute("aria-checked", String(active));
    }
    $("current-class").textContent = `Painting: ${state.classes[id].name}`;
  }

  function buildPalette() {
    const palette = $("palette");
    for (const cls of state.classes) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "swatch-button";
      button.dataset.classId = String(cls.id);
      button.dataset.className = cls.name;
      button.setAttribute("role", "radio");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = cls.color;
      const name = document.createElement("span");
      name.textContent = cls.name;
      const id = document.createElement("span");
      id.className = "swatch-id";
      id.textContent = String(cls.id);
      button.append(swatch, name, id);
      button.addEventListener("click", () => selectClass(cls.id));
      palette.append(button);
    }
  }

  function selectTool(tool) {
    state.tool = tool;
    for (const button of document.querySelectorAll(".tool")) {
      button.classList.toggle("active", button.dataset.tool === tool);
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
  }

  // ---- uploads ----
  function postFile(path, file) {
    return api(path, { method: "POST", body: file, headers: { "X-Filename": encodeURIComponent(file.name) } });
  }

  async function uploadLabel(file) {
    showMessage("");
    try {
      const label = await postFile("/api/label", file);
      pushUndo();
      setMap(label.width, label.height, fromBase64(label.mask));
      const [mw, mh] = state.modelSize;
      const skew = Math.abs(label.width / label.height - mw / mh) > 0.01;
      showMessage(`Loaded ${file.name} (${label.width}x${label.height}).` +
        (skew ? ` Its aspect ratio differs from the model's ${mw}x${mh}: the layout will be stretched.` : ""), "info");
    } catch (err) {
      showMessage(err.message);
    }
  }

  function setRef(ref, previewUrl) {
    state.ref = ref;
    const preview = $("ref-preview");
    preview.hidden = !previewUrl;
    if (previewUrl) preview.src = previewUrl; else preview.removeAttribute("src");
    $("ref-none").hidden = Boolean(previewUrl);
    for (const button of document.querySelectorAll("#examples button")) {
      button.classList.toggle("active", Boolean(ref && ref.example === button.dataset.name));
    }
  }

  async function uploadRef(file) {
    showMessage("");
    try {
      const ref = await postFile("/api/ref", file);
      setRef({ ref: ref.ref }, URL.createObjectURL(file));
    } catch (err) {
      showMessage(err.message);
    }
  }

  function buildExamples(names) {
    const box = $("examples");
    for (const name of names) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.name = name;
      button.title = name;
      const img = document.createElement("img");
      img.src = `/api/examples/${encodeURIComponent(name)}`;
      img.alt = name;
      button.append(img);
      button.addEventListener("click", () => setRef({ example: name }, img.src));
      box.append(button);
    }
  }

  function dropTarget(element, onFile) {
    element.addEventListener("dragover", (event) => { event.preventDefault(); element.classList.add("dragging"); });
    element.addEventListener("dragleave", () => element.classList.remove("dragging"));
    element.addEventListener("drop", (event) => {
      event.preventDefault();
      element.classList.remove("dragging");
      if (event.dataTransfer.files.length) onFile(event.dataTransfer.files[0]);
    });
  }

  function fileInput(input, onFile) {
    input.addEventListener("change", () => {
      if (input.files.length) onFile(input.files[0]);
      input.value = "";
    });
  }

  // ---- generation ----
  function readOptions() {
    return {
      sampler: $("sampler").value, steps: Number($("steps").value),
      guidance_mask: Number($("guidance-mask").value), guidance_ref: Number($("guidance-ref").value),
      ref_strength: Number($("ref-strength").value), seed: Number($("seed").value),
      color_match: $("color-match").checked,
    };
  }

  function showProgress(status) {
    const bar = $("progress"), text = $("progress-text");
    bar.hidden = false;
    if (status.state === "queued") {
      bar.removeAttribute("value");
      text.textContent = status.ahead ? `Waiting: ${status.ahead} ahead in the queue` : "Starting…";
    } else if (status.state === "running") {
      bar.max = Math.max(1, status.total);
      bar.value = status.step;
      text.textContent = `Step ${status.step} of ${status.total}`;
    } else if (status.state === "done") {
      bar.max = 1; bar.value = 1;
      text.textContent = `Done in ${status.seconds.toFixed(1)} s`;
    }
  }

  async function waitFor(jobId) {
    for (;;) {
      const status = await api(`/api/jobs/${jobId}`);
      showProgress(status);
      if (status.state === "done") return status;
      if (status.state === "error") throw new Error(status.error);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  function showResult(jobId) {
    const result = $("result"), base = `/api/jobs/${jobId}`;
    result.dataset.loaded = "";
    result.onload = () => { result.hidden = false; result.dataset.loaded = jobId; };
    result.src = `${base}/image.png`;
    $("download-image").href = `${base}/image.png`;
    $("download-image").download = `landscape_${jobId}.png`;
    $("download-mask").href = `${base}/mask.png`;
    $("download-mask").download = `landscape_${jobId}_label.png`;
    $("downloads").hidden = false;
  }

  async function generate() {
    if (state.busy) return;
    state.busy = true;
    $("generate").disabled = true;
    showMessage("");
    $("progress-text").textContent = "Sending…";
    try {
      const payload = { width: state.width, height: state.height, mask: toBase64(state.ids),
                        options: readOptions(), ...(state.ref || {}) };
      const job = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(payload) });
      showProgress(job);
      await waitFor(job.job);
      showResult(job.job);
    } catch (err) {
      showMessage(err.message);
      $("progress").hidden = true;
      $("progress-text").textContent = "";
    } finally {
      state.busy = false;
      $("generate").disabled = false;
    }
  }

  function fillSettings(config) {
    const d = config.defaults;
    for (const name of config.samplers) $("sampler").append(new Option(name, name, false, name === d.sampler));
    $("steps").value = d.steps; $("steps").max = config.limits.max_steps;
    $("guidance-mask").value = d.guidance_mask; $("guidance-ref").value = d.guidance_ref;
    $("ref-strength").value = d.ref_strength; $("seed").value = d.seed;
    $("color-match").checked = d.color_match;
  }

  function wire() {
    canvas.addEventListener("pointerdown", onPointerDown);
    canvas.addEventListener("pointermove", onPointerMove);
    canvas.addEventListener("pointerup", onPointerUp);
    canvas.addEventListener("pointercancel", onPointerUp);
    for (const button of document.querySelectorAll(".tool")) button.addEventListener("click", () => selectTool(button.dataset.tool));
    $("brush-size").addEventListener("change", () => { state.size = Number($("brush-size").value); });
    $("undo").addEventListener("click", undo);
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") { event.preventDefault(); undo(); }
    });
    fileInput($("label-file"), uploadLabel);
    fileInput($("ref-file"), uploadRef);
    dropTarget($("canvas-wrap"), uploadLabel);
    dropTarget($("ref-drop"), uploadRef);
    $("ref-clear").addEventListener("click", () => setRef(null, null));
    $("seed-random").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 2 ** 31); });
    $("generate").addEventListener("click", generate);
  }

  async function start() {
    canvas = $("canvas");
    ctx = canvas.getContext("2d", { willReadFrequently: true });
    try {
      const config = await api("/api/config");
      state.classes = config.classes;
      state.colors = config.classes.map((c) => [1, 3, 5].map((i) => parseInt(c.color.slice(i, i + 2), 16)));
      state.modelSize = config.model_size;
      state.size = Number($("brush-size").value);
      $("model-info").textContent = `model ${config.model_size.join("x")} · ${config.classes.length} classes`;
      buildPalette();
      buildExamples(config.examples);
      fillSettings(config);
      const sky = config.classes.find((c) => c.name === "sky");
      const ids = new Uint8Array(config.canvas.width * config.canvas.height).fill(sky ? sky.id : 0);
      setMap(config.canvas.width, config.canvas.height, ids);
      selectClass(sky ? sky.id : 0);
      wire();
      document.body.dataset.ready = "1";
    } catch (err) {
      showMessage(`The page could not start: ${err.message}`);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
