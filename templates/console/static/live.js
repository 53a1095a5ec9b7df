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

  function updateAttendance(data) {
    for (const key of Object.keys(data.counts)) setText("att-" + key, data.counts[key]);
    const body = document.getElementById("attendance-rows");
    if (!body) return;
    const rows = data.rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.answer = r.answer;
      tr.appendChild(cell("td", r.name));
      tr.appendChild(cell("td", r.unit));
      tr.appendChild(cell("td", r.answer_text));
      tr.appendChild(cell("td", r.party, "num"));
      tr.appendChild(cell("td", r.via));
      tr.appendChild(cell("td", r.at));
      tr.appendChild(cell("td", r.checked_in));
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
