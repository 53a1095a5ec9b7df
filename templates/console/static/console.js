// The console's small progressive script: pages work without it; it only adds comfort.
"use strict";

// Live feeds: Linli.live(url, onData) listens to a console server-sent-events stream and
// closes it once the server says the work is done (else the browser would reconnect).
window.Linli = {
  live(url, onData, eventName) {
    if (!window.EventSource) return null;
    const source = new EventSource(url);
    source.addEventListener(eventName || "update", (e) => {
      const data = JSON.parse(e.data);
      onData(data);
      if (data.done) source.close();
    });
    return source;
  },
};

// Destructive actions open with their question focused, so a keyboard user sees it first.
document.addEventListener("toggle", (e) => {
  const box = e.target;
  if (box instanceof HTMLDetailsElement && box.open && box.classList.contains("danger")) {
    const button = box.querySelector("button");
    if (button) button.focus();
  }
}, true);
