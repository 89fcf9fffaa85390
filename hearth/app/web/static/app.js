/* Hearth web UI behaviour, on top of htmx; every page also works without it.
   - live character counters on textareas with data-max-chars
   - announcements (aria-live) for in-place updates, and the error area
   - keyboard: j / k move between posts, f favourites the focused post, / focuses search,
     Escape closes an open "more" menu
   - impressions and dwell time of feed entries the user actually sees, sent to
     POST /api/hearth/v1/events (silently does nothing if that endpoint is missing) */
(function () {
  "use strict";

  const EVENTS_URL = "/api/hearth/v1/events";
  const SEEN_AFTER_MS = 1000; // at least half of an entry on screen this long counts as seen
  const MIN_DWELL_MS = 1000;
  const FLUSH_EVERY_MS = 2000;
  const MAX_BATCH = 100; // the endpoint takes at most 100 events per request

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function announce(message) {
    const region = document.getElementById("announce");
    if (!region || !message) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = message; }, 50);
  }

  function showError(message) {
    const area = document.getElementById("flash");
    if (!area) return;
    const p = document.createElement("p");
    p.className = "flash flash--error";
    p.textContent = message;
    area.replaceChildren(p);
  }

  /* ---- character counters ---- */
  function updateCounter(textarea) {
    const max = parseInt(textarea.dataset.maxChars, 10);
    const counter = document.getElementById(textarea.dataset.counter || "");
    if (!counter || Number.isNaN(max)) return;
    const used = Array.from(textarea.value.trim()).length; // code points, as the server counts
    const left = max - used;
    const number = counter.querySelector("[data-count]") || counter;
    number.textContent = String(left);
    const wasOver = counter.classList.contains("over");
    counter.classList.toggle("over", left < 0);
    if (left < 0 && !wasOver) announce("Over the limit by " + (-left) + " characters");
  }

  document.addEventListener("input", function (event) {
    const t = event.target;
    if (t instanceof HTMLTextAreaElement && t.dataset.maxChars) updateCounter(t);
  });

  /* ---- keyboard ---- */
  function typingIn(element) {
    if (!element) return false;
    const tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  function posts() {
    return Array.from(document.querySelectorAll("article.post"));
  }

  function movePost(step) {
    const list = posts();
    if (!list.length) return;
    const current = document.activeElement ? document.activeElement.closest("article.post") : null;
    let index = current ? list.indexOf(current) + step : (step > 0 ? 0 : list.length - 1);
    index = Math.max(0, Math.min(list.length - 1, index));
    const target = list[index];
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Escape") {
      const open = document.activeElement && document.activeElement.closest("details[open]");
      if (open) {
        open.removeAttribute("open");
        const summary = open.querySelector("summary");
        if (summary) summary.focus();
      }
      return;
    }
    if (typingIn(event.target)) return;
    if (event.key === "/") {
      const box = document.getElementById("search-box");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    } else if (event.key === "j") {
      event.preventDefault(); movePost(1);
    } else if (event.key === "k") {
      event.preventDefault(); movePost(-1);
    } else if (event.key === "f") {
      const post = document.activeElement ? document.activeElement.closest("article.post") : null;
      const button = post ? post.querySelector('[data-shortcut="favourite"]') : null;
      if (button) { event.preventDefault(); button.click(); }
    }
  });

  document.addEventListener("click", function (event) {
    const dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      const area = document.getElementById("flash");
      if (area) area.replaceChildren();
    }
    // Clicking outside an open "more" menu closes it.
    document.querySelectorAll("details.more[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  /* ---- htmx integration ---- */
  let loadMoreAnchor = null; // the last entry before a "Load more" link, to focus what follows it
  let composeId = null; // a compose form being submitted: its replacement gets the focus back

  document.addEventListener("hearth:announce", function (event) {
    announce(event.detail && event.detail.value);
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("[data-load-more]")) {
      const box = elt.closest(".load-more");
      loadMoreAnchor = box ? box.previousElementSibling : null;
    }
    if (elt && elt.matches && elt.matches("form.compose")) composeId = elt.id;
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "get") {
      const area = document.getElementById("flash");
      if (area) area.replaceChildren();
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (composeId) {
      const textarea = document.getElementById(composeId + "-text");
      composeId = null;
      if (textarea && (!document.activeElement || document.activeElement === document.body)) textarea.focus();
    }
    if (!loadMoreAnchor) return;
    const first = loadMoreAnchor.nextElementSibling;
    loadMoreAnchor = null;
    if (first && first.matches("article.post")) first.focus({ preventScroll: true });
    announce("More loaded");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach the server. Check your connection and try again.");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (target && target.id === "flash") announce(target.textContent.trim());
    if (target) target.querySelectorAll && target.querySelectorAll("textarea[data-max-chars]").forEach(updateCounter);
  });

  /* ---- impressions and dwell ---- */
  const queue = [];
  const reported = new Set(); // "surface:post" already counted as an impression on this page
  const visibleSince = new Map(); // element -> ms timestamp while at least half is on screen
  let sendingDisabled = false;
  let flushTimer = null;

  function eventFor(element, verb, value) {
    const box = element.closest("[data-surface]");
    const e = { verb: verb, post_id: String(element.dataset.postId), surface: box ? box.dataset.surface : "" };
    if (value !== undefined) e.value = value;
    return e;
  }

  function send(events, leaving) {
    try {
      window.fetch(EVENTS_URL, {
        method: "POST",
        credentials: "same-origin",
        keepalive: Boolean(leaving),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ events: events }),
      }).then(function (response) {
        if (response.status === 404 || response.status === 405) sendingDisabled = true;
      }).catch(function () { /* offline: impressions are best effort */ });
    } catch (err) { /* fetch unavailable */ }
  }

  function flush(leaving) {
    if (flushTimer) { window.clearTimeout(flushTimer); flushTimer = null; }
    if (sendingDisabled || !csrfToken()) { queue.length = 0; return; }
    while (queue.length) send(queue.splice(0, MAX_BATCH), leaving);
  }

  function enqueue(e) {
    queue.push(e);
    if (!flushTimer) flushTimer = window.setTimeout(flush, FLUSH_EVERY_MS);
  }

  function endVisible(element, now) {
    const since = visibleSince.get(element);
    if (since === undefined) return;
    visibleSince.delete(element);
    const ms = now - since;
    if (ms >= MIN_DWELL_MS && reported.has(element.dataset.postId)) {
      enqueue(eventFor(element, "dwell", Math.round(ms / 100) / 10));
    }
  }

  function checkSeen(element) {
    const since = visibleSince.get(element);
    if (since === undefined || document.visibilityState !== "visible") return;
    if (performance.now() - since < SEEN_AFTER_MS - 20) return;
    const id = element.dataset.postId;
    if (!id || reported.has(id)) return;
    reported.add(id);
    enqueue(eventFor(element, "impression"));
  }

  const observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    const now = performance.now();
    entries.forEach(function (entry) {
      const element = entry.target;
      if (entry.isIntersecting && entry.intersectionRatio >= 0.5) {
        if (!visibleSince.has(element)) {
          visibleSince.set(element, now);
          window.setTimeout(function () { checkSeen(element); }, SEEN_AFTER_MS);
        }
      } else {
        endVisible(element, now);
      }
    });
  }, { threshold: [0, 0.5, 1] }) : null;

  function observe(root) {
    if (!observer || !root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-surface] [data-impression]")) observer.observe(root);
    root.querySelectorAll("[data-surface] [data-impression]").forEach(function (el) { observer.observe(el); });
  }

  function leaving() {
    const now = performance.now();
    Array.from(visibleSince.keys()).forEach(function (el) { endVisible(el, now); });
    flush(true);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      leaving();
    } else if (observer) {
      // Re-measure what is on screen now that the page is shown again.
      Array.from(document.querySelectorAll("[data-surface] [data-impression]")).forEach(function (el) {
        observer.unobserve(el);
        observer.observe(el);
      });
    }
  });
  window.addEventListener("pagehide", leaving);

  function start() {
    observe(document.body);
    document.querySelectorAll("textarea[data-max-chars]").forEach(updateCounter);
    document.addEventListener("htmx:load", function (event) {
      if (event.target !== document.body) observe(event.target);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
