// The door tablet: renders the room's day, follows it live (server-sent events), checks
// people in by typed or scanned code, and keeps working when the network drops: the day's
// list stays in localStorage and check-ins wait there, each with its nonce, until the
// server answers again. A heartbeat with a deadline notices a dead connection (a half-open
// Wi-Fi link looks alive to the live feed for ever) and shows the offline banner by itself.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("tablet-data").textContent);
  const T = data.text;
  const roomKey = "linli.tablet." + data.timeline.room_id + ".";
  const KEYS = { day: roomKey + "day", queue: roomKey + "queue", conflicts: roomKey + "conflicts" };
  const RETRY_MS = 3000;
  // How often the heartbeat asks, and how long any request may take before the tablet
  // calls the server unreachable (the server sets both: see service/web/tablet.py).
  const HEARTBEAT_MS = data.heartbeat_ms;
  const DEADLINE_MS = data.deadline_ms;
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

  // What the list on screen was drawn from.
  let shown = "";

  function drawn(timeline) {
    return JSON.stringify([timeline.room_name, timeline.day, timeline.entries]);
  }

  function render(timeline) {
    shown = drawn(timeline);
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
      // More people than booked is allowed at the door, but the door should see it.
      const over = entry.arrived > entry.expected ? fill(T.over, { n: entry.arrived - entry.expected }) : "";
      const meta = [entry.who, fill(T.arrived, entry), over].filter(Boolean).join(" · ");
      item.append(el("div", "meta", meta));
      list.append(item);
    }
    $("empty").hidden = timeline.entries.length > 0;
  }

  function show(timeline) {
    // The heartbeat brings the day every few seconds: redraw only what changed.
    if (drawn(timeline) !== shown) render(timeline);
    store(KEYS.day, timeline);
  }

  function setOnline(online) {
    $("offline").hidden = online;
  }

  function showSaved() {
    const saved = load(KEYS.day, null);
    if (saved && saved.day === data.timeline.day) render(saved);
  }

  // fetch with a deadline: a request the network swallows fails after DEADLINE_MS rather
  // than hanging, so a stalled link is told from a slow server.
  async function fetchWithin(url, options) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), DEADLINE_MS);
    try {
      return await fetch(url, { ...options, credentials: "same-origin", signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  let source = null;

  function follow() {
    source = new EventSource("/tablet/stream");
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
      showSaved();
    });
  }

  // The live feed only hears of a dead link when the operating system gives up on it,
  // which on a half-open connection can be never: ask the server every HEARTBEAT_MS.
  let beating = false;

  async function heartbeat() {
    if (beating) return;
    beating = true;
    let reached = false;
    try {
      const response = await fetchWithin("/tablet/timeline", { cache: "no-store" });
      reached = response.status < 500;
      // The day as it is now, even if the live feed missed a change on a dying link.
      if (response.ok) show(await response.json());
    } catch (e) {
      reached = false;
    } finally {
      beating = false;
    }
    if (reached) {
      setOnline(true);
      // A feed dropped while the link was dead starts again on the working link.
      if (source === null) follow();
      return;
    }
    setOnline(false);
    showSaved();
    // The feed may hang on the dead connection: drop it, and open it again once the
    // server answers the heartbeat.
    if (source !== null) {
      source.close();
      source = null;
    }
  }

  // ---- check-in ----

  // null: the server could not be reached (or failed), so the check-in must wait.
  async function send(item) {
    let response;
    try {
      // Past the deadline the check-in waits in the queue; its nonce makes a resend
      // harmless if the server did get it.
      response = await fetchWithin("/tablet/checkins", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
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
      // Who it was, so the door can tell a second scan from someone else's code.
      return fill(error.name ? T.already_checked_in_by : T.already_checked_in, {
        time: at,
        name: error.name,
      });
    }
    return REASONS.includes(error.code) ? T[error.code] : T.refused;
  }

  // The nonce of the waiting check-in the card shows, so its sync can update the card.
  let onCard = null;

  function result(kind, headline, detail, nonce) {
    onCard = nonce || null;
    const box = $("result");
    box.className = "result " + kind;
    $("result-headline").textContent = headline;
    $("result-detail").textContent = detail;
    box.hidden = false;
  }

  function admitted(outcome, note) {
    const n = outcome.party_size + outcome.walk_ins;
    const people = fill(n === 1 ? T.person : T.people, { n: n });
    const headline = [T.ok, outcome.name].filter(Boolean).join(" · ");
    result("ok", headline, [people, outcome.title, note].filter(Boolean).join(" · "));
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
        const shown = onCard === item.nonce;
        if (answer.ok) {
          // The card still says "saved offline": it now says whose check-in went through.
          if (shown) admitted(answer.body, T.synced_card);
          const who = [item.code, answer.body.name].filter(Boolean).join(" · ");
          showQueue(fill(T.synced, { code: who }));
        } else {
          if (shown) result("refused", reason(answer.body), item.code);
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
      result("queued", code, T.queued, item.nonce);
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
  setInterval(heartbeat, HEARTBEAT_MS);
  $("code").focus();
})();
