(function () {
  "use strict";
  // Python decided every number, verdict and order (harness/output/html_report.py); this only draws.
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";  // the SVG namespace name, not a request
  var BLUE = "#0550ae", GREY = "#8c959f", RED = "#d1242f", GREEN = "#1a7f37";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object" && "text" in v) return v.text;
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      var a = Math.abs(v);
      return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(3) : v.toPrecision(4);
    }
    return String(v);
  }
  function sortValue(v) {
    if (typeof v === "number") return v;
    if (v && typeof v === "object" && typeof v.sort === "number") return v.sort;
    return undefined;
  }
  function ratioText(r) { return r === null || r === undefined ? "" : "×" + r.toPrecision(3); }
  function fillTable(table, columns, rows, rowClass) {
    var tr = el("tr");
    columns.forEach(function (c) { tr.appendChild(el("th", {"data-key": c.key}, c.label)); });
    table.tHead.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr", {"class": rowClass ? rowClass(r) : ""});
      columns.forEach(function (c) {
        var v = r[c.key], s = sortValue(v), text = fmt(v);
        var long = typeof v === "string" && v.length > 40;  // the whole text stays in the tooltip
        var td = el("td", long ? {"class": "long", title: v} : {"class": s !== undefined ? "num" : ""}, text);
        if (v && typeof v === "object" && v.title) td.title = v.title;
        if (v && typeof v === "object" && v.text && v.text.length > 40) { td.className = "long"; td.title = v.text; }
        if (s !== undefined) td.dataset.value = String(s);
        row.appendChild(td);
      });
      table.tBodies[0].appendChild(row);
    });
  }
  function makeSortable(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("asc");
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[i], y = b.cells[i];
          var xv = x.dataset.value, yv = y.dataset.value;
          var xe = x.textContent === "", ye = y.textContent === "";
          if (xe !== ye) return xe ? 1 : -1;  // empty cells last either way
          var c = (xv !== undefined && yv !== undefined) ? Number(xv) - Number(yv)
            : x.textContent.localeCompare(y.textContent, undefined, {numeric: true});
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  function newTable(id, sortable) {
    var t = el("table", {id: id}); if (sortable) t.className = "sortable";
    t.appendChild(el("thead")); t.appendChild(el("tbody"));
    return t;
  }
  function niceTicks(lo, hi, count) {
    var raw = (hi - lo) / (count || 4), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return s >= raw; });
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(6)));
    return out;
  }
  function shortDate(iso) { return (iso || "").slice(5, 16).replace("T", " "); }  // MM-DD HH:MM

  // --- header ---------------------------------------------------------------------------------------
  function header() {
    var h = document.getElementById("headline");
    h.textContent = D.headline.charAt(0).toUpperCase() + D.headline.slice(1) + ".";
    if (D.changes.unreachable.length) h.className = "notice";
    document.getElementById("meta").textContent = D.runs.length + " runs; generated " + D.generated +
      " by mxnet-harness " + D.version + ".";
  }

  // --- 1. what changed --------------------------------------------------------------------------------
  function stripDomain(rows) {
    var lo = 1, hi = 1;
    rows.forEach(function (r) {
      var base = r.prev_median || r.median;
      if (!base) return;
      r.prev_rounds.concat(r.rounds).forEach(function (x) {
        lo = Math.min(lo, x / base); hi = Math.max(hi, x / base);
      });
    });
    lo = Math.max(lo, 1 / 3); hi = Math.min(hi, 3);  // beyond: drawn at the edge as a triangle
    var pad = (hi - lo) * 0.05 || 0.05;
    return [lo - pad, hi + pad];
  }
  var STRIP = {W: 230, H: 34, L: 8, R: 8};
  function stripX(dom, v) {
    var w = STRIP.W - STRIP.L - STRIP.R;
    return STRIP.L + (Math.min(Math.max(v, dom[0]), dom[1]) - dom[0]) * w / (dom[1] - dom[0]);
  }
  function stripAxis(dom) {
    var svg = sv("svg", {width: STRIP.W, height: 30, "class": "strip-axis"});
    svg.appendChild(sv("text", {x: STRIP.W / 2, y: 10, "text-anchor": "middle", "font-size": 10, "font-weight": 400},
      "÷ previous median · ○ previous ● latest"));
    niceTicks(dom[0], dom[1], 5).forEach(function (t) {
      var x = stripX(dom, t);
      svg.appendChild(sv("text", {x: x, y: 26, "text-anchor": "middle", "font-size": 10, "font-weight": 400}, t + "×"));
    });
    return svg;
  }
  function strip(r, dom) {
    var base = r.prev_median || r.median;
    var svg = sv("svg", {width: STRIP.W, height: STRIP.H, "class": "strip", role: "img",
      "aria-label": "rounds of " + r.case + ", previous and latest"});
    niceTicks(dom[0], dom[1], 5).forEach(function (t) {
      var x = stripX(dom, t);
      svg.appendChild(sv("line", {x1: x, x2: x, y1: 2, y2: STRIP.H - 2, stroke: t === 1 ? "#999" : "#eee",
        "stroke-dasharray": t === 1 ? "3 2" : ""}));
    });
    function lane(values, y, filled, median, which) {
      values.forEach(function (v) {
        var q = v / base, x = stripX(dom, q), mark;
        if (q < dom[0] || q > dom[1]) {
          var d = q < dom[0] ? -1 : 1;
          mark = sv("path", {d: "M" + (x + 4 * d) + " " + y + " L" + (x - 2 * d) + " " + (y - 4) +
            " L" + (x - 2 * d) + " " + (y + 4) + " Z",
            fill: filled ? BLUE : "none", stroke: filled ? BLUE : GREY, "class": "round " + which + " clipped"});
        } else {
          mark = sv("circle", {cx: x, cy: y, r: 3.2, fill: filled ? BLUE : "none", "fill-opacity": 0.7,
            stroke: filled ? BLUE : GREY, "class": "round " + which});
        }
        mark.appendChild(sv("title", {}, which + " round: " + (v * 1e3).toPrecision(4) + " ms (" + ratioText(q) + ")"));
        svg.appendChild(mark);
      });
      if (median) {
        var xm = stripX(dom, median / base);
        svg.appendChild(sv("line", {x1: xm, x2: xm, y1: y - 7, y2: y + 7, stroke: filled ? BLUE : GREY,
          "stroke-width": 2}));
      }
    }
    lane(r.prev_rounds, 10, false, r.prev_median, "previous");
    lane(r.rounds, 24, true, r.median, "latest");
    return svg;
  }
  function changes() {
    var C = D.changes;
    document.getElementById("changes-method").textContent = "Each case of run " + C.run +
      " against its previous run in the same environment: latest/previous as the Hodges–Lehmann ratio of the " +
      "rounds with its exact confidence interval; Mann–Whitney U on the rounds, Holm-corrected over the " + C.tested +
      " cases tested. A case is slower or faster when its adjusted p < " + C.alpha + " and the ratio is beyond " +
      Math.round(C.threshold * 100) + " %. Biggest change first.";
    var notice = document.getElementById("changes-notice");
    C.unreachable.forEach(function (u) {
      notice.appendChild(el("p", {"class": "notice", id: "rounds-notice"}, u.cases + " of " + C.rows.length +
        " cases cannot show a change, whatever their times: " + u.why +
        " (harness bench --rounds " + C.rounds_needed + "). Their verdict is \u201ccannot tell\u201d, " +
        "not \u201cno change\u201d."));
    });
    var t = document.getElementById("changes-table"), head = el("tr"), dom = stripDomain(C.rows);
    ["case", "previous (ms)", "latest (ms)", "latest / previous", "95% CI", "p (Holm)", "verdict", ""].forEach(
      function (h) { head.appendChild(el("th", {}, h)); });
    var axis = el("th", {"class": "strip"}); axis.appendChild(stripAxis(dom)); head.appendChild(axis);
    t.tHead.appendChild(head);
    C.rows.forEach(function (r) {
      var tr = el("tr", {"data-case": r.case, "class": r.verdict === "failed" ? "failed" : ""});
      var c = el("td", {"class": "case"}, r.label); c.appendChild(el("small", {}, r.case)); tr.appendChild(c);
      tr.appendChild(el("td", {"class": "num"}, r.prev_median !== null ? fmt(r.prev_median * 1e3) : ""));
      tr.appendChild(el("td", {"class": "num"}, r.median !== null ? fmt(r.median * 1e3) : ""));
      tr.appendChild(el("td", {"class": "num ratio"}, ratioText(r.ratio)));
      tr.appendChild(el("td", {"class": "num ci"}, r.ci ? r.ci[0].toFixed(3) + "–" + r.ci[1].toFixed(3) +
        (r.ci_level < 0.95 - 1e-9 ? " (" + Math.round(r.ci_level * 100) + " %)" : "") : ""));
      tr.appendChild(el("td", {"class": "num"}, r.p_holm !== null ? r.p_holm.toPrecision(2) : ""));
      tr.appendChild(el("td", {"class": "verdict v-" + r.verdict.replace(/ /g, "-")}, r.verdict));
      tr.appendChild(el("td", {"class": "why", title: r.why},
        r.verdict === "cannot tell" && C.unreachable.length ? "too few rounds" : r.why));
      var s = el("td", {"class": "strip"});
      if (r.rounds.length) s.appendChild(strip(r, dom));
      tr.appendChild(s);
      t.tBodies[0].appendChild(tr);
    });
    if (!C.rows.length) notice.appendChild(el("p", {"class": "note"}, "No case ran in the latest run."));
  }

  // --- 2. the latest run ---------------------------------------------------------------------------------
  function notes(box, lines) {  // bench's lines under its table, one a line
    lines.forEach(function (line, i) {
      if (i) box.appendChild(el("br"));
      box.appendChild(document.createTextNode(line));
    });
  }
  function latestRowClass(r) {
    return r.kind === "failed" ? "failed" : r.kind === "skipped" ? "skipped"
      : r.kind === "reference" ? "reference" : "";
  }
  function latest() {
    var L = D.latest, run = D.runs[L.run];
    document.getElementById("latest-note").textContent = "Run " + run.label + " (" + run.date + ", " + run.ok +
      " ok, " + run.failed + " failed, " + run.skipped + " skipped" + (run.interrupted ? ", interrupted" : "") +
      "), in harness bench's columns, fastest first. Click a column header to sort.";
    var t = document.getElementById("latest-table");
    fillTable(t, L.default.columns, L.default.rows, latestRowClass);
    makeSortable(t);
    var all = el("details", {id: "latest-wide"});
    all.appendChild(el("summary", {}, "every column (harness bench --wide)"));
    var box = el("div", {"class": "scroll"}), wide = newTable("latest-wide-table", true);
    fillTable(wide, L.wide.columns, L.wide.rows, latestRowClass);
    makeSortable(wide);
    box.appendChild(wide); all.appendChild(box);
    document.getElementById("latest").appendChild(all);
    notes(document.getElementById("latest-foot"), L.default.notes);
    var wideNotes = el("p", {"class": "note"}); notes(wideNotes, L.wide.notes); all.appendChild(wideNotes);
  }

  // --- 3. history --------------------------------------------------------------------------------------------
  function plot(p, dom) {
    var W = 420, H = 230, left = 46, right = 26, top = 10, bottom = 52;
    var n = D.runs.length, inner = 16;
    var xs = function (i) {
      return left + inner + (n > 1 ? i * (W - left - right - 2 * inner) / (n - 1) : (W - left - right) / 2 - inner);
    };
    var ys = function (v) {
      return top + (dom[1] - Math.min(Math.max(v, dom[0]), dom[1])) * (H - top - bottom) / (dom[1] - dom[0]);
    };
    var svg = sv("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "median epoch of " + p.case + " over the runs, as a ratio to its first run"});
    svg.appendChild(sv("rect", {x: left, y: top, width: W - left - right, height: H - top - bottom,
      fill: "#fafbfc", stroke: "#ccc"}));
    niceTicks(dom[0], dom[1], 4).forEach(function (v) {
      var y = ys(v);
      svg.appendChild(sv("line", {x1: left, x2: W - right, y1: y, y2: y, stroke: v === 1 ? "#999" : "#eee",
        "stroke-dasharray": v === 1 ? "4 3" : ""}));
      svg.appendChild(sv("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10, "class": "ytick"},
        v + "×"));
    });
    var every = Math.max(1, Math.ceil(n / 6));
    for (var i = 0; i < n; i++) {
      if (i % every && i !== n - 1) continue;
      var r = D.runs[i], x = xs(i);
      var tx = sv("text", {x: x, y: H - bottom + 13, "text-anchor": "middle", "font-size": 9, "class": "xtick"});
      var lines = [r.number || String(i + 1), shortDate(r.date), (r.commit || "?").slice(0, 7) + (r.dirty ? "+" : "")];
      lines.forEach(function (line, k) {
        tx.appendChild(sv("tspan", {x: x, dy: k ? 11 : 0}, line));
      });
      svg.appendChild(tx);
    }
    p.segments.forEach(function (g) {
      if (g.level === null) return;
      var x1 = xs(g.start), x2 = xs(g.stop - 1);
      if (x1 === x2) { x1 -= 4; x2 += 4; }
      svg.appendChild(sv("line", {x1: x1, x2: x2, y1: ys(g.level), y2: ys(g.level), stroke: "#888",
        "stroke-width": 2, "class": "level"}));
    });
    p.steps.forEach(function (t) {
      var x = (xs(t.index) + xs(Math.max(0, t.index - 1))) / 2;
      var color = t.significant ? (t.kind === "slower" ? RED : GREEN) : "#999";
      var line = sv("line", {x1: x, x2: x, y1: top, y2: H - bottom, stroke: color, "stroke-width": 2,
        "class": "step" + (t.significant ? " confirmed" : ""), "stroke-dasharray": t.significant ? "" : "4 3"});
      line.appendChild(sv("title", {}, t.kind + " ×" + t.ratio.toPrecision(3) + " at run " + D.runs[t.index].label +
        (t.p_value !== null ? ", p = " + t.p_value.toPrecision(2) : "") + (t.significant ? "" : " (not confirmed)")));
      svg.appendChild(line);
    });
    var path = "";
    p.points.forEach(function (q) {
      if (q.ratio !== undefined) path += (path ? " L" : "M") + xs(q.run) + " " + ys(q.ratio);
    });
    if (path) svg.appendChild(sv("path", {d: path, fill: "none", stroke: BLUE, "stroke-width": 1}));
    p.points.forEach(function (q) {
      var x = xs(q.run);
      if (q.ratio === undefined) {
        var y = H - bottom - 6;
        var m = sv("path", {d: "M" + (x - 4) + " " + (y - 4) + " L" + (x + 4) + " " + (y + 4) +
          " M" + (x - 4) + " " + (y + 4) + " L" + (x + 4) + " " + (y - 4),
          stroke: RED, "stroke-width": 2, "class": "not-run"});
        m.appendChild(sv("title", {}, q.status.toUpperCase() + " in run " + D.runs[q.run].label + ": " + q.error));
        svg.appendChild(m);
        return;
      }
      if (q.q1 !== null) svg.appendChild(sv("line", {x1: x, x2: x, y1: ys(q.q1), y2: ys(q.q3), stroke: BLUE}));
      var c = sv("circle", {cx: x, cy: ys(q.ratio), r: 3.5, fill: BLUE, "class": "point"});
      c.appendChild(sv("title", {}, "run " + D.runs[q.run].label + ": " + q.ms.toPrecision(4) + " ms, " +
        ratioText(q.ratio) +
        " the first" + (q.rounds ? " (" + q.rounds + " rounds)" : "")));
      svg.appendChild(c);
    });
    var confirmed = p.steps.some(function (t) { return t.significant; });
    var fig = el("figure", {"class": "plot" + (confirmed ? " changed" : ""), "data-case": p.case});
    var cap = el("figcaption", {}, p.label + " ");
    cap.appendChild(el("small", {}, p.case + " · first run " + fmt(p.first_ms) + " ms · env " + p.env));
    fig.appendChild(cap);
    fig.appendChild(svg);
    return fig;
  }
  function historyPlots() {
    var Hs = D.history;
    document.getElementById("history-note").textContent = "Median epoch time per run as a ratio to the case's " +
      "first run, every panel on the same axis (" + Hs.y[0].toFixed(2) + "× to " + Hs.y[1].toFixed(2) + "×); bars: " +
      "interquartile range of the rounds; grey: the fitted levels; vertical lines: fitted steps, solid when the rank " +
      "test confirms them (red slower, green faster), dashed when it does not. A red × is a run where the case " +
      "failed or was skipped. Failures first, then cases with a confirmed step, then the order above. " +
      "Step detection: " + D.method + ".";
    var grid = document.getElementById("plot-grid"), never = [];
    Hs.panels.forEach(function (p) { if (p.measured) grid.appendChild(plot(p, Hs.y)); else never.push(p); });
    if (!never.length) return;
    var box = document.getElementById("history");
    box.appendChild(el("h3", {}, "Never measured in these runs (" + never.length + ")"));
    var t = newTable("never-table", true);
    fillTable(t, [{key: "case", label: "case"}, {key: "env", label: "env"}, {key: "runs", label: "runs"},
      {key: "last", label: "last status"}],
      never.map(function (p) {
        var last = p.points[p.points.length - 1];
        return {case: p.case, env: p.env, runs: p.points.length, last: last.status.toUpperCase() + ": " + last.error};
      }), function (r) { return r.last.indexOf("FAILED") === 0 ? "failed" : "skipped"; });
    box.appendChild(t); makeSortable(t);
  }

  // --- the rest ----------------------------------------------------------------------------------------------
  function effects() {
    var box = document.getElementById("effects-body"), E = D.effects;
    if (!E) {
      box.appendChild(el("p", {"class": "note"}, "Not computed for this report."));
      return;
    }
    (E.notes || []).forEach(function (n) { box.appendChild(el("p", {"class": "note"}, n)); });
    (E.tables || []).forEach(function (tab) {
      if (tab.title) box.appendChild(el("h3", {}, tab.title));
      var t = newTable(tab.id || "", true);
      fillTable(t, tab.columns.map(function (c) { return {key: c, label: c}; }), tab.rows,
        function (r) { return r.verdict === "real" ? "real" : ""; });  // "real, < 1%" stays plain
      box.appendChild(t); makeSortable(t);
    });
  }

  function breakdownBars() {
    var box = document.getElementById("breakdown-body");
    if (!D.breakdown.length) {
      box.appendChild(el("p", {"class": "note"},
        "Not recorded in the latest run (harness bench --breakdown records it)."));
      return;
    }
    var colors = [BLUE, "#bf8700", "#8250df", GREEN, RED, "#57606a"];
    var phases = [];
    D.breakdown.forEach(function (b) {
      Object.keys(b.phases).forEach(function (p) { if (phases.indexOf(p) < 0) phases.push(p); });
    });
    var legend = el("p", {"class": "legend"});
    phases.forEach(function (p, i) {
      var sw = el("span"); sw.style.background = colors[i % colors.length];
      legend.appendChild(sw); legend.appendChild(document.createTextNode(p));
    });
    box.appendChild(legend);
    var max = Math.max.apply(null, D.breakdown.map(function (b) {
      return phases.reduce(function (s, p) { return s + (b.phases[p] || 0); }, 0);
    }));
    var t = el("table", {id: "breakdown-table"}), head = el("tr");
    ["case"].concat(phases.map(function (p) { return p + " (µs/step)"; }), ["sum (µs)", ""]).forEach(function (h) {
      head.appendChild(el("th", {}, h));
    });
    t.appendChild(el("thead")).appendChild(head);
    var body = t.appendChild(el("tbody"));
    D.breakdown.forEach(function (b) {
      var tr = el("tr"), sum = 0;
      tr.appendChild(el("td", {}, b.case));
      phases.forEach(function (p) {
        sum += b.phases[p] || 0; tr.appendChild(el("td", {"class": "num"}, fmt((b.phases[p] || 0) * 1e6)));
      });
      tr.appendChild(el("td", {"class": "num"}, fmt(sum * 1e6)));
      var cell = el("td"), bar = el("div", {"class": "bar"});
      phases.forEach(function (p, i) {
        var seg = el("span", {title: p});
        seg.style.width = ((b.phases[p] || 0) / max * 300) + "px"; seg.style.background = colors[i % colors.length];
        bar.appendChild(seg);
      });
      cell.appendChild(bar); tr.appendChild(cell); body.appendChild(tr);
    });
    box.appendChild(t);
    box.appendChild(el("p", {"class": "note"},
      "Measured with the engine synchronised between phases, which perturbs the total."));
  }

  function verify() {
    var box = document.getElementById("verify-body");
    if (!D.verify.length) {
      box.appendChild(el("p", {"class": "note"},
        "Not given (harness verify --json > verify.json; harness report --verify verify.json)."));
      return;
    }
    var columns = [{key: "combination", label: "combination"}, {key: "reference", label: "reference"},
      {key: "final_loss", label: "final loss"}, {key: "max_abs_diff", label: "max |Δ| vs ref"},
      {key: "status", label: "status"}];
    D.verify.forEach(function (v) {
      var p = el("p");
      p.appendChild(el("span", {"class": v.ok ? "ok" : "bad", id: "verify-status"},
        v.ok ? "verify: all " + v.rows.length + " combinations agree" :
          "verify: " + v.failures + " of " + v.rows.length + " combinations differ or failed"));
      p.appendChild(document.createTextNode(" (" + v.path + ", tolerance " + fmt(v.tolerance) + ")"));
      box.appendChild(p);
      var bad = v.rows.filter(function (r) { return r.status !== "ok"; });
      if (bad.length) {
        var t = newTable("verify-failures", true);
        fillTable(t, columns, bad, function () { return "failed"; });
        box.appendChild(t); makeSortable(t);
      }
      var all = el("details", {"class": "verify-all"});
      all.appendChild(el("summary", {}, "every combination (" + v.rows.length + ")"));
      var full = newTable("", true);
      fillTable(full, columns, v.rows, function (r) { return r.status === "ok" ? "" : "failed"; });
      all.appendChild(full); makeSortable(full);
      box.appendChild(all);
    });
  }

  function runs() {
    var t = document.getElementById("runs-table");
    fillTable(t, [{key: "number", label: "run"}, {key: "date", label: "date"}, {key: "commit", label: "commit"},
      {key: "dirty", label: "dirty"}, {key: "branch", label: "branch"}, {key: "name", label: "name"},
      {key: "env", label: "env"},
      {key: "machine", label: "machine"}, {key: "ok", label: "ok"}, {key: "failed", label: "failed"},
      {key: "skipped", label: "skipped"},
      {key: "interrupted", label: "interrupted"}, {key: "file", label: "file"}],
      D.runs.map(function (r) {
        var o = Object.assign({}, r); o.dirty = r.dirty ? "yes" : ""; o.interrupted = r.interrupted ? "yes" : "";
        return o;
      }));
    var e = document.getElementById("env-table");
    var keys = [];
    Object.keys(D.envs).forEach(function (id) {
      Object.keys(D.envs[id]).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
    });
    fillTable(e, [{key: "id", label: "env"}].concat(keys.map(function (k) { return {key: k, label: k}; })),
      Object.keys(D.envs).map(function (id) {
        var o = {id: id};
        keys.forEach(function (k) {
          var v = D.envs[id][k];
          o[k] = v === null || v === undefined ? "unset" : Array.isArray(v) ? v.join(" ") : v;
        });
        return o;
      }));
  }

  try {
    header(); changes(); latest(); historyPlots(); effects(); breakdownBars(); verify(); runs();
    document.body.dataset.ready = "1";
  } catch (err) {
    var box = document.getElementById("error");
    box.hidden = false; box.textContent = "report script failed: " + err + (err.stack ? " " + err.stack : "");
    document.body.dataset.ready = "error";
  }
})();
