// The door tablet: renders the room's day, follows it live (server-sent events), checks
// people in by typed or scanned code, and keeps working when the network drops: the day's
// list stays in localStorage and check-ins wait there, each with its nonce, until the
// server answers again.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("tablet-data").textContent);
  const T = data.text;
  const roomKey = "linli.tablet." + data.timeline.room_id + ".";
  const KEYS = { day: roomKey + "day", queue: roomKey + "queue", conflicts: roomKey + "conflicts" };
  const RETRY_MS = 3000;
  const REASONS = ["unknown_code", "wrong_room", "not_today", "cancelled", "already_checked_in"];
  const $ = (id) => document.getElementById(id);

  function load(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function store(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      // A full or disabled storage only loses the offline copy, never the check-in shown.
    }
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  function clock(iso) {
    if (!iso) return "";
    const format = new Intl.DateTimeFormat("en-GB", {
      timeZone: data.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    return format.format(new Date(iso));
  }

  // crypto.randomUUID needs a secure context; a tablet on plain http on the LAN has none.
  function nonce() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- the day's timeline ----

  function render(timeline) {
    $("room").textContent = timeline.room_name;
    $("day").textContent = timeline.day;
    const list = $("timeline");
    list.replaceChildren();
    for (const entry of timeline.entries) {
      const item = el("li", "slot " + entry.state);
      item.dataset.kind = entry.kind;
      item.dataset.id = String(entry.id);
      const time = el("div", "time", entry.start + "–" + entry.end);
      if (entry.state === "current" || entry.state === "next") {
        time.append(el("span", "badge", T[entry.state]));
      }
      if (entry.status === "pending") time.append(el("span", "badge", T.pending));
      item.append(time, el("div", "title", entry.title));
      const meta = [entry.who, fill(T.arrived, entry)].filter(Boolean).join(" · ");
      item.append(el("div", "meta", meta));
      list.append(item);
    }
    $("empty").hidden = timeline.entries.length > 0;
  }

  function show(timeline) {
    render(timeline);
    store(KEYS.day, timeline);
  }

  function setOnline(online) {
    $("offline").hidden = online;
  }

  function follow() {
    const source = new EventSource("/tablet/stream");
    source.addEventListener("timeline", (event) => {
      show(JSON.parse(event.data));
      setOnline(true);
    });
    source.addEventListener("open", () => {
      setOnline(true);
      sync();
    });
    source.addEventListener("error", () => {
      // EventSource reconnects by itself; meanwhile the saved list stays on screen.
      setOnline(false);
      const saved = load(KEYS.day, null);
      if (saved && saved.day === data.timeline.day) render(saved);
    });
  }

  // ---- check-in ----

  // null: the server could not be reached (or failed), so the check-in must wait.
  async function send(item) {
    let response;
    try {
      response = await fetch("/tablet/checkins", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(item),
      });
    } catch (e) {
      return null;
    }
    if (response.status >= 500) return null;
    let body = {};
    try {
      body = await response.json();
    } catch (e) {
      body = {};
    }
    return { ok: response.ok, body: body };
  }

  function reason(body) {
    const error = (body && body.error) || {};
    if (error.code === "already_checked_in") {
      const at = clock(error.checked_in_at) || ((error.message || "").match(/\d\d:\d\d/) || [""])[0];
      return fill(T.already_checked_in, { time: at });
    }
    return REASONS.includes(error.code) ? T[error.code] : T.refused;
  }

  function result(kind, headline, detail) {
    const box = $("result");
    box.className = "result " + kind;
    $("result-headline").textContent = headline;
    $("result-detail").textContent = detail;
    box.hidden = false;
  }

  function admitted(outcome) {
    const people = fill(T.people, { n: outcome.party_size + outcome.walk_ins });
    const headline = [T.ok, outcome.name].filter(Boolean).join(" · ");
    result("ok", headline, [people, outcome.title].filter(Boolean).join(" · "));
  }

  function queue() {
    return load(KEYS.queue, []);
  }

  function showQueue(note) {
    const waiting = queue().length;
    const banner = $("queue");
    const lines = [];
    if (waiting) lines.push(fill(T.pending_sync, { n: waiting }));
    if (note) lines.push(note);
    banner.textContent = lines.join(" ");
    banner.hidden = lines.length === 0;
  }

  function showConflicts() {
    const conflicts = load(KEYS.conflicts, []);
    const list = $("conflict-list");
    list.replaceChildren();
    conflicts.forEach((conflict, index) => {
      const item = el("li", "conflict", conflict.code + ": " + conflict.reason);
      item.addEventListener("click", () => {
        const kept = load(KEYS.conflicts, []);
        kept.splice(index, 1);
        store(KEYS.conflicts, kept);
        showConflicts();
      });
      list.append(item);
    });
    $("conflicts").hidden = conflicts.length === 0;
  }

  let syncing = false;

  async function sync() {
    if (syncing) return;
    syncing = true;
    try {
      for (const item of queue()) {
        const answer = await send(item);
        if (answer === null) {
          setOnline(false);
          break;
        }
        store(KEYS.queue, queue().filter((other) => other.nonce !== item.nonce));
        if (answer.ok) {
          showQueue(fill(T.synced, { code: item.code }));
        } else {
          // Refused on arrival (say the booking was cancelled meanwhile): the person at
          // the door must see it, so it stays listed until someone taps it away.
          const conflicts = load(KEYS.conflicts, []);
          conflicts.push({ code: item.code, reason: reason(answer.body) });
          store(KEYS.conflicts, conflicts);
          showConflicts();
          showQueue("");
        }
      }
    } finally {
      syncing = false;
    }
  }

  async function checkIn(code) {
    const party = $("party").value;
    const item = {
      code: code,
      party_size: party === "" ? null : Number(party),
      nonce: nonce(),
    };
    $("code").value = "";
    $("party").value = "";
    // Earlier offline check-ins go first, so the door's order is kept.
    const answer = queue().length ? null : await send(item);
    if (answer === null) {
      const waiting = queue();
      waiting.push(item);
      store(KEYS.queue, waiting);
      result("queued", code, T.queued);
      showQueue("");
      sync();
    } else if (answer.ok) {
      admitted(answer.body);
    } else {
      result("refused", reason(answer.body), code);
    }
    $("code").focus();
  }

  $("checkin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("code").value.trim();
    if (code) checkIn(code);
  });

  // ---- scanning a QR code with the camera, where the browser can ----

  function setUpScanner() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    const button = $("scan");
    const video = $("camera");
    let stream = null;
    button.hidden = false;

    function stop() {
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      video.hidden = true;
      button.textContent = T.scan;
    }

    button.addEventListener("click", async () => {
      if (stream) return stop();
      try {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        video.srcObject = stream;
        video.hidden = false;
        button.textContent = T.stop_scan;
        await video.play();
        const look = async () => {
          if (!stream) return;
          const found = await detector.detect(video).catch(() => []);
          if (found.length) {
            const raw = found[0].rawValue.trim();
            stop();
            checkIn(raw.split("/").pop());
          } else {
            setTimeout(look, 250);
          }
        };
        look();
      } catch (e) {
        stop(); // no camera, or no permission: typing still works
      }
    });
  }

  // A page served from the service worker's copy (the network is down) carries the day as
  // it was then; the list kept in localStorage may be newer: show whichever was read last.
  function newest(timeline) {
    const saved = load(KEYS.day, null);
    const newer =
      saved && saved.day === timeline.day && Date.parse(saved.now) > Date.parse(timeline.now);
    return newer ? saved : timeline;
  }

  function keepForOffline() {
    if (!("serviceWorker" in navigator)) return; // plain http on the LAN: no reloads offline
    navigator.serviceWorker
      .register("/tablet/sw.js", { scope: "/tablet" })
      .catch(() => undefined);
  }

  show(newest(data.timeline));
  showQueue("");
  showConflicts();
  setUpScanner();
  keepForOffline();
  follow();
  window.addEventListener("online", sync);
  setInterval(sync, RETRY_MS);
  $("code").focus();
})();
