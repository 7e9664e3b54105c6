// inspector report: draws the timeline, the message table and the payload views from the embedded JSON.
// Payloads are untrusted: everything from the data is set with textContent (never innerHTML).
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const LABEL = 240, LANE = 24, GROUP = 20, AXIS = 24, MAX_MARKS = 4000, PAGE = 100;
  const DIRS = ["client \u2192 server", "server \u2192 client"];

  function svgEl(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function htmlEl(tag, text, parent, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    if (parent) parent.appendChild(node);
    return node;
  }

  // -- lanes: one per connection, grouped by endpoint (server) --------------------------------------------
  const conns = D.conns;
  const groups = new Map();
  for (const c of conns) {
    const key = c.server || "(unknown server)";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  const laneY = new Array(conns.length);
  let height = AXIS;
  const layout = [];
  for (const [server, list] of groups) {
    list.sort((a, b) => (a.start ?? Infinity) - (b.start ?? Infinity));
    layout.push({ kind: "group", y: height, text: server });
    height += GROUP;
    for (const c of list) {
      laneY[c.index] = height;
      layout.push({ kind: "lane", y: height, conn: c });
      height += LANE;
    }
  }

  // -- time extent ---------------------------------------------------------------------------------------
  let tMin = Infinity, tMax = -Infinity;
  function extend(t) { if (t !== null && t !== undefined) { if (t < tMin) tMin = t; if (t > tMax) tMax = t; } }
  for (const c of conns) { extend(c.start); extend(c.end); }
  for (const e of D.exchanges) { extend(e[1]); extend(e[3]); }
  for (const m of D.messages) extend(m[1]);
  for (const e of D.events) extend(e[1]);
  if (!isFinite(tMin)) { tMin = 0; tMax = 1; }
  if (tMax - tMin < 1e-3) { tMax = tMin + 1e-3; }
  const pad = (tMax - tMin) * 0.01;
  const full = [tMin - pad, tMax + pad];
  let v0 = full[0], v1 = full[1];

  // handshake time: the response of the connection's upgrade exchange (else the connection's start)
  const hsTime = D.handshakes.map(([ci]) => {
    const ex = D.exchanges.find((e) => e[0] === ci && (e[6] === 101 || e[4] === "CONNECT"));
    return ex ? (ex[2] ?? ex[1]) : conns[ci].start;
  });

  const box = document.getElementById("timeline");
  const svg = document.getElementById("timeline-svg");
  let plotW = 600;
  const x = (t) => LABEL + ((t - v0) / (v1 - v0)) * plotW;
  const visible = (t) => t !== null && t !== undefined && t >= v0 && t <= v1;

  function axis(parent) {
    const g = svgEl("g", { class: "axis" }, parent);
    const span = v1 - v0;
    let step = Math.pow(10, Math.floor(Math.log10(span / 8)));
    if (span / step > 16) step *= 5; else if (span / step > 8) step *= 2;
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      const px = x(t);
      svgEl("line", { x1: px, x2: px, y1: AXIS - 6, y2: height }, g);
      const label = svgEl("text", { x: px + 2, y: AXIS - 10 }, g);
      label.textContent = (t - tMin).toFixed(step < 0.001 ? 6 : step < 1 ? 3 : 1) + " s";
    }
  }

  function lanes(parent) {
    for (const row of layout) {
      if (row.kind === "group") {
        const t = svgEl("text", { class: "group-label", x: 4, y: row.y + 14 }, parent);
        t.textContent = row.text;
        continue;
      }
      const c = row.conn;
      const g = svgEl("g", { class: "lane", "data-conn": c.id }, parent);
      svgEl("rect", { class: "lane-bg", x: 0, y: row.y, width: LABEL + plotW + 10, height: LANE }, g);
      const t = svgEl("text", { class: "lane-label", x: 12, y: row.y + 15 }, g);
      t.textContent = c.id + " " + c.protocol + (c.gaps ? " \u26a0 " + c.gaps + " gap(s)" : "");
    }
  }

  function bars(parent) {
    D.exchanges.forEach((e, i) => {
      const start = e[1];
      if (start === null || laneY[e[0]] === undefined) return;
      const resp = e[2] ?? start, end = e[3] ?? resp;
      if (end < v0 || start > v1) return;
      const y = laneY[e[0]] + 6;
      const g = svgEl("g", { class: "bar", "data-kind": "exchange", "data-i": i }, parent);
      const a = Math.max(LABEL, x(start)), b = Math.min(LABEL + plotW, x(resp)), c = Math.min(LABEL + plotW, x(end));
      svgEl("rect", { class: "wait", x: a, y: y, width: Math.max(1.5, b - a), height: 12 }, g);
      if (c > b) svgEl("rect", { class: "body", x: b, y: y, width: c - b, height: 12 }, g);
    });
  }

  function binned(parent, items, key, cls, yOf) {
    const bins = new Map();
    for (const item of items) {
      const k = key(item) + ":" + Math.floor(x(item[1]) / 2);
      bins.set(k, (bins.get(k) || 0) + 1);
    }
    for (const [k, n] of bins) {
      const [lane, sub, col] = k.split(":").map(Number);
      const r = svgEl("rect", { class: "bin " + cls(sub), x: col * 2, y: yOf(lane, sub), width: 2,
                                height: Math.min(9, 3 + Math.log2(n + 1) * 2) }, parent);
      r.setAttribute("data-kind", "bin");
      r.setAttribute("data-n", n);
    }
  }

  function marks(parent) {
    const msgs = [], evs = [];
    D.messages.forEach((m, i) => { if (visible(m[1]) && laneY[m[0]] !== undefined) msgs.push(i); });
    D.events.forEach((e, i) => { if (visible(e[1]) && laneY[e[0]] !== undefined) evs.push(i); });
    if (msgs.length + evs.length > MAX_MARKS) {
      binned(parent, msgs.map((i) => D.messages[i]), (m) => m[0] + ":" + m[2], (d) => "dir-" + d,
             (lane, d) => laneY[lane] + (d ? 13 : 3));
      binned(parent, evs.map((i) => D.events[i]), (e) => e[0] + ":0", () => "sse", (lane) => laneY[lane] + 8);
    } else {
      for (const i of msgs) {
        const m = D.messages[i];
        const cls = "mark msg dir-" + m[2] + (m[3] === "close" ? " close" : "") + (m[7] & 1 ? " viol" : "") +
          (m[7] & 2 ? " gap" : "");
        svgEl("rect", { class: cls, x: x(m[1]) - 1, y: laneY[m[0]] + (m[2] ? 13 : 3), width: 3, height: 8,
                        "data-kind": "message", "data-i": i }, parent);
      }
      for (const i of evs) {
        const e = D.events[i];
        svgEl("circle", { class: "mark sse", cx: x(e[1]), cy: laneY[e[0]] + 12, r: 3.5, "data-kind": "event",
                          "data-i": i }, parent);
      }
    }
    D.handshakes.forEach((h, i) => {
      const t = hsTime[i];
      if (!visible(t) || laneY[h[0]] === undefined) return;
      const px = x(t), y = laneY[h[0]] + 12;
      svgEl("path", { class: "mark hs" + (h[1] ? "" : " viol"), d: `M${px} ${y - 6}l5 6l-5 6l-5 -6z`,
                      "data-kind": "handshake", "data-i": i }, parent);
    });
    D.violations.forEach((v, i) => {
      if (!visible(v[1]) || laneY[v[0]] === undefined) return;
      const px = x(v[1]), y = laneY[v[0]] + 2;
      svgEl("path", { class: "mark viol", d: `M${px - 4} ${y}h8l-4 7z`, "data-kind": "violation", "data-i": i },
            parent);
    });
  }

  let pending = false;
  function render() {
    pending = false;
    plotW = Math.max(300, box.clientWidth - LABEL - 12);
    svg.setAttribute("width", LABEL + plotW + 10);
    svg.setAttribute("height", height + 4);
    svg.textContent = "";
    lanes(svg);
    axis(svg);
    bars(svg);
    marks(svg);
    document.getElementById("range").textContent =
      "showing " + (v0 - tMin).toFixed(3) + " s to " + (v1 - tMin).toFixed(3) + " s";
  }
  function later() { if (!pending) { pending = true; requestAnimationFrame(render); } }
  function zoom(factor, at) {
    const center = at ?? (v0 + v1) / 2;
    const span = Math.max(1e-6, (v1 - v0) * factor);
    const ratio = (center - v0) / (v1 - v0);
    v0 = center - ratio * span;
    v1 = v0 + span;
    later();
  }
  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("zoom-reset").addEventListener("click", () => { v0 = full[0]; v1 = full[1]; later(); });
  const timeAt = (clientX) => v0 + ((clientX - svg.getBoundingClientRect().left - LABEL) / plotW) * (v1 - v0);
  svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, timeAt(ev.clientX)); },
                       { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v0: v0, v1: v1, moved: false }; });
  window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
  window.addEventListener("mousemove", (ev) => {
    if (!drag || !(ev.buttons & 1)) return;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 2) drag.moved = true;
    const dt = (dx / plotW) * (drag.v1 - drag.v0);
    v0 = drag.v0 - dt; v1 = drag.v1 - dt;
    later();
  });
  window.addEventListener("resize", later);

  // -- records behind the marks ----------------------------------------------------------------------------
  function record(kind, i) {
    if (kind === "message") {
      const m = D.messages[i];
      return { type: "message", conn: conns[m[0]].id, ts: m[1], direction: m[2] ? "server" : "client",
               opcode_name: m[3], length: m[4], close_code: m[8], violations: m[9] || undefined,
               complete: !(m[7] & 2), preview: m[6] ? m[5] : "hex " + m[5] };
    }
    if (kind === "event") {
      const e = D.events[i];
      return { type: "sse_event", conn: conns[e[0]].id, ts: e[1], event: e[2], id: e[3], data: e[4], length: e[5] };
    }
    if (kind === "exchange") {
      const e = D.exchanges[i];
      return { type: "exchange", conn: conns[e[0]].id, method: e[4], url: e[5], status: e[6], content_type: e[7],
               ts_request: e[1], ts_response: e[2], ts_end: e[3], response_body_bytes: e[8] };
    }
    if (kind === "handshake") {
      const h = D.handshakes[i];
      return { type: "handshake", conn: conns[h[0]].id, valid: h[1], url: h[2] };
    }
    if (kind === "violation") {
      const v = D.violations[i];
      return { type: "frame", conn: conns[v[0]].id, ts: v[1], direction: v[2], violations: v[3] };
    }
    return null;
  }
  const tooltip = document.getElementById("tooltip");
  svg.addEventListener("mousemove", (ev) => {
    const target = ev.target.closest("[data-kind]");
    if (!target) { tooltip.hidden = true; return; }
    const kind = target.getAttribute("data-kind");
    const rec = kind === "bin" ? { messages: Number(target.getAttribute("data-n")), note: "zoom in to see them" }
      : record(kind, Number(target.getAttribute("data-i")));
    tooltip.textContent = JSON.stringify(rec, null, 1).slice(0, 1200);
    tooltip.hidden = false;
    tooltip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + "px";
    tooltip.style.top = ev.clientY + 12 + "px";
  });
  svg.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  svg.addEventListener("click", (ev) => {
    if (drag && drag.moved) return;
    const target = ev.target.closest("[data-kind]");
    if (!target || target.getAttribute("data-kind") === "bin") return;
    const kind = target.getAttribute("data-kind"), i = Number(target.getAttribute("data-i"));
    document.getElementById("record").textContent = JSON.stringify(record(kind, i), null, 2);
    if (kind === "message") select(i);
  });

  // -- message table -----------------------------------------------------------------------------------------
  const fConn = document.getElementById("f-conn"), fDir = document.getElementById("f-dir");
  const fType = document.getElementById("f-type"), fSearch = document.getElementById("f-search");
  for (const c of conns) {
    const o = htmlEl("option", c.id + " " + c.protocol + " " + (c.server || ""), fConn);
    o.value = c.index;
  }
  for (const t of [...new Set(D.messages.map((m) => m[3]))].sort()) htmlEl("option", t, fType).value = t;
  let rows = D.messages.map((_, i) => i), page = 0, selected = -1, view = "text";
  function previewText(m) {
    const body = m[6] ? m[5] : "0x" + m[5];
    return (m[8] !== null ? "close " + m[8] + " " : "") + body;
  }
  function filter() {
    const conn = fConn.value, dir = fDir.value, type = fType.value, q = fSearch.value.toLowerCase();
    rows = [];
    D.messages.forEach((m, i) => {
      if (conn !== "" && m[0] !== Number(conn)) return;
      if (dir !== "" && m[2] !== Number(dir)) return;
      if (type !== "" && m[3] !== type) return;
      if (q && m[5].toLowerCase().indexOf(q) < 0) return;
      rows.push(i);
    });
    page = 0;
    table();
  }
  function table() {
    const body = document.getElementById("msg-body");
    body.textContent = "";
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    for (const i of rows.slice(page * PAGE, page * PAGE + PAGE)) {
      const m = D.messages[i];
      const tr = htmlEl("tr", null, body, i === selected ? "selected" : "");
      tr.setAttribute("data-i", i);
      htmlEl("td", i + 1, tr);
      htmlEl("td", m[1] === null ? "" : (m[1] - tMin).toFixed(6), tr);
      htmlEl("td", conns[m[0]].id, tr);
      htmlEl("td", m[2] ? "\u2190" : "\u2192", tr).title = DIRS[m[2]];
      htmlEl("td", m[3], tr);
      htmlEl("td", m[4], tr);
      htmlEl("td", previewText(m).slice(0, 120), tr, "preview");
    }
    document.getElementById("page-info").textContent =
      "page " + (page + 1) + " of " + pages + " (" + rows.length + " messages)";
    document.getElementById("match-count").textContent = rows.length + " of " + D.messages.length + " shown";
  }
  let debounce = null;
  for (const input of [fConn, fDir, fType]) input.addEventListener("change", filter);
  fSearch.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(filter, 120); });
  document.getElementById("page-prev").addEventListener("click", () => { if (page > 0) { page--; table(); } });
  document.getElementById("page-next").addEventListener("click", () => { page++; table(); });
  document.getElementById("msg-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-i]");
    if (tr) select(Number(tr.getAttribute("data-i")));
  });

  // -- payload views ---------------------------------------------------------------------------------------
  function bytesOf(m) {
    if (m[6]) return new TextEncoder().encode(m[5]);
    const out = new Uint8Array(m[5].length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(m[5].substr(i * 2, 2), 16);
    return out;
  }
  function textOf(m) { return m[6] ? m[5] : new TextDecoder("utf-8", { fatal: false }).decode(bytesOf(m)); }
  function hexdump(bytes) {
    const lines = [];
    for (let off = 0; off < bytes.length; off += 16) {
      const chunk = bytes.subarray(off, off + 16);
      const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, "0")).join(" ");
      const ascii = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(off.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
    }
    return lines.join("\n");
  }
  function show() {
    const out = document.getElementById("payload");
    if (selected < 0) return;
    const m = D.messages[selected];
    const cut = m[7] & 4;
    document.getElementById("detail-info").textContent = "#" + (selected + 1) + " " + conns[m[0]].id + " " +
      DIRS[m[2]] + " " + m[3] + ", " + m[4] + " bytes" + (cut ? " (preview: the first " + D.preview +
      (m[6] ? " characters)" : " bytes)") : "") + (m[9] ? " violations: " + m[9] : "");
    if (view === "hex") out.textContent = hexdump(bytesOf(m));
    else if (view === "json") {
      try { out.textContent = JSON.stringify(JSON.parse(textOf(m)), null, 2); }
      catch (err) { out.textContent = "(not JSON" + (cut ? ", or only a preview of it" : "") + ")\n\n" + textOf(m); }
    } else out.textContent = (m[8] !== null ? "close code " + m[8] + "\n" : "") + textOf(m);
  }
  function select(i) {
    selected = i;
    const at = rows.indexOf(i);
    if (at >= 0) page = Math.floor(at / PAGE);
    table();
    show();
  }
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      view = button.getAttribute("data-view");
      for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b === button);
      show();
    });
  }

  document.getElementById("summary").textContent = conns.length + " connections, " + D.exchanges_total +
    " exchanges, " + D.messages_total + " WebSocket messages, " + D.events_total + " SSE events";
  render();
  table();
  window.inspectorReport = { data: D, render: render, ready: true };
})();
