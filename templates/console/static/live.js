// Live event pages: the sending progress bar and the attendance table follow the server's
// event streams. Without this script both pages still show the numbers at load time.
"use strict";

(function () {
  function setText(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function cell(tag, text, className) {
    const el = document.createElement(tag);
    el.textContent = text === undefined || text === null ? "" : String(text);
    if (className) el.className = className;
    return el;
  }

  function updateSend(data) {
    const bar = document.getElementById("send-progress");
    if (bar) {
      bar.value = data.percent;
      bar.textContent = data.percent + "%";
    }
    setText("send-percent", data.percent + "%");
    setText("send-total", data.total);
    for (const key of ["queued", "sent", "failed", "delivered", "suppressed", "expired"]) {
      setText("send-" + key, data[key]);
    }
    for (const key of ["delivered", "suppressed", "expired"]) {
      const box = document.getElementById("send-" + key + "-box");
      if (box) box.hidden = !data[key];
    }
    const failedBox = document.getElementById("send-failed-box");
    if (failedBox) failedBox.classList.toggle("error", data.failed > 0);
    const failures = document.getElementById("send-failures");
    if (failures) failures.hidden = !data.failed;
    const state = document.getElementById("send-state");
    if (state) state.hidden = !(data.done && data.total);
    const empty = document.getElementById("send-empty");
    if (empty) empty.hidden = data.total > 0;

    const body = document.querySelector("#send-channels tbody");
    if (!body) return;
    const statuses = body.dataset.statuses.split(" ");
    const labels = JSON.parse(body.dataset.labels || "{}");
    const rows = Object.keys(data.channels).map((channel) => {
      const counts = data.channels[channel];
      const tr = document.createElement("tr");
      const head = cell("th", labels[channel] || channel);
      head.scope = "row";
      tr.appendChild(head);
      for (const s of statuses) {
        tr.appendChild(cell("td", counts[s], s === "failed" && counts[s] ? "num error" : "num"));
      }
      return tr;
    });
    body.replaceChildren(...rows);
  }

  // What each row showed last, by invitation id: a row that differs (or is new) after a
  // live update is highlighted for a few seconds (the "changed" class; CSS fades it).
  let shown = null;

  function rowKey(r) {
    return [r.answer_text, r.party, r.via, r.at, r.checked_in].join("\u0001");
  }

  function updateLatest(latest) {
    const list = document.getElementById("latest-answers");
    if (!list || !latest) return;
    list.replaceChildren(...latest.map((a) => {
      const li = document.createElement("li");
      li.dataset.answer = a.answer;
      li.appendChild(cell("strong", a.name));
      li.appendChild(document.createTextNode(" " + a.answer_text + " "));
      li.appendChild(cell("span", a.at, "muted"));
      return li;
    }));
    const none = document.getElementById("latest-empty");
    if (none) none.hidden = latest.length > 0;
  }

  function updateAttendance(data) {
    const section = document.getElementById("attendance");
    if (section) section.dataset.live = "on"; // the stream is flowing (tests wait on it)
    for (const key of Object.keys(data.counts)) setText("att-" + key, data.counts[key]);
    updateLatest(data.latest);
    const body = document.getElementById("attendance-rows");
    if (!body) return;
    const before = shown;
    shown = new Map(data.rows.map((r) => [r.id, rowKey(r)]));
    const rows = data.rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.answer = r.answer;
      tr.dataset.id = r.id;
      tr.appendChild(cell("td", r.name));
      tr.appendChild(cell("td", r.unit));
      tr.appendChild(cell("td", r.answer_text));
      tr.appendChild(cell("td", r.party, "num"));
      tr.appendChild(cell("td", r.via));
      tr.appendChild(cell("td", r.at));
      tr.appendChild(cell("td", r.checked_in));
      // The first message only repeats what the page was rendered with.
      if (before && before.get(r.id) !== shown.get(r.id)) {
        tr.classList.add("changed");
        setTimeout(() => tr.classList.remove("changed"), 6000);
      }
      return tr;
    });
    body.replaceChildren(...rows);
    const empty = document.getElementById("attendance-empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  function start() {
    if (!window.Linli) return;
    const send = document.getElementById("send");
    if (send && send.dataset.stream) window.Linli.live(send.dataset.stream, updateSend, "progress");
    const attendance = document.getElementById("attendance");
    if (attendance && attendance.dataset.stream) {
      window.Linli.live(attendance.dataset.stream, updateAttendance, "attendance");
    }
  }

  start();
})();
