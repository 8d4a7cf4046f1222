// CardioRadar live view: the live records of `edge run` over a WebSocket, drawn with uPlot.
// window.crStats counts what arrived (tests read it; a tester can too, in the console).
(function () {
  "use strict";
  var LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];
  var SPAN_S = 10;          // seconds of ECG on screen
  var LEAD_STEP_MV = 2.5;   // vertical spacing of the 12-lead strip
  var token = new URLSearchParams(location.search).get("token");
  var q = token ? "?token=" + encodeURIComponent(token) : "";
  var stats = window.crStats = { messages: 0, blocks: 0, samples: 0, events: 0, markersSent: 0,
                                 markersQueued: 0, connected: false, lastT: null, errors: [] };
  var buf = { t: [], v: LEADS.map(function () { return []; }) };
  var plot = null, mode = "all", ws = null, retryMs = 500, nextId = 1;
  var $ = function (id) { return document.getElementById(id); };

  LEADS.forEach(function (name, i) {
    var o = document.createElement("option");
    o.value = String(i); o.textContent = name;
    $("lead").appendChild(o);
  });

  function fmt(x, nd) { return (x === null || x === undefined) ? "--" : Number(x).toFixed(nd); }
  function clock(t) {
    var s = Math.floor(t), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    return (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }

  // --- the strip ---------------------------------------------------------------------------
  function makePlot() {
    if (plot) { plot.destroy(); }
    var all = mode === "all";
    var width = Math.max(200, $("plot").clientWidth || window.innerWidth - 16);
    var series = [{}];
    var idx = all ? LEADS.map(function (_, i) { return i; }) : [Number(mode)];
    idx.forEach(function (i) {
      series.push({ label: LEADS[i], stroke: all ? "#111" : "#b00020", width: 1, points: { show: false } });
    });
    var opts = {
      width: width, height: all ? Math.min(640, Math.max(360, 44 * 12)) : 240,
      legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false },
                y: all ? { range: [-(LEADS.length - 1) * LEAD_STEP_MV - 1.5, 1.5] } : { auto: true } },
      axes: [{ label: "session time (s)", size: 40 },
             all ? { size: 40, splits: function () { return LEADS.map(function (_, i) { return -i * LEAD_STEP_MV; }); },
                     values: function () { return LEADS; } }
                 : { label: LEADS[Number(mode)] + " (mV)", size: 50 }],
      series: series
    };
    plot = new uPlot(opts, data(), $("plot"));
  }

  function data() {
    var out = [buf.t];
    if (mode === "all") {
      buf.v.forEach(function (col, i) {
        var off = -i * LEAD_STEP_MV;
        out.push(col.map(function (x) { return x === null ? null : x + off; }));
      });
    } else {
      out.push(buf.v[Number(mode)]);
    }
    return out;
  }

  function addBlock(m) {
    var n = m.ecg_mv.length, dt = 1 / m.fs_hz;
    var last = buf.t.length ? buf.t[buf.t.length - 1] : null;
    if (last !== null && m.t0_s <= last) { return; }           // already shown (history + live)
    if (last !== null && m.t0_s - last > 1.5 * dt) {         // a gap: break the line there
      buf.t.push(last + dt);
      buf.v.forEach(function (col) { col.push(null); });
    }
    for (var k = 0; k < n; k++) {
      buf.t.push(m.t0_s + k * dt);
      for (var j = 0; j < LEADS.length; j++) { buf.v[j].push(m.excluded ? null : m.ecg_mv[k][j]); }
    }
    var tEnd = buf.t[buf.t.length - 1], cut = 0;
    while (cut < buf.t.length && buf.t[cut] < tEnd - SPAN_S) { cut++; }
    if (cut) { buf.t.splice(0, cut); buf.v.forEach(function (col) { col.splice(0, cut); }); }
    stats.blocks++; stats.samples += n; stats.lastT = tEnd;
    $("clock").textContent = "t " + clock(tEnd) + (m.excluded ? " (excluded stretch)" : "");
  }

  // --- vitals, status, events ----------------------------------------------------------------
  function vitals(v) {
    if (!v) { return; }
    $("hr").textContent = fmt(v.hr_bpm, 0);
    $("br").textContent = fmt(v.br_bpm, 0);
    $("quality").textContent = fmt(v.quality, 2);
    $("hr-source").textContent = v.source ? "(" + v.source + ")" : "";
  }

  function status(s) {
    if (!s) { return; }
    var a = $("alert");
    a.hidden = !s.alert;
    a.textContent = s.alert || "";
    $("stats").textContent = "frames " + s.frames + " | drops " + s.drops + " | excluded " + fmt(s.excluded_s, 0) +
      " s | latency p95 " + fmt(s.latency_p95_s, 2) + " s | session " + fmt(s.session_mb, 1) + " MB";
  }

  function event(e) {
    stats.events++;
    var li = document.createElement("li");
    li.className = e.kind;
    li.textContent = clock(e.t_s) + "  " + e.kind + (e.detail ? ": " + e.detail : "");
    var ol = $("events");
    ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > 50) { ol.removeChild(ol.lastChild); }
    if (e.kind === "marker") { stats.lastMarkerT = e.t_s; $("marker-state").textContent = "recorded at " + clock(e.t_s) + ": " + e.detail; }
  }

  function handle(m) {
    stats.messages++;
    if (m.type === "hello") {
      buf = { t: [], v: LEADS.map(function () { return []; }) };
      $("events").textContent = "";
      (m.ecg || []).forEach(addBlock);
      (m.events || []).forEach(event);
      vitals(m.vitals); status(m.status);
      plot.setData(data());
    } else if (m.type === "ecg") {
      addBlock(m); plot.setData(data());
    } else if (m.type === "vitals") {
      vitals(m);
    } else if (m.type === "status") {
      status(m);
    } else if (m.type === "event") {
      event(m);
    } else if (m.type === "marker_queued") {
      stats.markersQueued++;
      $("marker-state").textContent = "sent: " + m.text;
    } else if (m.type === "error") {
      stats.errors.push(m.error);
      $("marker-state").textContent = m.error;
    }
  }

  // --- the connection (reconnects: a phone locks its screen, Wi-Fi drops) ----------------------
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws" + q);
    ws.onopen = function () { stats.connected = true; retryMs = 500; $("conn").textContent = "live"; };
    ws.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    ws.onclose = function () {
      stats.connected = false;
      $("conn").textContent = "connection lost: retrying...";
      setTimeout(connect, retryMs);
      retryMs = Math.min(10000, retryMs * 2);
    };
  }

  function sendMarker(text) {
    text = text.trim();
    if (!text) { $("marker-state").textContent = "type a marker first"; return; }
    stats.markersSent++;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "marker", text: text, id: nextId++ }));
    } else {
      fetch("/api/marker" + q, { method: "POST", headers: { "Content-Type": "application/json" },
                                 body: JSON.stringify({ text: text }) })
        .then(function (r) { return r.json(); })
        .then(function (r) { handle(r.error ? { type: "error", error: r.error } : { type: "marker_queued", text: r.text }); })
        .catch(function (e) { $("marker-state").textContent = "not sent: " + e; });
    }
    $("marker-text").value = "";
  }

  $("marker-form").addEventListener("submit", function (ev) { ev.preventDefault(); sendMarker($("marker-text").value); });
  Array.prototype.forEach.call(document.querySelectorAll(".chip"), function (b) {
    b.addEventListener("click", function () { sendMarker(b.textContent); });
  });
  $("lead").addEventListener("change", function () { mode = this.value; makePlot(); });
  var resizeT = null;
  window.addEventListener("resize", function () { clearTimeout(resizeT); resizeT = setTimeout(makePlot, 200); });

  makePlot();
  connect();
})();
