// The device page's chart: a resource's series from the API, drawn with uPlot, extended live.
//
// The series comes from GET /api/v1/endpoints/<ep>/series (the browser's session): every point when few,
// else buckets computed by the database (drawn as the mean, with min and max around it). When the
// latest-values table is swapped in by the websocket, a newer value of the charted resource is appended.
(function () {
  "use strict";
  var chart = null;
  var state = { path: null, since: null, until: null, live: true };

  function element() { return document.getElementById("chart"); }

  function setRangeButtons(seconds) {
    document.querySelectorAll(".ranges button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.range) === seconds));
    });
  }

  function load() {
    var box = element();
    if (!box || !window.uPlot) return;
    var params = new URLSearchParams({ path: state.path, buckets: "400" });
    if (state.since) params.set("since", state.since.toISOString());
    if (state.until) params.set("until", state.until.toISOString());
    fetch(box.dataset.seriesUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (result) { draw(result[0], result[1]); })
      .catch(function () { message("The series could not be loaded."); });
  }

  function message(text) {
    var box = element();
    if (chart) { chart.destroy(); chart = null; }
    box.textContent = text;
    box.dataset.points = "0";
  }

  function draw(ok, body) {
    var box = element();
    if (!ok) { message(body.detail || "The series could not be loaded."); return; }
    var xs = [], mean = [], low = [], high = [];
    if (body.kind === "points") {
      body.points.forEach(function (p) {
        if (typeof p.value !== "number" && typeof p.value !== "boolean") return;
        xs.push(Date.parse(p.time) / 1000);
        var v = Number(p.value);
        mean.push(v); low.push(null); high.push(null);
      });
    } else {
      body.buckets.forEach(function (b) {
        xs.push((Date.parse(b.first_at) + Date.parse(b.last_at)) / 2000);
        mean.push(b.mean); low.push(b.min); high.push(b.max);
      });
    }
    if (chart) { chart.destroy(); chart = null; }
    box.textContent = "";
    if (!xs.length) { message("No readings in this range."); return; }
    var label = body.name + (body.units ? " (" + body.units + ")" : "");
    var options = {
      width: Math.max(280, box.clientWidth || 600),
      height: 260,
      series: [
        { label: "Time", value: function (u, t) { return t == null ? "--" : day(t) + " " + clock(t, true); } },
        { label: label, stroke: "#1f5fbf", width: 1.5, points: { show: body.kind === "points" } },
        { label: "min", stroke: "#9db7e0", width: 1, dash: [4, 4] },
        { label: "max", stroke: "#9db7e0", width: 1, dash: [4, 4] },
      ],
      axes: [{ label: "Time (" + zoneName() + ")", values: timeTicks, space: 70 }, { label: label }],
    };
    chart = new uPlot(options, [xs, mean, low, high], box);
    box.dataset.points = String(xs.length);
    window.fieldhubChart = chart;
  }

  // The time axis in the browser's time zone, named on the axis, with the date (year first) on the first
  // tick of each day: "14:00" alone never leaves the reader guessing which day or zone it is.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function day(t) {
    var d = new Date(t * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }
  function clock(t, seconds) {
    var d = new Date(t * 1000);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + (seconds ? ":" + pad(d.getSeconds()) : "");
  }
  function zoneName() {
    var offset = -new Date().getTimezoneOffset();
    var utc = "UTC" + (offset < 0 ? "\u2212" : "+") + pad(Math.floor(Math.abs(offset) / 60)) + ":" + pad(Math.abs(offset) % 60);
    var zone = window.Intl ? Intl.DateTimeFormat().resolvedOptions().timeZone : "";
    return zone && zone !== "UTC" ? zone + ", " + utc : utc;
  }
  function timeTicks(u, splits, axisIndex, space, increment) {
    var previous = null;
    return splits.map(function (t) {
      var date = day(t);
      var first = date !== previous;
      previous = date;
      if (increment >= 86400) return date;
      var time = clock(t, increment < 60);
      return first ? time + "\n" + date : time;
    });
  }

  // A newer value of the charted resource arrived in the latest-values table: append it.
  function extend() {
    if (!chart || !state.live) return;
    var row = document.querySelector('#latest-values tr[data-path="' + state.path + '"]');
    if (!row || row.dataset.value === undefined) return;
    var t = Number(row.dataset.time), v = Number(row.dataset.value);
    var xs = chart.data[0];
    if (xs.length && t <= xs[xs.length - 1]) return;
    var data = chart.data.map(function (column) { return column.slice(); });
    data[0].push(t); data[1].push(v); data[2].push(null); data[3].push(null);
    chart.setData(data);
    element().dataset.points = String(data[0].length);
  }

  function range(seconds) {
    state.until = null;
    state.since = new Date(Date.now() - seconds * 1000);
    state.live = true;
    setRangeButtons(seconds);
    load();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("chart-path");
    if (!select) return;
    state.path = select.value;
    select.addEventListener("change", function () { state.path = select.value; load(); });
    document.querySelectorAll(".ranges button").forEach(function (button) {
      button.addEventListener("click", function () { range(Number(button.dataset.range)); });
    });
    document.getElementById("chart-custom").addEventListener("click", function () {
      var since = document.getElementById("chart-since").value;
      var until = document.getElementById("chart-until").value;
      if (!since) return;
      state.since = new Date(since);  // the browser's time zone
      state.until = until ? new Date(until) : null;
      state.live = !until;
      setRangeButtons(0);
      load();
    });
    range(86400);
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.target && event.target.id === "latest-values") extend();
  });
})();
