// The door tablet's service worker: keeps the page, its script and its styles so that a
// tablet reloaded (or restarted) while the network is down still opens, with the day's
// list from localStorage. Network first: a fresh answer always wins and replaces the copy.
// The feed, the timeline and check-ins are never cached; they go to the network as is.
"use strict";

const CACHE = "linli-tablet-v1";
const KEPT = ["/tablet", "/tablet/tablet.js", "/tablet/tablet.css"];
// A network that swallows the request (a half-open link) gets this long before the kept
// copy is served, as tablet.js gives up on its own requests.
const DEADLINE_MS = 5000;

function kept(url) {
  return url.origin === self.location.origin && KEPT.includes(url.pathname);
}

async function fresh(request) {
  const cache = await caches.open(CACHE);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), DEADLINE_MS);
  try {
    const response = await fetch(request, { signal: abort.signal });
    if (response.ok && response.type === "basic") {
      await cache.put(request, response.clone());
    } else if (response.status === 401 || response.status === 403) {
      // Signed out (the token was revoked): forget the copy of the room's day.
      await caches.delete(CACHE);
    }
    return response;
  } catch (error) {
    const copy = await cache.match(request);
    if (copy) return copy;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener("install", (event) => {
  // The page that registered us was loaded before we ran: fetch it once more to keep it.
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      Promise.all(
        KEPT.map((path) =>
          fetch(path, { credentials: "same-origin" })
            .then((response) => (response.ok ? cache.put(path, response) : undefined))
            .catch(() => undefined),
        ),
      ),
    ),
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !kept(url)) return;
  event.respondWith(fresh(event.request));
});
