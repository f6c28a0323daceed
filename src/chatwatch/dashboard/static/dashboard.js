/* chatwatch overview: renders the data document, keeps the range and filters in the
 * address, and fetches fresh data every 30 s without reloading the page.
 * Anything from data is inserted with textContent (never innerHTML). */
(function () {
  "use strict";
  var root = document.getElementById("overview");
  if (!root) return;
  var base = root.dataset.base;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var fmt = window.CWCharts.fmt;
  var pad = window.CWCharts.pad;
  var data = JSON.parse(document.getElementById("initial-data").textContent);
  var params = new URLSearchParams(location.search);
  var timer = null;
  var loading = false;

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "cls") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function when(ts) {
    if (ts === null || ts === undefined) return "—";
    var d = new Date(ts * 1000);
    return pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }

  function text(value) { return value === null || value === undefined || value === "" ? "—" : String(value); }

  /* ---- cards ---- */
  // a figure with a KPI target: met (green), miss (amber), nodata (grey); none without one
  function kpiClass(s) { return s.kpi ? " kpi-" + s.kpi : ""; }
  function kpiTitle(s) {
    if (!s.kpi) return "";
    return "target " + s.target + ": " + ({ met: "met", miss: "missed", nodata: "no data" })[s.kpi];
  }
  function renderCards(cards) {
    var box = document.getElementById("cards");
    box.textContent = "";
    cards.forEach(function (c) {
      var subs = h("ul", { cls: "subs" }, c.subs.map(function (s) {
        return h("li", { "data-metric": s.metric, "data-window": s.window, "data-value": s.value === null ? "" : String(s.value), cls: "level-" + s.level + kpiClass(s), title: kpiTitle(s) }, [
          h("span", { text: s.label }), h("b", { text: s.display }),
        ]);
      }));
      box.appendChild(h("article", { cls: "card level-" + c.level + kpiClass(c), title: kpiTitle(c), "data-card": c.key, "data-metric": c.metric, "data-window": c.window, "data-value": c.value === null ? "" : String(c.value) }, [
        h("h3", { text: c.title }),
        h("p", { cls: "value", text: c.display }),
        subs,
      ]));
    });
  }

  /* ---- charts ---- */
  function renderCharts(charts) {
    var box = document.getElementById("charts");
    charts.forEach(function (chart) {
      var fig = box.querySelector('figure[data-chart="' + chart.id + '"]');
      if (!fig) {
        fig = h("figure", { cls: "chart panel" + (chart.kind === "time" ? " chart-time" : ""), "data-chart": chart.id }, [
          h("figcaption", { text: chart.title }), h("div", { cls: "plot" }),
        ]);
        box.appendChild(fig);
      }
      fig.querySelector("figcaption").textContent = chart.title;
      window.CWCharts.draw(fig.querySelector(".plot"), chart);
    });
  }

  /* ---- tables ---- */
  function table(id, columns, rows, empty) {
    var box = document.getElementById(id);
    box.textContent = "";
    if (!rows.length) {
      box.appendChild(h("p", { cls: "empty", text: empty }));
      return;
    }
    var head = h("tr", {}, columns.map(function (c) { return h("th", { cls: c.cls || "", text: c.title }); }));
    var body = h("tbody", {}, rows.map(function (row) {
      var tr = h("tr", row.href ? { cls: "link-row", "data-href": row.href } : {}, columns.map(function (c) {
        var v = c.value(row);
        return h("td", { cls: c.cls || "" }, [typeof v === "string" ? v : v]);
      }));
      return tr;
    }));
    box.appendChild(h("table", { cls: "grid-table" }, [h("thead", {}, [head]), body]));
  }

  function sessionLink(row) {
    return h("a", { href: row.href, cls: "mono", title: row.session_id, text: row.session_id });
  }

  function badge(textValue, kind) { return h("span", { cls: "badge badge-" + kind, text: textValue }); }

  var sessionColumns = [
    { title: "Session", value: sessionLink },
    { title: "User", value: function (r) { return text(r.user_id); }, cls: "mono" },
    { title: "Type", value: function (r) { return text(r.user_type); } },
    { title: "Service", value: function (r) { return r.service; } },
    { title: "Started", value: function (r) { return when(r.started_at); }, cls: "nowrap" },
    { title: "Last seen", value: function (r) { return when(r.last_seen); }, cls: "nowrap" },
    { title: "Turns", value: function (r) { return String(r.turns); }, cls: "num" },
    { title: "Errors", value: function (r) { return r.errors ? badge(String(r.errors), "critical") : "0"; }, cls: "num" },
    { title: "Status", value: function (r) {
      if (r.escalated_at !== null) return badge("escalated", "warning");
      return r.ended_at !== null ? badge("ended", "muted") : badge("open", "ok");
    } },
  ];

  function renderTables(t) {
    table("recent_sessions", sessionColumns, t.recent_sessions, "No sessions in this range.");
    table("error_turns", [
      { title: "Time", value: function (r) { return when(r.ts); }, cls: "nowrap" },
      { title: "Error", value: function (r) { return badge(text(r.error_type), "critical"); } },
      { title: "Topic", value: function (r) { return text(r.topic); } },
      { title: "Model", value: function (r) { return text(r.model); }, cls: "mono" },
      { title: "Response", value: function (r) { return fmt(r.response_time_ms, "ms"); }, cls: "num" },
      { title: "User", value: function (r) { return text(r.user_id); }, cls: "mono" },
      { title: "Session", value: sessionLink },
    ], t.error_turns, "No failed turns in this range.");
    table("escalated_sessions", [
      { title: "Session", value: sessionLink },
      { title: "User", value: function (r) { return text(r.user_id); }, cls: "mono" },
      { title: "Escalated", value: function (r) { return when(r.escalated_at); }, cls: "nowrap" },
      { title: "Reason", value: function (r) { return r.reason ? badge(r.reason, "warning") : "—"; } },
      { title: "Turns", value: function (r) { return String(r.turns); }, cls: "num" },
    ], t.escalated_sessions, "No escalations in this range.");
    table("top_users", [
      { title: "User", value: function (r) { return h("a", { href: r.href, text: r.user_id, title: "this user's sessions" }); }, cls: "mono" },
      { title: "Messages", value: function (r) { return fmt(r.messages, "count"); }, cls: "num" },
    ], t.top_users, "No messages in this range.");
    renderAlerts(t.alerts);
  }

  /* ---- alerts ---- */
  function postForm(action, fields, children) {
    var form = h("form", { method: "post", action: base + action, cls: "inline-form" });
    var all = Object.assign({ csrf_token: csrf, next: location.pathname + location.search }, fields);
    for (var key in all) form.appendChild(h("input", { type: "hidden", name: key, value: all[key] }));
    children.forEach(function (c) { form.appendChild(c); });
    return form;
  }

  function silenceForm(alert, hours) {
    var select = h("select", { name: "hours", "aria-label": "Silence for" }, hours.map(function (n) {
      return h("option", n === 4 ? { value: String(n), selected: "selected" } : { value: String(n) }, [n < 24 ? n + " h" : n / 24 + " d"]);
    }));
    var note = h("input", { name: "comment", placeholder: "reason (optional)", maxlength: "500", "aria-label": "Reason" });
    var button = h("button", { type: "submit", cls: "btn btn-small", text: "Silence" });
    return postForm("/alerts/silence", { fingerprint: alert.fingerprint }, [select, note, button]);
  }

  function labelText(labels) {
    return Object.keys(labels).filter(function (k) { return k !== "alertname" && k !== "severity"; })
      .map(function (k) { return k + "=" + labels[k]; }).join(", ");
  }

  function renderAlerts(a) {
    var box = document.getElementById("alerts");
    var note = document.getElementById("alerts-note");
    box.textContent = "";
    if (!a.available) {
      note.textContent = "";
      box.appendChild(h("p", { cls: "empty", text: "Alerts are not available: " + a.reason + "." }));
      return;
    }
    var firing = a.current.filter(function (x) { return x.state === "firing"; }).length;
    note.textContent = firing ? firing + " firing" : "";
    if (!a.current.length) box.appendChild(h("p", { cls: "all-clear", text: "✓ No alerts firing or pending." }));
    else {
      var rows = a.current.map(function (x) {
        return h("tr", { "data-fingerprint": x.fingerprint }, [
          h("td", {}, [badge(x.level || x.state, x.level || "muted")]),
          h("td", {}, [badge(x.state, x.state === "firing" ? "critical" : "muted"), x.silenced ? badge("silenced", "muted") : null]),
          h("td", {}, [h("b", { text: x.title }), " ", h("span", { cls: "mono small muted", text: x.rule }), h("div", { cls: "muted small", text: x.summary })]),
          h("td", { cls: "mono small", text: labelText(x.labels) || "—" }),
          h("td", { cls: "num nowrap", text: x.value + " / " + x.threshold }),
          h("td", { cls: "nowrap", text: when(x.fired_at || x.since) }),
          h("td", {}, [silenceForm(x, a.hours)]),
        ]);
      });
      var head = h("tr", {}, ["Level", "State", "Alert", "Labels", "Value / threshold", "Since", ""].map(function (t) { return h("th", { text: t }); }));
      box.appendChild(h("div", { cls: "table-wrap" }, [h("table", { cls: "grid-table alerts-table" }, [h("thead", {}, [head]), h("tbody", {}, rows)])]));
    }
    if (a.silences.length) {
      box.appendChild(h("h3", { cls: "sub-head", text: "Active silences" }));
      box.appendChild(h("ul", { cls: "silences" }, a.silences.map(function (s) {
        var expire = postForm("/alerts/expire", { silence_id: s.id }, [h("button", { type: "submit", cls: "btn btn-small btn-quiet", text: "Expire" })]);
        return h("li", { "data-silence": s.id }, [
          h("span", { cls: "mono small", text: s.matchers.join(", ") }),
          h("span", { cls: "muted small", text: " until " + when(s.ends_at) + " by " + s.created_by + (s.comment ? " — " + s.comment : "") }),
          expire,
        ]);
      })));
    }
    if (a.recent.length) {
      var list = h("ol", { cls: "transitions" }, a.recent.map(function (t) {
        return h("li", {}, [
          h("span", { cls: "nowrap muted", text: when(t.ts) }), " ",
          h("b", { text: t.rule }), " ",
          h("span", { text: t.from_state + " → " + t.to_state + (t.level ? " (" + t.level + ")" : "") }), " ",
          h("span", { cls: "mono small muted", text: labelText(t.labels) }),
        ]);
      }));
      box.appendChild(h("details", { cls: "recent-alerts" }, [h("summary", { text: "Recent alert changes (" + a.recent.length + ")" }), list]));
    }
  }

  /* ---- controls ---- */
  function fillSelect(id, values, chosen) {
    var select = document.getElementById(id);
    while (select.options.length > 1) select.remove(1);
    values.forEach(function (v) {
      var opt = h("option", { value: v, text: v });
      if (v === chosen) opt.selected = true;
      select.appendChild(opt);
    });
    select.value = chosen || "";
  }

  function currentWindow() {
    if (params.get("start") && params.get("end")) return "custom";
    return params.get("window") || "24h";
  }

  function renderControls(d) {
    var active = currentWindow();
    document.querySelectorAll(".seg-btn").forEach(function (b) {
      b.classList.toggle("active", b.dataset.window === active);
      b.setAttribute("aria-pressed", b.dataset.window === active ? "true" : "false");
    });
    document.getElementById("custom-range").hidden = active !== "custom";
    fillSelect("service", d.choices.services, d.filters.service);
    fillSelect("model", d.choices.models, d.filters.model);
    var updated = document.getElementById("updated-at");
    var at = new Date(d.updated_at);
    updated.textContent = pad(at.getUTCHours()) + ":" + pad(at.getUTCMinutes()) + ":" + pad(at.getUTCSeconds()) + " UTC";
    updated.setAttribute("datetime", d.updated_at);
  }

  function render(d) {
    data = d;
    renderControls(d);
    renderCards(d.cards);
    renderCharts(d.charts);
    renderTables(d.tables);
    renderNotices(d.notices || []);
    root.dataset.updatedAt = d.updated_at;
  }

  function renderNotices(notices) {
    var box = document.getElementById("label-notice");
    if (!box) return;
    box.hidden = !notices.length;
    box.textContent = notices.join(" ");
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, (data.refresh_seconds || 30) * 1000);
  }

  function showError(message) {
    var box = document.getElementById("fetch-error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  function refresh() {
    if (loading) return;
    loading = true;
    root.classList.add("loading");
    fetch(base + "/api/data?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.status === 401) {
          location.href = base + "/login?next=" + encodeURIComponent(location.pathname + location.search);
          throw new Error("login required");
        }
        if (!resp.ok) return resp.json().then(function (body) {
          var detail = body && body.detail;
          throw new Error(Array.isArray(detail) ? detail.map(function (x) { return x.msg; }).join("; ") : String(detail || resp.status));
        });
        return resp.json();
      })
      .then(function (d) { showError(null); render(d); })
      .catch(function (err) { showError("Could not refresh: " + err.message); })
      .finally(function () { loading = false; root.classList.remove("loading"); schedule(); });
  }

  function setParam(name, value) {
    if (value) params.set(name, value); else params.delete(name);
  }

  function apply() {
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params.toString() : ""));
    refresh();
  }

  document.querySelectorAll(".seg-btn").forEach(function (b) {
    b.addEventListener("click", function () {
      if (b.dataset.window === "custom") {
        document.getElementById("custom-range").hidden = false;
        var end = new Date(data.window.end * 1000), start = new Date(data.window.start * 1000);
        document.getElementById("start").value = params.get("start") || start.toISOString().slice(0, 16);
        document.getElementById("end").value = params.get("end") || end.toISOString().slice(0, 16);
        return;
      }
      setParam("window", b.dataset.window === "24h" ? "" : b.dataset.window);
      setParam("start", ""); setParam("end", "");
      apply();
    });
  });
  document.getElementById("controls").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var start = document.getElementById("start").value, end = document.getElementById("end").value;
    if (!start || !end) { showError("Give both ends of the custom range."); return; }
    setParam("window", ""); setParam("start", start); setParam("end", end);
    apply();
  });
  ["service", "model"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function (ev) { setParam(id, ev.target.value); apply(); });
  });
  document.getElementById("refresh").addEventListener("click", refresh);
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr.link-row");
    if (row && !ev.target.closest("a, button, form")) location.href = row.dataset.href;
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { renderCharts(data.charts); }, 150);
  });

  render(data);
  schedule();
})();
