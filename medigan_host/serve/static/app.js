/* medigan serve: the browser app. Plain JavaScript, no build step, no external URLs; it talks to /api/ only.
   Views: #/ (models, search, filters), #/models/<id> (card, sample grid, generate form), #/runs, #/runs/<id>. */
"use strict";

const view = document.getElementById("view");
const announcer = document.getElementById("announce");
let server = null;
let follow = null; // the EventSource of the run shown, closed when the view changes
let searchTimer = null;
const MAX_SHOWN = 48; // samples shown on a run's page (all of them are in its ZIP)

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function announce(text) { announcer.textContent = text; }

async function api(path, options) {
  const response = await fetch(path, Object.assign({ headers: { Accept: "application/json" }, credentials: "same-origin" }, options || {}));
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}

function show(title, ...nodes) {
  if (follow) { follow.close(); follow = null; }
  document.title = title ? `${title} · medigan` : "medigan";
  view.replaceChildren(...nodes);
}

function focusHeading() {
  const heading = view.querySelector("h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: false }); }
}

function markNav(name) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
}

function errorBox(message) { return h("p", { class: "notice", role: "alert" }, message); }

/* ---------------------------------------------------------------- models */

function currentQuery() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  return { q: params.get("q") || "", modality: params.get("modality") || "", framework: params.get("framework") || "",
           outputs: params.get("outputs") || "" };
}

async function modelsView(first) {
  markNav("models");
  const query = currentQuery();
  const data = await api("/api/models?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v)));
  const select = (name, label, values) => h("div", { class: "field" },
    h("label", { for: `f-${name}` }, label),
    h("select", { id: `f-${name}`, name, onchange: submitSearch },
      h("option", { value: "" }, "Any"),
      values.map((v) => h("option", { value: v, selected: v === query[name] }, v))));
  const form = h("form", { class: "search", role: "search", "aria-label": "Find models", onsubmit: submitSearch },
    h("div", { class: "field query" },
      h("label", { for: "q" }, "Search"),
      h("input", { id: "q", name: "q", type: "search", value: query.q, placeholder: "e.g. brain lesion, mammography",
                   autocomplete: "off", oninput: () => { clearTimeout(searchTimer); searchTimer = setTimeout(submitSearch, 350); } })),
    select("modality", "Modality", data.facets.modality),
    select("framework", "Framework", data.facets.framework),
    select("outputs", "Outputs", data.facets.outputs),
    h("button", { type: "submit" }, "Search"));
  const count = `${data.results.length} of ${data.total} models`;
  const corrected = Object.entries(data.corrections || {}).map(([a, b]) => `“${a}” read as “${b}”`).join(", ");
  const list = h("ul", { class: "models", id: "model-list" }, data.results.map(modelCard));
  const holder = document.getElementById("model-results");
  const results = h("section", { id: "model-results", "aria-label": "Models" },
    h("p", { class: "count", id: "model-count" }, count, corrected ? ` (${corrected})` : ""),
    data.results.length ? list : h("p", {}, "No model matches. Clear the search or a filter."));
  if (holder && !first) { // a new search: keep the form (and the focus in it), replace the results
    holder.replaceWith(results);
    announce(count);
    return;
  }
  show("Models", h("h1", {}, "Models"),
    h("p", { class: "muted" }, "Pretrained generative models for medical images installed on this server. Open one to see its card and samples, and to generate images."),
    form, results);
  if (!first) focusHeading();
}

function submitSearch(event) {
  if (event) event.preventDefault();
  const form = document.querySelector("form.search");
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  const hash = "#/" + (params.toString() ? "?" + params : "");
  if (location.hash !== hash) history.replaceState(null, "", hash);
  modelsView(false).catch((e) => announce(e.message));
}

function modelCard(model) {
  const size = model.image_size.join("×") + (model.channels > 1 ? `×${model.channels}` : "");
  return h("li", {}, h("article", { class: "model-card" },
    h("h2", {}, h("a", { href: `#/models/${encodeURIComponent(model.id)}` }, model.name)),
    h("span", { class: "id" }, model.id),
    h("ul", { class: "tags", "aria-label": "Properties" },
      h("li", {}, model.modality), h("li", {}, model.framework), h("li", {}, model.outputs), h("li", {}, size),
      model.input !== "noise" ? h("li", {}, `input: ${model.input}`) : null,
      model.remote_code ? h("li", { class: "warn" }, "runs remote code") : null),
    h("p", { class: "desc" }, model.description)));
}

/* ---------------------------------------------------------------- one model */

async function modelView(id) {
  markNav("models");
  const model = await api(`/api/models/${encodeURIComponent(id)}`);
  const card = model.card;
  const rows = [["id", model.id], ["modality", model.modality], ["anatomy", model.anatomy], ["framework", model.framework],
    ["image size", model.image_size.join(" × ") + ` × ${model.channels}`], ["outputs", model.outputs], ["input", model.input],
    ["architecture", card.architecture], ["dataset", card.dataset], ["license", card.license], ["version", card.version],
    ["conditions", Object.entries(card.conditions || {}).map(([k, v]) => `${k}: ${v.join(", ") || "free text"}`).join("; ")],
    ["plugin", `${model.plugin} ${model.plugin_version || ""}`], ["citation", card.citation], ["DOI", card.doi]]
    .filter(([, v]) => v !== undefined && v !== null && String(v).trim() !== "");
  const table = h("table", { class: "card-table" }, h("caption", { class: "visually-hidden" }, "Model card"),
    h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, String(v))))));
  let figure;
  if (!model.runnable) figure = errorBox(model.refused);
  else if (model.needs_inputs) figure = h("p", { class: "muted" }, `This model translates ${model.input} inputs: upload them below to see its images.`);
  else {
    const n = Math.min(8, server ? server.limits.max_grid : 8);
    figure = h("figure", {},
      h("img", { class: "grid-image", id: "grid", src: `/api/models/${encodeURIComponent(model.id)}/grid.png?n=${n}&seed=0`,
                 alt: `${n} samples of ${model.name} (run seed 0${model.outputs === "image+mask" ? ", masks overlaid in colour" : ""})`,
                 width: 512 }),
      h("figcaption", {}, `Samples 0–${n - 1} of run seed 0: the images `, h("code", {}, `medigan generate ${model.id} -n ${n} --seed 0`), " writes."));
  }
  show(model.name,
    h("a", { class: "back", href: "#/" }, "← All models"),
    h("h1", {}, model.name),
    h("p", { class: "muted" }, model.description),
    h("div", { class: "split" }, figure, table),
    generateForm(model));
  focusHeading();
}

function generateForm(model) {
  const max = server ? server.limits.max_samples : 1000;
  const fields = [
    h("div", { class: "field" }, h("label", { for: "g-n" }, "Number of images"),
      h("input", { id: "g-n", name: "num_samples", type: "number", min: 1, max, value: model.needs_inputs ? "" : 8,
                   required: !model.needs_inputs, "aria-describedby": "g-n-hint" }),
      h("span", { class: "hint", id: "g-n-hint" }, model.needs_inputs ? "Default: one per input" : `1 to ${max}`)),
    h("div", { class: "field" }, h("label", { for: "g-seed" }, "Seed"),
      h("input", { id: "g-seed", name: "seed", type: "number", min: 0, value: 0, required: true, "aria-describedby": "g-seed-hint" }),
      h("span", { class: "hint", id: "g-seed-hint" }, "Same seed, same images")),
  ];
  for (const [name, values] of Object.entries(model.card.conditions || {})) {
    const id = `g-c-${name}`;
    fields.push(h("div", { class: "field" }, h("label", { for: id }, `Condition: ${name}`),
      values.length
        ? h("select", { id, name: `condition.${name}` }, h("option", { value: "" }, "Not set"), values.map((v) => h("option", { value: String(v) }, String(v))))
        : h("input", { id, name: `condition.${name}`, type: "text" })));
  }
  fields.push(h("div", { class: "field" }, h("label", { for: "g-format" }, "Format"),
    h("select", { id: "g-format", name: "format" },
      model.formats.map((f) => h("option", { value: f, selected: f === model.default_format }, f)))));
  if (model.needs_inputs) {
    fields.push(h("div", { class: "field" }, h("label", { for: "g-inputs" }, `Inputs (${model.input})`),
      h("input", { id: "g-inputs", name: "inputs", type: "file", multiple: true, required: true,
                   accept: ".png,.jpg,.jpeg,.bmp,.tif,.tiff,.npy,.dcm,.nii,.gz" }),
      h("span", { class: "hint" }, "One file per image, all of one size")));
  }
  const message = h("p", { id: "g-error", class: "error", role: "alert", tabindex: "-1" });
  const button = h("button", { type: "submit", disabled: !model.runnable }, "Generate");
  const form = h("form", { class: "generate", "aria-labelledby": "g-title", onsubmit: (e) => startRun(e, model, form, message, button) },
    h("h2", { id: "g-title" }, "Generate"), h("div", { class: "form-grid" }, fields), button, message);
  return form;
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function startRun(event, model, form, message, button) {
  event.preventDefault();
  message.textContent = "";
  const data = new FormData(form);
  const body = { model: model.id, seed: Number(data.get("seed") || 0), format: data.get("format") };
  if (data.get("num_samples")) body.num_samples = Number(data.get("num_samples"));
  const condition = {};
  for (const [key, value] of data) if (key.startsWith("condition.") && value) condition[key.slice(10)] = value;
  if (Object.keys(condition).length) body.condition = condition;
  if (model.needs_inputs) {
    const files = Array.from(form.querySelector("#g-inputs").files);
    body.inputs = await Promise.all(files.map(async (f) => ({ name: f.name, data: await readBase64(f) })));
  }
  button.disabled = true;
  try {
    const run = await api("/api/runs", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                                         body: JSON.stringify(body) });
    location.hash = `#/runs/${run.id}`;
  } catch (error) {
    message.textContent = error.message;
    button.disabled = false;
    message.focus();
  }
}

/* ---------------------------------------------------------------- runs */

async function runsView() {
  markNav("runs");
  const data = await api("/api/runs");
  const body = data.runs.map((run) => h("tr", {},
    h("td", {}, h("a", { href: `#/runs/${run.id}` }, run.id)), h("td", {}, run.model),
    h("td", {}, h("span", { class: `state ${run.status}` }, run.status)), h("td", {}, `${run.done} / ${run.num_samples}`),
    h("td", {}, run.created)));
  show("Runs", h("h1", {}, "Runs"),
    data.runs.length
      ? h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Runs (scrolls sideways on narrow screens)" }, h("table", { class: "runs-table" },
          h("thead", {}, h("tr", {}, ["Run", "Model", "State", "Samples", "Started"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, body)))
      : h("p", {}, "No runs yet. Open a model to generate images."));
  focusHeading();
}

async function runView(id) {
  markNav("runs");
  const run = await api(`/api/runs/${encodeURIComponent(id)}`);
  const bar = h("progress", { id: "run-progress", max: run.num_samples, value: run.done, "aria-labelledby": "run-progress-label" });
  const label = h("span", { id: "run-progress-label" });
  const state = h("span", { class: "state", id: "run-state" });
  const actions = h("div", { class: "actions" });
  const samples = h("ul", { class: "samples", id: "samples", "aria-label": "Samples" });
  const error = h("p", { class: "error", id: "run-error" });
  show(`Run ${run.id}`,
    h("a", { class: "back", href: "#/runs" }, "← All runs"),
    h("h1", {}, `Run of ${run.model}`),
    h("p", { class: "muted" }, `Run ${run.id} · ${run.num_samples} samples · seed ${run.seed} · ${run.format}`,
      run.condition ? ` · ${Object.entries(run.condition).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""),
    h("div", { class: "progress-line" }, bar, label, state), error, actions,
    h("h2", {}, "Images"), samples);
  focusHeading();
  let shown = -1;
  const update = async (current) => {
    bar.value = current.done;
    label.textContent = `${current.done} of ${current.num_samples} samples`;
    state.textContent = current.status;
    state.className = `state ${current.status}`;
    error.textContent = current.error || "";
    if (current.status === shown) return;
    shown = current.status;
    announce(`Run ${current.status}: ${current.done} of ${current.num_samples} samples`);
    actions.replaceChildren(...runActions(current));
    if (current.status === "done" || current.status === "cancelled" || current.status === "failed") await showSamples(current, samples);
    else samples.replaceChildren(h("li", { class: "muted" }, "The images appear here when the run is done."));
  };
  await update(run);
  if (run.status === "queued" || run.status === "running") {
    follow = new EventSource(`/api/runs/${encodeURIComponent(run.id)}/events`);
    follow.addEventListener("progress", (event) => update(JSON.parse(event.data)));
    follow.onerror = () => { if (follow) { follow.close(); follow = null; } api(`/api/runs/${encodeURIComponent(run.id)}`).then(update).catch(() => {}); };
  }
}

function runActions(run) {
  const items = [];
  if (run.status === "queued" || run.status === "running") {
    items.push(h("button", { type: "button", class: "danger", onclick: () => api(run.urls.cancel, { method: "POST" }).catch((e) => announce(e.message)) }, "Cancel"));
  }
  if (run.status === "cancelled" || run.status === "failed") {
    items.push(h("button", { type: "button", class: "secondary", onclick: () => api(run.urls.resume, { method: "POST" }).then(() => runView(run.id)).catch((e) => announce(e.message)) }, "Resume"));
  }
  if (run.status === "done") {
    items.push(h("a", { class: "button", id: "zip-link", href: run.urls.zip, download: `medigan-run-${run.id}.zip` }, "Download ZIP"));
    items.push(h("a", { class: "button secondary", href: run.urls.manifest }, "Manifest"));
  }
  items.push(h("span", { class: "muted" }, "Folder on the server: ", h("code", { id: "run-folder" }, run.folder)));
  return items;
}

async function showSamples(run, list) {
  const manifest = await api(run.urls.manifest);
  if (!manifest.records.length) { list.replaceChildren(h("li", { class: "muted" }, "No sample was written.")); return; }
  const shown = manifest.records.slice(0, MAX_SHOWN);
  const more = manifest.records.length - shown.length;
  list.replaceChildren(...shown.map((record) => {
    const files = record.files || {};
    return h("li", {}, h("figure", {},
      h("img", { src: `/api/runs/${encodeURIComponent(run.id)}/preview/${record.index}.png`, loading: "lazy",
                 alt: `Sample ${record.index} (seed ${record.seed})${files.mask ? ", mask overlaid in colour" : ""}` }),
      h("figcaption", {}, h("span", {}, `#${record.index}`),
        h("a", { href: `/api/runs/${encodeURIComponent(run.id)}/files/${files.image}` }, "image"),
        files.mask ? h("a", { href: `/api/runs/${encodeURIComponent(run.id)}/files/${files.mask}` }, "mask") : null)));
  }), ...(more > 0 ? [h("li", { class: "muted" }, `The first ${shown.length} of ${manifest.records.length} samples are shown; all of them are in the ZIP and the folder.`)] : []));
}

/* ---------------------------------------------------------------- routing */

async function route(first) {
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  try {
    if (path === "/" || path === "") await modelsView(first);
    else if (path.startsWith("/models/")) await modelView(decodeURIComponent(path.slice(8)));
    else if (path === "/runs") await runsView();
    else if (path.startsWith("/runs/")) await runView(decodeURIComponent(path.slice(6)));
    else show("Not found", h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "See the models")));
  } catch (error) {
    show("Error", h("h1", {}, "Something went wrong"), errorBox(error.message), h("p", {}, h("a", { href: "#/" }, "Back to the models")));
    focusHeading();
  }
}

async function start() {
  try {
    server = await api("/api/server");
    document.getElementById("server-line").textContent =
      `medigan ${server.version} · up to ${server.limits.max_samples} images per run, ${server.limits.max_runs} runs at once` +
      (server.trust_remote_code ? " · remote-code models allowed" : "");
  } catch (error) { server = null; }
  window.addEventListener("hashchange", () => route(false));
  await route(true);
}

start();
