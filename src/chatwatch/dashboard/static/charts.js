/* chatwatch charts: small SVG charts drawn from the dashboard's JSON (no dependencies).
 * CWCharts.draw(container, chart) replaces the container's content with the chart.
 * Every text that comes from data goes in through textContent, never as markup. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4f6bed", "#f59e0b", "#10b981", "#e5484d", "#8e4ec6", "#0ea5b7"];
  var COLORS = {
    "error_rate:error rate": "#e5484d",
    "cache:responses": "#10b981",
    "cache:RAG searches": "#0ea5b7",
    "response_time:p95": "#f59e0b",
    "reconnection_rate:sessions that reconnected": "#8e4ec6",
    "websocket:events": "#4f6bed",
    "llm_latency:p95": "#f59e0b",
    "llm_cost:cost": "#8e4ec6",
    "rag_similarity:searches": "#0ea5b7",
    "ratings:ratings": "#f5b400",
  };

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = value;
    return node;
  }

  function fmt(value, unit, compact) {
    if (value === null || value === undefined) return "—";
    var abs = Math.abs(value);
    if (unit === "percent") return value.toFixed(compact && abs >= 10 ? 0 : 1) + "%";
    if (unit === "ms") {
      if (compact && abs >= 1000) return (value / 1000).toFixed(abs >= 10000 ? 0 : 1) + " s";
      return (abs >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1)) + " ms";
    }
    if (unit === "usd") return "$" + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    if (unit === "ratio") return value.toFixed(3);
    if (abs >= 1e6) return (value / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (abs >= 1e4) return (value / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(2);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function timeLabel(ts, step, span) {
    var d = new Date(ts * 1000);
    var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    var md = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    if (step >= 86400) return span > 366 * 86400 ? d.getUTCFullYear() + "-" + md : md;
    return span > 86400 + step ? md + " " + hm : hm;
  }

  // Axis ticks at round values: a step of 1, 2, 2.5 or 5 times a power of ten, 3 to 5
  // intervals, the top the first tick at or above the data's maximum.
  function niceTicks(max) {
    if (!(max > 0)) return { top: 1, step: 0.25, n: 4 };
    var rough = max / 4;
    var exp = Math.pow(10, Math.floor(Math.log10(rough)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var step = steps[i] * exp;
      var n = Math.ceil(max / step - 1e-9);
      if (n <= 5) return { top: step * n, step: step, n: Math.max(n, 1) };
    }
    return { top: 10 * exp * 4, step: 10 * exp, n: 4 };
  }

  function niceMax(max) { return niceTicks(max).top; }

  function decimals(step) {
    for (var d = 0; d < 4; d++) if (Math.abs(Math.round(step * Math.pow(10, d)) - step * Math.pow(10, d)) < 1e-6) return d;
    return 4;
  }

  // Every tick of one axis in one unit and with the same decimals (no "0.0 ms" beside "1.0 s").
  function tickLabel(v, unit, step, top) {
    if (unit === "ms" && top >= 1000) return (v / 1000).toFixed(decimals(step / 1000)) + " s";
    if (unit === "ms") return v.toFixed(decimals(step)) + " ms";
    if (unit === "percent") return v.toFixed(decimals(step)) + "%";
    if (unit === "usd") return "$" + v.toFixed(Math.max(decimals(step), top < 1 ? 2 : 0));
    if (top >= 1e6) return (v / 1e6).toFixed(decimals(step / 1e6)) + "M";
    if (top >= 1e4) return (v / 1e3).toFixed(decimals(step / 1e3)) + "k";
    return v.toFixed(decimals(step));
  }

  function colorOf(chart, series, i) {
    return COLORS[chart.id + ":" + series.name] || PALETTE[i % PALETTE.length];
  }

  function hasData(chart) {
    return chart.series.some(function (s) {
      return s.values.some(function (v) { return v !== null && v !== 0; });
    });
  }

  function legend(container, chart) {
    if (chart.series.length < 2) return;
    var box = document.createElement("div");
    box.className = "legend";
    chart.series.forEach(function (s, i) {
      var item = document.createElement("span");
      var dot = document.createElement("i");
      dot.style.background = colorOf(chart, s, i);
      item.appendChild(dot);
      item.appendChild(document.createTextNode(s.name));
      box.appendChild(item);
    });
    container.appendChild(box);
  }

  function tooltip(container) {
    var tip = document.createElement("div");
    tip.className = "tip";
    tip.hidden = true;
    container.appendChild(tip);
    return {
      show: function (x, y, title, rows) {
        tip.textContent = "";
        var head = document.createElement("b");
        head.textContent = title;
        tip.appendChild(head);
        rows.forEach(function (row) {
          var line = document.createElement("div");
          var dot = document.createElement("i");
          dot.style.background = row[0];
          line.appendChild(dot);
          line.appendChild(document.createTextNode(row[1] + ": " + row[2]));
          tip.appendChild(line);
        });
        tip.hidden = false;
        var width = container.clientWidth;
        var left = Math.min(Math.max(x + 12, 0), Math.max(width - tip.offsetWidth - 4, 0));
        if (x + 12 + tip.offsetWidth > width) left = Math.max(x - tip.offsetWidth - 12, 0);
        tip.style.left = left + "px";
        tip.style.top = Math.max(y - 10, 0) + "px";
      },
      hide: function () { tip.hidden = true; },
    };
  }

  function yAxis(svg, m, w, h, max, unit) {
    var t = niceTicks(max);
    for (var i = 0; i <= t.n; i++) {
      var v = t.step * i;
      var y = m.top + h - (h * v) / t.top;
      el("line", { x1: m.left, x2: m.left + w, y1: y, y2: y, class: i ? "grid" : "axis" }, svg);
      text(svg, m.left - 6, y + 4, tickLabel(v, unit, t.step, t.top), { class: "tick", "text-anchor": "end" });
    }
  }

  function drawTime(container, chart) {
    var width = Math.max(container.clientWidth, 240);
    var height = 190;
    var m = { top: 10, right: 10, bottom: 24, left: 52 };
    var w = width - m.left - m.right;
    var h = height - m.top - m.bottom;
    var n = chart.x.length;
    var stacked = chart.series.filter(function (s) { return s.style === "stack"; });
    var max = 0;
    chart.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v !== null && v > max) max = v; });
    });
    for (var k = 0; k < n && stacked.length; k++) {
      var sum = stacked.reduce(function (acc, s) { return acc + (s.values[k] || 0); }, 0);
      if (sum > max) max = sum;
    }
    max = niceMax(max);
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img" });
    el("title", {}, svg).textContent = chart.title;
    yAxis(svg, m, w, h, max, chart.unit);
    var slot = w / Math.max(n, 1);
    var xOf = function (i) { return m.left + slot * (i + 0.5); };
    var yOf = function (v) { return m.top + h - (h * v) / max; };
    var span = n ? chart.x[n - 1] - chart.x[0] + chart.step : 0;
    var every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(w / 70))));
    for (var i = 0; i < n; i += every) {
      text(svg, xOf(i), height - 6, timeLabel(chart.x[i], chart.step, span), { class: "tick", "text-anchor": "middle" });
    }
    // the current bucket is still filling: shade it and say so, rather than draw a drop
    var partial = n > 0 && chart.x[n - 1] + chart.step > Date.now() / 1000 ? n - 1 : -1;
    if (partial >= 0) {
      el("rect", { x: xOf(partial) - slot / 2, y: m.top, width: slot, height: h, class: "partial-bg" }, svg);
      text(svg, Math.min(xOf(partial), m.left + w - 4), m.top + 10, "partial", { class: "tick partial-label", "text-anchor": "end" });
    }
    var base = new Array(n).fill(0);
    chart.series.forEach(function (s, si) {
      var color = colorOf(chart, s, si);
      if (s.style === "bar" || s.style === "stack") {
        var bw = Math.max(slot * 0.72, 1);
        s.values.forEach(function (v, i) {
          if (!v) return;
          var y0 = s.style === "stack" ? base[i] : 0;
          var top = yOf(y0 + v);
          var bar = { x: xOf(i) - bw / 2, y: top, width: bw, height: Math.max(yOf(y0) - top, 0.5), fill: color, class: "mark", rx: Math.min(2, bw / 4) };
          if (i === partial) { bar["fill-opacity"] = 0.4; bar["class"] = "mark mark-partial"; }
          el("rect", bar, svg);
          if (s.style === "stack") base[i] += v;
        });
        return;
      }
      var path = "", area = "", open = false, first = 0;
      var lastFull = partial >= 0 ? partial - 1 : n - 1;
      if (partial > 0 && s.values[partial] !== null && s.values[partial] !== undefined && s.values[partial - 1] !== null && s.values[partial - 1] !== undefined) {
        el("path", { d: "M" + xOf(partial - 1) + "," + yOf(s.values[partial - 1]) + "L" + xOf(partial) + "," + yOf(s.values[partial]), fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3", class: "mark mark-partial" }, svg);
      }
      s.values.forEach(function (v, i) {
        if (i > lastFull) return;
        if (v === null || v === undefined) {
          if (open && s.style === "area") area += "L" + xOf(i - 1) + "," + yOf(0) + "L" + xOf(first) + "," + yOf(0) + "Z";
          open = false;
          return;
        }
        var p = xOf(i) + "," + yOf(v);
        if (!open) first = i;
        path += (open ? "L" : "M") + p;
        area += (open ? "L" : "M") + p;
        open = true;
      });
      if (open && s.style === "area") area += "L" + xOf(lastFull) + "," + yOf(0) + "L" + xOf(first) + "," + yOf(0) + "Z";
      if (s.style === "area" && area) el("path", { d: area, fill: color, "fill-opacity": 0.12, stroke: "none" }, svg);
      if (path) el("path", { d: path, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round", "stroke-linecap": "round", class: "mark" }, svg);
      s.values.forEach(function (v, i) {
        var lone = v !== null && (i === 0 || s.values[i - 1] === null) && (i === n - 1 || s.values[i + 1] === null);
        if (lone) el("circle", { cx: xOf(i), cy: yOf(v), r: 2.5, fill: color, class: "mark" }, svg);
      });
    });
    var guide = el("line", { x1: 0, x2: 0, y1: m.top, y2: m.top + h, class: "guide", visibility: "hidden" }, svg);
    var hit = el("rect", { x: m.left, y: m.top, width: w, height: h, fill: "transparent" }, svg);
    container.appendChild(svg);
    var tip = tooltip(container);
    hit.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect();
      var x = ((ev.clientX - box.left) / box.width) * width;
      var i = Math.min(n - 1, Math.max(0, Math.floor((x - m.left) / slot)));
      guide.setAttribute("x1", xOf(i));
      guide.setAttribute("x2", xOf(i));
      guide.setAttribute("visibility", "visible");
      var rows = chart.series.map(function (s, si) { return [colorOf(chart, s, si), s.name, fmt(s.values[i], s.unit)]; });
      var title = timeLabel(chart.x[i], Math.min(chart.step, 3600), 2 * 86400) + " UTC" + (i === partial ? " (partial: so far)" : "");
      tip.show(ev.clientX - box.left, ev.clientY - box.top, title, rows);
    });
    hit.addEventListener("mouseleave", function () { guide.setAttribute("visibility", "hidden"); tip.hide(); });
  }

  function drawCategory(container, chart) {
    var labels = chart.labels;
    var ns = chart.series.length;
    var width = Math.max(container.clientWidth, 240);
    var max = 0;
    chart.series.forEach(function (s) { s.values.forEach(function (v) { if (v > max) max = v; }); });
    max = niceMax(max);
    var svg, tip;
    if (chart.horizontal) {
      var labelW = Math.min(Math.max.apply(null, labels.map(function (l) { return l.length; }).concat([4])) * 6.6 + 12, width * 0.4);
      var bar = 14, gap = 10;
      var rowH = ns * bar + gap;
      var m = { top: 4, right: 64, bottom: 4, left: labelW };
      var height = Math.max(m.top + m.bottom + labels.length * rowH, 60);
      var w = width - m.left - m.right;
      svg = el("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img" });
      el("title", {}, svg).textContent = chart.title;
      labels.forEach(function (label, i) {
        var y = m.top + i * rowH + gap / 2;
        var name = text(svg, m.left - 8, y + (ns * bar) / 2 + 4, label, { class: "label", "text-anchor": "end" });
        el("title", {}, name).textContent = label;
        chart.series.forEach(function (s, si) {
          var v = s.values[i];
          var color = colorOf(chart, s, si);
          var bw = v ? Math.max((w * v) / max, 1) : 0;
          var r = el("rect", { x: m.left, y: y + si * bar, width: bw, height: bar - 3, fill: color, rx: 2, class: v ? "mark" : "" }, svg);
          el("title", {}, r).textContent = label + " · " + s.name + ": " + fmt(v, s.unit);
          text(svg, m.left + bw + 6, y + si * bar + bar - 5, fmt(v, s.unit), { class: "value" });
        });
      });
    } else {
      var height2 = 190;
      var m2 = { top: 10, right: 10, bottom: 26, left: 52 };
      var w2 = width - m2.left - m2.right;
      var h2 = height2 - m2.top - m2.bottom;
      svg = el("svg", { viewBox: "0 0 " + width + " " + height2, width: width, height: height2, role: "img" });
      el("title", {}, svg).textContent = chart.title;
      yAxis(svg, m2, w2, h2, max, chart.unit);
      var slot = w2 / Math.max(labels.length, 1);
      var bw2 = Math.min((slot * 0.75) / ns, 48);
      var every = Math.max(1, Math.ceil(labels.length / Math.max(2, Math.floor(w2 / 44))));
      labels.forEach(function (label, i) {
        var cx = m2.left + slot * (i + 0.5);
        if (i % every === 0) text(svg, cx, height2 - 8, label, { class: "tick", "text-anchor": "middle" });
        chart.series.forEach(function (s, si) {
          var v = s.values[i] || 0;
          var x = cx - (bw2 * ns) / 2 + si * bw2;
          var y = m2.top + h2 - (h2 * v) / max;
          if (!v) return;
          var r = el("rect", { x: x + 1, y: y, width: Math.max(bw2 - 2, 1), height: m2.top + h2 - y, fill: colorOf(chart, s, si), rx: 2, class: "mark" }, svg);
          el("title", {}, r).textContent = label + " · " + s.name + ": " + fmt(s.values[i], s.unit);
        });
      });
    }
    container.appendChild(svg);
  }

  function draw(container, chart) {
    container.textContent = "";
    if (chart.note) {
      var note = document.createElement("p");
      note.className = "chart-note";
      note.textContent = chart.note;
      container.appendChild(note);
    }
    legend(container, chart);
    if (!hasData(chart)) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No data in this range";
      container.appendChild(empty);
      container.dataset.empty = "1";
      return;
    }
    delete container.dataset.empty;
    if (chart.kind === "time") drawTime(container, chart);
    else drawCategory(container, chart);
  }

  window.CWCharts = { draw: draw, fmt: fmt, pad: pad };
})();
