(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";  // the SVG namespace name, not a request
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
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      var a = Math.abs(v);
      return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(3) : v.toPrecision(4);
    }
    return String(v);
  }
  function fillTable(table, columns, rows, rowClass) {
    var tr = el("tr");
    columns.forEach(function (c) { tr.appendChild(el("th", {"data-key": c.key}, c.label)); });
    table.tHead.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr", {"class": rowClass ? rowClass(r) : ""});
      columns.forEach(function (c) {
        var v = r[c.key];
        var long = typeof v === "string" && v.length > 40;  // the whole text stays in the tooltip
        var td = el("td", long ? {"class": "long", title: v} : {"class": typeof v === "number" ? "num" : ""}, fmt(v));
        if (typeof v === "number") td.dataset.value = String(v);
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
  function runLabel(i) { var r = D.runs[i]; return r ? r.label : "?"; }

  function summary() {
    var last = D.runs[D.runs.length - 1];
    var changes = D.series.reduce(function (n, s) { return n + s.steps.filter(function (t) { return t.significant; }).length; }, 0);
    document.getElementById("summary").textContent = D.runs.length + " runs, " + D.series.length +
      " case series, " + changes + " confirmed changes; latest run " + last.label + " (" + last.date + "). Generated " +
      D.generated + " by mxnet-harness " + D.version + ".";
  }

  function latest() {
    var L = D.latest, run = D.runs[L.run];
    document.getElementById("latest-note").textContent = "Run " + run.label + " (" + run.date + ", " + run.ok +
      " ok, " + run.failed + " failed, " + run.skipped + " skipped" + (run.interrupted ? ", interrupted" : "") +
      "). Click a column header to sort.";
    var t = document.getElementById("latest-table");
    fillTable(t, L.columns, L.rows, function (r) {
      var s = String(r.status || "");
      return s.indexOf("FAILED") === 0 ? "failed" : s.indexOf("SKIPPED") === 0 ? "skipped" : s === "reference" ? "reference" : "";
    });
    makeSortable(t);
  }

  function changes() {
    document.getElementById("method").textContent = "Step detection: " + D.method + ".";
    var box = document.getElementById("changes-body");
    var rows = [];
    D.series.forEach(function (s) {
      s.steps.forEach(function (t) {
        rows.push({case: s.case, env: s.env, run: runLabel(t.index), before: t.before * 1e3, after: t.after * 1e3,
          ratio: t.ratio, p: t.p_value, verdict: t.kind + (t.significant ? " (confirmed)" : "? (not confirmed)")});
      });
    });
    if (!rows.length) { box.appendChild(el("p", {}, "No steps beyond the threshold in any case.")); return; }
    var t = el("table", {"class": "sortable", id: "changes-table"}); t.appendChild(el("thead")); t.appendChild(el("tbody"));
    fillTable(t, [{key: "case", label: "case"}, {key: "env", label: "env"}, {key: "run", label: "at run"},
      {key: "before", label: "before (ms)"}, {key: "after", label: "after (ms)"}, {key: "ratio", label: "after/before"},
      {key: "p", label: "p (Mann–Whitney U)"}, {key: "verdict", label: "verdict"}], rows);
    box.appendChild(t); makeSortable(t);
  }

  function plot(s) {
    var W = 400, H = 210, left = 58, right = 10, top = 10, bottom = 34;
    var n = D.runs.length;
    var inner = 14;  // keep the first and last runs off the frame
    var xs = function (i) { return left + inner + (n > 1 ? (i * (W - left - right - 2 * inner) / (n - 1)) : (W - left - right) / 2 - inner); };
    var vals = [];
    s.points.forEach(function (p) { if (p.median !== null) { vals.push(p.median); if (p.q1 !== null) { vals.push(p.q1, p.q3); } } });
    s.segments.forEach(function (g) { vals.push(g.level); });
    var lo = Math.min.apply(null, vals.length ? vals : [0]), hi = Math.max.apply(null, vals.length ? vals : [1]);
    if (!(hi > lo)) { hi = hi ? hi * 1.05 : 1; lo = lo * 0.95; }
    var pad = (hi - lo) * 0.08; lo = Math.max(0, lo - pad); hi += pad;
    var ys = function (v) { return top + (hi - v) * (H - top - bottom) / (hi - lo); };
    var svg = sv("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "median epoch time of " + s.case + " over the runs"});
    svg.appendChild(sv("rect", {x: left, y: top, width: W - left - right, height: H - top - bottom, fill: "#fafbfc", stroke: "#ccc"}));
    for (var k = 0; k <= 4; k++) {
      var v = lo + (hi - lo) * k / 4, y = ys(v);
      svg.appendChild(sv("line", {x1: left, x2: W - right, y1: y, y2: y, stroke: "#eee"}));
      svg.appendChild(sv("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10}, (v * 1e3).toPrecision(3)));
    }
    svg.appendChild(sv("text", {x: 12, y: (H - bottom + top) / 2, "font-size": 10, "text-anchor": "middle",
      transform: "rotate(-90 12 " + (H - bottom + top) / 2 + ")"}, "epoch (ms)"));
    var every = Math.max(1, Math.ceil(n / 10));
    for (var i = 0; i < n; i += every) {
      svg.appendChild(sv("text", {x: xs(i), y: H - bottom + 14, "text-anchor": "middle", "font-size": 10}, D.runs[i].number || String(i + 1)));
    }
    svg.appendChild(sv("text", {x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", "font-size": 10}, "run"));
    s.segments.forEach(function (g) {
      var x1 = xs(g.start), x2 = xs(g.stop - 1);
      if (x1 === x2) { x1 -= 4; x2 += 4; }
      svg.appendChild(sv("line", {x1: x1, x2: x2, y1: ys(g.level), y2: ys(g.level), stroke: "#888", "stroke-width": 2, "class": "level"}));
    });
    s.steps.forEach(function (t) {
      var x = (xs(t.index) + xs(Math.max(0, t.index - 1))) / 2;
      var color = t.significant ? (t.kind === "slower" ? "#d1242f" : "#1a7f37") : "#999";
      var line = sv("line", {x1: x, x2: x, y1: top, y2: H - bottom, stroke: color, "stroke-width": 2,
        "class": "step" + (t.significant ? " confirmed" : ""), "stroke-dasharray": t.significant ? "" : "4 3"});
      line.appendChild(sv("title", {}, t.kind + " ×" + t.ratio.toPrecision(3) + " at run " + runLabel(t.index) +
        (t.p_value !== null ? ", p = " + t.p_value.toPrecision(2) : "")));
      svg.appendChild(line);
    });
    var path = "";
    s.points.forEach(function (p) {
      if (p.median === null) return;
      path += (path ? " L" : "M") + xs(p.run) + " " + ys(p.median);
    });
    if (path) svg.appendChild(sv("path", {d: path, fill: "none", stroke: "#0550ae", "stroke-width": 1}));
    s.points.forEach(function (p) {
      var x = xs(p.run);
      if (p.median === null) {
        var y = H - bottom - 6;
        var m = sv("path", {d: "M" + (x - 4) + " " + (y - 4) + " L" + (x + 4) + " " + (y + 4) + " M" + (x - 4) + " " + (y + 4) + " L" + (x + 4) + " " + (y - 4),
          stroke: "#d1242f", "stroke-width": 2, "class": "not-run"});
        m.appendChild(sv("title", {}, p.status.toUpperCase() + " in run " + runLabel(p.run) + ": " + p.error));
        svg.appendChild(m);
        return;
      }
      if (p.q1 !== null) svg.appendChild(sv("line", {x1: x, x2: x, y1: ys(p.q1), y2: ys(p.q3), stroke: "#0550ae"}));
      var c = sv("circle", {cx: x, cy: ys(p.median), r: 3.5, fill: "#0550ae", "class": "point"});
      c.appendChild(sv("title", {}, "run " + runLabel(p.run) + ": " + (p.median * 1e3).toPrecision(4) + " ms" +
        (p.rounds ? " (" + p.rounds + " rounds)" : "")));
      svg.appendChild(c);
    });
    var confirmed = s.steps.some(function (t) { return t.significant; });
    var fig = el("figure", {"class": "plot" + (confirmed ? " changed" : ""), "data-case": s.case});
    fig.appendChild(el("figcaption", {}, s.case + "  [env " + s.env + "]"));
    fig.appendChild(svg);
    return fig;
  }

  function plots() {
    var grid = document.getElementById("plot-grid");
    var ordered = D.series.slice().sort(function (a, b) {
      var ca = a.steps.some(function (t) { return t.significant; }), cb = b.steps.some(function (t) { return t.significant; });
      return (cb - ca) || a.case.localeCompare(b.case);  // changed cases first
    });
    var never = [];
    ordered.forEach(function (s) {
      if (s.points.some(function (p) { return p.median !== null; })) grid.appendChild(plot(s));
      else never.push(s);
    });
    if (!never.length) return;
    var box = document.getElementById("plots");
    box.appendChild(el("h3", {}, "Never measured in these runs (" + never.length + ")"));
    var t = el("table", {"class": "sortable", id: "never-table"}); t.appendChild(el("thead")); t.appendChild(el("tbody"));
    fillTable(t, [{key: "case", label: "case"}, {key: "env", label: "env"}, {key: "runs", label: "runs"}, {key: "last", label: "last status"}],
      never.map(function (s) {
        var last = s.points[s.points.length - 1];
        return {case: s.case, env: s.env, runs: s.points.length, last: last.status.toUpperCase() + ": " + last.error};
      }), function (r) { return r.last.indexOf("FAILED") === 0 ? "failed" : "skipped"; });
    box.appendChild(t); makeSortable(t);
  }

  function breakdownBars() {
    var box = document.getElementById("breakdown-body");
    if (!D.breakdown.length) {
      box.appendChild(el("p", {"class": "note"}, "Not recorded in the latest run (harness bench --breakdown records it)."));
      return;
    }
    var colors = ["#0550ae", "#bf8700", "#8250df", "#1a7f37", "#d1242f", "#57606a"];
    var phases = [];
    D.breakdown.forEach(function (b) { Object.keys(b.phases).forEach(function (p) { if (phases.indexOf(p) < 0) phases.push(p); }); });
    var legend = el("p", {"class": "legend"});
    phases.forEach(function (p, i) { var sw = el("span"); sw.style.background = colors[i % colors.length]; legend.appendChild(sw); legend.appendChild(document.createTextNode(p)); });
    box.appendChild(legend);
    var max = Math.max.apply(null, D.breakdown.map(function (b) { return phases.reduce(function (s, p) { return s + (b.phases[p] || 0); }, 0); }));
    var t = el("table", {id: "breakdown-table"}), head = el("tr");
    ["case"].concat(phases.map(function (p) { return p + " (µs/step)"; }), ["sum (µs)", ""]).forEach(function (h) { head.appendChild(el("th", {}, h)); });
    t.appendChild(el("thead")).appendChild(head);
    var body = t.appendChild(el("tbody"));
    D.breakdown.forEach(function (b) {
      var tr = el("tr"), sum = 0;
      tr.appendChild(el("td", {}, b.case));
      phases.forEach(function (p) { sum += b.phases[p] || 0; tr.appendChild(el("td", {"class": "num"}, fmt((b.phases[p] || 0) * 1e6))); });
      tr.appendChild(el("td", {"class": "num"}, fmt(sum * 1e6)));
      var cell = el("td"), bar = el("div", {"class": "bar"});
      phases.forEach(function (p, i) { var seg = el("span", {title: p}); seg.style.width = ((b.phases[p] || 0) / max * 300) + "px"; seg.style.background = colors[i % colors.length]; bar.appendChild(seg); });
      cell.appendChild(bar); tr.appendChild(cell); body.appendChild(tr);
    });
    box.appendChild(t);
    box.appendChild(el("p", {"class": "note"}, "Measured with the engine synchronised between phases, which perturbs the total."));
  }

  function verify() {
    var box = document.getElementById("verify-body");
    if (!D.verify.length) {
      box.appendChild(el("p", {"class": "note"}, "Not given (harness verify --json > verify.json; harness report --verify verify.json)."));
      return;
    }
    D.verify.forEach(function (v) {
      var p = el("p");
      p.appendChild(el("span", {"class": v.ok ? "ok" : "bad", id: "verify-status"}, v.ok ? "verify: all combinations agree" : "verify: DIFFERENCES"));
      p.appendChild(document.createTextNode(" (" + v.path + ", tolerance " + fmt(v.tolerance) + ", " + v.rows.length + " combinations)"));
      box.appendChild(p);
      var t = el("table", {"class": "sortable"}); t.appendChild(el("thead")); t.appendChild(el("tbody"));
      fillTable(t, [{key: "combination", label: "combination"}, {key: "reference", label: "reference"},
        {key: "final_loss", label: "final loss"}, {key: "max_abs_diff", label: "max |Δ| vs ref"}, {key: "status", label: "status"}],
        v.rows, function (r) { return r.status === "ok" ? "" : "failed"; });
      box.appendChild(t); makeSortable(t);
    });
  }

  function runs() {
    var t = document.getElementById("runs-table");
    fillTable(t, [{key: "number", label: "run"}, {key: "date", label: "date"}, {key: "commit", label: "commit"},
      {key: "dirty", label: "dirty"}, {key: "branch", label: "branch"}, {key: "name", label: "name"}, {key: "env", label: "env"},
      {key: "machine", label: "machine"}, {key: "ok", label: "ok"}, {key: "failed", label: "failed"}, {key: "skipped", label: "skipped"},
      {key: "interrupted", label: "interrupted"}, {key: "file", label: "file"}],
      D.runs.map(function (r) { var o = Object.assign({}, r); o.dirty = r.dirty ? "yes" : ""; o.interrupted = r.interrupted ? "yes" : ""; return o; }));
    var e = document.getElementById("env-table");
    var keys = [];
    Object.keys(D.envs).forEach(function (id) { Object.keys(D.envs[id]).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    fillTable(e, [{key: "id", label: "env"}].concat(keys.map(function (k) { return {key: k, label: k}; })),
      Object.keys(D.envs).map(function (id) {
        var o = {id: id};
        keys.forEach(function (k) { var v = D.envs[id][k]; o[k] = v === null || v === undefined ? "unset" : Array.isArray(v) ? v.join(" ") : v; });
        return o;
      }));
  }

  try {
    summary(); latest(); changes(); plots(); breakdownBars(); verify(); runs();
    document.body.dataset.ready = "1";
  } catch (err) {
    var box = document.getElementById("error");
    box.hidden = false; box.textContent = "report script failed: " + err;
    document.body.dataset.ready = "error";
  }
})();
