// The explorer of one study (longtail.reporting.explorer writes data.js beside this file).
// Views by URL hash:  #  the study  |  #grid?split=train&class=3&flipped=1&disagree=1&sort=mem
// |  #example/train/6791.  Plain DOM, no library, nothing loaded from elsewhere.
(function () {
  "use strict";
  const D = window.LONGTAIL_EXPLORER;
  const app = document.getElementById("app");
  const PAGE = 400;          // thumbnails per grid page
  const CELL = 56;           // thumbnail size in the grid (px)
  const SMALL = 40;          // thumbnail size in tables
  const LARGE = 224;         // the example's image
  const SORTS = {            // sort keys: [field, label, splits]
    index: ["index", "index", ["train", "test"]],
    mem: ["mem", "mem (highest first)", ["train"]],
    p_out: ["p_out", "p_out (highest first)", ["train"]],
    mem_se: ["mem_se", "mem se (highest first)", ["train"]],
    count: ["count", "influence count (highest first)", ["train", "test"]],
  };

  // ---- helpers -------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "style") Object.assign(node.style, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
  const pm = (x, se) => (se === null || se === undefined ? fmt(x) : `${fmt(x)} ± ${fmt(se)}`);
  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
  const className = (c) => (D.classes[c] !== undefined ? `${c} (${D.classes[c]})` : String(c));
  const size = (split) => D[split].label.length;
  const other = (split) => (split === "train" ? "test" : "train");
  const exampleHash = (split, i) => `#example/${split}/${i}`;

  // ---- pairs, indexed once -------------------------------------------------------------------
  const pairs = D.pairs || { train: [], test: [], infl: [], se: [], mem: [] };
  const pairSet = new Set();
  const pairsOf = { train: new Map(), test: new Map() };
  pairs.train.forEach((i, p) => {
    const j = pairs.test[p];
    pairSet.add(`${i}:${j}`);
    for (const [split, key] of [["train", i], ["test", j]]) {
      if (!pairsOf[split].has(key)) pairsOf[split].set(key, []);
      pairsOf[split].get(key).push(p);
    }
  });
  const isPair = (split, i, j) => pairSet.has(split === "train" ? `${i}:${j}` : `${j}:${i}`);

  // ---- thumbnails from the sprite sheets -----------------------------------------------------
  function thumb(split, i, px) {
    const t = D.thumb;
    if (!t) {
      return el("span", { class: "thumb noimg", style: { width: `${px}px`, height: `${px}px` } },
                `${split} ${i}`);
    }
    const perSheet = t.columns * t.columns;
    const cell = i % perSheet;
    const scale = px / Math.max(t.width, t.height);
    const w = t.width * scale, h = t.height * scale;
    return el("span", {
      class: "thumb", role: "img", "aria-label": `${split} example ${i}`,
      style: {
        width: `${w}px`, height: `${h}px`,
        backgroundImage: `url("${t.sheets[split][Math.floor(i / perSheet)]}")`,
        backgroundPosition: `${-(cell % t.columns) * w}px ${-Math.floor(cell / t.columns) * h}px`,
        backgroundSize: `${t.columns * w}px auto`,
      },
    });
  }

  // ---- the study -----------------------------------------------------------------------------
  function verdict() {
    const s = D.summary || {};
    if (s.replicates === undefined) {
      return el("span", { id: "verdict" },
                "not checked (no trials to split in halves, e.g. released estimates)");
    }
    const yes = s.replicates;
    return el("span", { class: yes ? "verdict-yes" : "verdict-no", id: "verdict" },
              yes ? "the selection replicates" : "the selection does not replicate",
              ` (split-half Jaccard of the pairs ${fmt(s.jaccard_pairs, 2)}, target ` +
              `${fmt(s.replicates_target, 2)})`);
  }

  function studyView() {
    const a = D.about || {}, s = D.summary || {}, r = D.reliability || {};
    const rows = [
      ["dataset", a.dataset ?? D.attrs.dataset],
      ["architecture", a.arch ?? D.attrs.arch],
      ["training / test examples", `${size("train")} / ${size("test")}`],
      ["trials t (valid)", a.trials !== undefined ? `${a.trials} (${a.valid_trials})` : null],
      ["subset size m", a.m],
      ["label noise", a.label_noise],
      ["models' fit of their subsets", s.models_fit !== undefined ? pct(s.models_fit) : null],
      ["test accuracy", s.models_test_accuracy !== undefined ? pct(s.models_test_accuracy)
        : (a.test_accuracy_mean !== undefined && a.test_accuracy_mean !== null
          ? pct(a.test_accuracy_mean) : null)],
      ["influence estimated", D.influence],
      ["θ_mem", s.mem_threshold !== undefined
        ? `${s.mem_threshold}${s.mem_threshold_mode ? ` (${s.mem_threshold_mode})` : ""}` : null],
      ["θ_infl", s.infl_threshold !== undefined
        ? `${s.infl_threshold}${s.infl_threshold_mode ? ` (${s.infl_threshold_mode})` : ""}`
        : null],
      ["memorized (mem ≥ θ_mem)", s.n_memorized !== undefined
        ? `${s.n_memorized} (${fmt(s.pct_memorized, 2)}%)` : null],
      ["high-influence pairs", s.n_pairs !== undefined
        ? `${s.n_pairs} (${s.n_test_examples} test examples, ${s.n_train_examples} training ` +
          "examples)" : null],
      ["pairs expected by chance", s.n_pairs_chance ?? (r.chance ? r.chance.at_used : null)],
      ["split-half Jaccard, memorized set", s.jaccard_memorized !== undefined
        ? fmt(s.jaccard_memorized) : null],
      ["split-half Jaccard, pairs", s.jaccard_pairs !== undefined ? fmt(s.jaccard_pairs) : null],
      ["replication", verdict()],
      ["trained until", s.trials_until ? `${s.trials_until.set} reach Jaccard ` +
        `${s.trials_until.target}: ${s.trials_until.reached ? "reached" : "not reached"} at ` +
        `t = ${s.trials_until.t} after ${s.trials_until.rounds} rounds` : null],
    ];
    const facts = el("table", { class: "facts", id: "description" },
      rows.filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
    const curve = D.figures.find((f) => f.split("/").pop().startsWith("trials_curve_"));
    const notes = [s.reliability_note, s.fit_warning].filter(Boolean)
      .map((text) => el("p", { class: "note" }, text));
    return [
      el("h1", {}, `Study ${D.study}`), facts, ...notes,
      el("p", {}, el("a", { href: "#grid?split=train" }, `Browse the ${size("train")} training examples`),
        " · ", el("a", { href: "#grid?split=test" }, `the ${size("test")} test examples`)),
      pairsTable(),
      curve ? el("h2", {}, "The trials curve: how many trials the selections need") : null,
      curve ? el("img", { id: "trials-curve", src: curve, alt: "split-half Jaccard against " +
        "the trials t, a line per threshold" }) : null,
      D.figures.length ? el("h2", {}, "Figures") : null,
      D.figures.length ? el("ul", { id: "figures" }, D.figures.map((f) =>
        el("li", {}, el("a", { href: f }, f.split("/").pop())))) : null,
    ];
  }

  function pairsTable() {
    const order = pairs.train.map((_, p) => p).sort((p, q) => pairs.infl[q] - pairs.infl[p]);
    const shown = order.slice(0, 200);
    const s = D.summary || {};
    return [
      el("h2", {}, `High-influence pairs (${order.length})`),
      el("p", { class: "note" }, `Memorized training examples (mem ≥ ${s.mem_threshold ?? "θ_mem"})` +
         ` and same-class test examples they influence (infl ≥ ${s.infl_threshold ?? "θ_infl"}).` +
         " Replication: ", verdict(), ". Strongest first",
         order.length > shown.length ? `; the first ${shown.length} shown.` : "."),
      el("table", { id: "pairs" },
        el("tr", {}, ["training example", "test example", "label", "mem", "infl ± se"]
          .map((k) => el("th", {}, k))),
        shown.map((p) => el("tr", { class: "pair" },
          el("td", {}, el("a", { href: exampleHash("train", pairs.train[p]) },
            thumb("train", pairs.train[p], SMALL), ` ${pairs.train[p]}`)),
          el("td", {}, el("a", { href: exampleHash("test", pairs.test[p]) },
            thumb("test", pairs.test[p], SMALL), ` ${pairs.test[p]}`)),
          el("td", {}, className(D.test.label[pairs.test[p]])),
          el("td", { class: "num" }, fmt(pairs.mem[p])),
          el("td", { class: "num" }, pm(pairs.infl[p], pairs.se[p]))))),
    ];
  }

  // ---- the grid ------------------------------------------------------------------------------
  function gridState(query) {
    const split = query.get("split") === "test" ? "test" : "train";
    const sort = sortable(split).includes(query.get("sort")) ? query.get("sort") : "index";
    return {
      split, sort, class: query.get("class") ?? "",
      flipped: split === "train" && D.train.flipped ? (query.get("flipped") ?? "") : "",
      disagree: split === "train" && D.train.suggested && query.get("disagree") === "1",
      page: Math.max(0, parseInt(query.get("page") || "0", 10) || 0),
    };
  }

  function sortable(split) {  // the sort keys this split has values for
    return Object.keys(SORTS).filter((k) => SORTS[k][2].includes(split) && D[split][SORTS[k][0]]
                                            || k === "index");
  }

  function gridHash(state) {
    const q = new URLSearchParams({ split: state.split });
    if (state.class !== "") q.set("class", state.class);
    if (state.flipped !== "") q.set("flipped", state.flipped);
    if (state.disagree) q.set("disagree", "1");
    if (state.sort !== "index") q.set("sort", state.sort);
    if (state.page) q.set("page", String(state.page));
    return `#grid?${q}`;
  }

  function selected(state) {
    const d = D[state.split];
    let index = Array.from({ length: size(state.split) }, (_, i) => i);
    if (state.class !== "") index = index.filter((i) => d.label[i] === Number(state.class));
    if (state.flipped !== "") index = index.filter((i) => d.flipped[i] === Number(state.flipped));
    if (state.disagree) {
      index = index.filter((i) => d.suggested[i] >= 0 && d.suggested[i] !== d.label[i]);
    }
    if (state.sort !== "index") {
      const v = d[SORTS[state.sort][0]];
      const key = (i) => (v[i] === null ? -Infinity : v[i]);
      index.sort((i, j) => key(j) - key(i) || i - j);
    }
    return index;
  }

  function control(label, name, value, options, onchange) {
    return el("label", {}, `${label} `, el("select", { name, onchange },
      options.map(([v, text]) => el("option", { value: v, selected: String(v) === String(value) },
                                    text))));
  }

  function gridView(query) {
    const state = gridState(query);
    const go = (change) => { location.hash = gridHash({ ...state, page: 0, ...change }); };
    const d = D[state.split];
    const labels = [...new Set(d.label)].sort((a, b) => a - b);
    const controls = el("div", { class: "controls" },
      control("split", "split", state.split, [["train", "training"], ["test", "test"]],
              (e) => go({ split: e.target.value, sort: "index", flipped: "", disagree: false })),
      control("class", "class", state.class, [["", "all"], ...labels.map((c) => [c, className(c)])],
              (e) => go({ class: e.target.value })),
      state.split === "train" && D.train.flipped
        ? control("label", "flipped", state.flipped,
                  [["", "flipped or not"], ["1", "flipped by the noise"], ["0", "not flipped"]],
                  (e) => go({ flipped: e.target.value })) : null,
      state.split === "train" && D.train.suggested
        ? el("label", {}, el("input", { type: "checkbox", name: "disagree",
                                         checked: state.disagree,
                                         onchange: (e) => go({ disagree: e.target.checked }) }),
             " suggested label ≠ given label") : null,
      control("sort by", "sort", state.sort,
              sortable(state.split).map((k) => [k, SORTS[k][1]]),
              (e) => go({ sort: e.target.value })));
    const index = selected(state);
    const pages = Math.max(1, Math.ceil(index.length / PAGE));
    const page = Math.min(state.page, pages - 1);
    const shown = index.slice(page * PAGE, (page + 1) * PAGE);
    const pager = el("div", { class: "pager" },
      el("span", { id: "count" }, `${index.length} examples`),
      pages > 1 ? [
        page > 0 ? el("a", { href: gridHash({ ...state, page: page - 1 }) }, "← previous") : null,
        el("span", {}, `page ${page + 1} of ${pages}`),
        page < pages - 1 ? el("a", { href: gridHash({ ...state, page: page + 1 }) }, "next →")
          : null] : null);
    const field = state.split === "test" || state.sort === "count" ? "count"
      : state.sort === "index" ? "mem" : SORTS[state.sort][0];
    const caption = (i) => (!d[field] ? String(i)
      : `${i} · ${field === "count" ? d.count[i] : fmt(d[field][i], 2)}`);
    const grid = el("div", { class: "grid", id: "grid" }, shown.map((i) =>
      el("a", { class: "cell", href: exampleHash(state.split, i), "data-index": i,
                "data-label": d.label[i],
                title: `${state.split} ${i}, label ${className(d.label[i])}` },
         thumb(state.split, i, CELL), el("span", {}, caption(i)))));
    lastGrid = gridHash(state);
    return [el("h1", {}, state.split === "train" ? "Training examples" : "Test examples"),
            controls, pager, grid, pages > 1 ? pager.cloneNode(true) : null];
  }

  // ---- one example ---------------------------------------------------------------------------
  function influenceRows(split, i) {
    const d = D[split], k = D.k, rows = [], seen = new Set();
    for (let r = 0; r < k; r++) {
      const j = d.top.index[i * k + r];
      if (j < 0) break;
      rows.push({ j, infl: d.top.infl[i * k + r], se: d.top.se[i * k + r] });
      seen.add(j);
    }
    for (const p of pairsOf[split].get(i) || []) {        // pairs beyond the top k
      const j = split === "train" ? pairs.test[p] : pairs.train[p];
      if (!seen.has(j)) rows.push({ j, infl: pairs.infl[p], se: pairs.se[p] });
    }
    return rows;
  }

  function exampleView(split, i) {
    if (!(split === "train" || split === "test") || !(i >= 0 && i < size(split))) {
      return [el("h1", {}, "No such example"), el("p", {}, `${split} ${i} is not in this study.`)];
    }
    const d = D[split], s = D.summary || {};
    const facts = [
      ["split, index", `${split} ${i}`],
      ["index in the original split", d.source[i]],
      ["given label", className(d.label[i])],
    ];
    if (split === "train") {
      if (d.original) {
        facts.push(["original label", `${className(d.original[i])}` +
                    (d.flipped[i] ? " (flipped by the label noise)" : " (not flipped)")]);
      }
      if (d.suggested) {
        facts.push(["suggested label", d.suggested[i] >= 0
          ? `${className(d.suggested[i])}, ${pct(d.suggested_share[i])} of the held-out votes`
          : "–"]);
      }
      facts.push(["mem ± se", pm(d.mem[i], d.mem_se[i])], ["p_in", fmt(d.p_in?.[i])],
                 ["p_out", fmt(d.p_out?.[i])],
                 ["n_in / n_out", d.n_in[i] >= 0 ? `${d.n_in[i]} / ${d.n_out[i]}` : "unknown"]);
    }
    if (d.count) facts.push([`influence count (infl ≥ ${s.infl_threshold})`, d.count[i]]);
    facts.push(["high-influence pairs", (pairsOf[split].get(i) || []).length]);
    const o = other(split);
    const rows = influenceRows(split, i);
    const title = split === "test"
      ? `Training examples with the highest influence on test example ${i}`
      : `Test examples training example ${i} influences most`;
    const table = D.influence === "none"
      ? el("p", {}, "This study holds no influence estimates.")
      : el("table", { id: "influence" },
        el("tr", {}, ["", "example", "label", "infl ± se", o === "train" ? "mem ± se" : null, ""]
          .filter((k) => k !== null).map((k) => el("th", {}, k))),
        rows.map(({ j, infl, se }) => {
          const pair = isPair(split, i, j);
          return el("tr", { class: pair ? "pair" : null, "data-index": j, "data-infl": infl },
            el("td", {}, el("a", { href: exampleHash(o, j) }, thumb(o, j, SMALL))),
            el("td", {}, el("a", { href: exampleHash(o, j) }, `${o} ${j}`)),
            el("td", {}, className(D[o].label[j])),
            el("td", { class: "num infl" }, pm(infl, se)),
            o === "train" ? el("td", { class: "num" }, pm(D.train.mem[j], D.train.mem_se[j]))
              : null,
            el("td", { class: "mark" }, pair ? "★ pair" : ""));
        }));
    const nav = el("p", {},
      i > 0 ? el("a", { href: exampleHash(split, i - 1) }, "← previous") : null, " ",
      i < size(split) - 1 ? el("a", { href: exampleHash(split, i + 1) }, "next →") : null, " · ",
      el("a", { href: lastGrid || `#grid?split=${split}` }, "back to the grid"));
    return [
      el("h1", {}, `${split === "train" ? "Training" : "Test"} example ${i}`), nav,
      el("div", { class: "example" }, thumb(split, i, LARGE),
         el("table", { class: "facts", id: "facts" },
            facts.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))),
      el("h2", {}, title),
      el("p", { class: "note" }, `The top ${D.k} by infl~ (${D.influence} influence)` +
         "; ★ marks the study's high-influence pairs (mem ≥ " +
         `${s.mem_threshold ?? "θ_mem"}, infl ≥ ${s.infl_threshold ?? "θ_infl"}), listed even ` +
         "beyond the top k. Replication: ", verdict(), "."),
      table,
    ];
  }

  // ---- routing -------------------------------------------------------------------------------
  let lastGrid = null;
  function render() {
    const hash = location.hash.replace(/^#/, "");
    const [path, query] = hash.split("?");
    const parts = path.split("/").filter(Boolean);
    let view;
    if (parts[0] === "grid") view = gridView(new URLSearchParams(query || ""));
    else if (parts[0] === "example") view = exampleView(parts[1], Number(parts[2]));
    else view = studyView();
    app.replaceChildren(...[view].flat(Infinity).filter(Boolean));
    window.scrollTo(0, 0);
    performance.mark("longtail:view");  // drawn and clickable (benchmarks/explorer_load.py)
  }

  document.getElementById("study").textContent = `· ${D.study}`;
  document.title = `${D.study} · longtail explorer`;
  window.addEventListener("hashchange", render);
  render();
})();
