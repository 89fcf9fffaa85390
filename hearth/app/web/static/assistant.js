/* Hearth's Assistant pages (templates/assistant.html and assistant_memory.html), on the assistant API
   (/api/hearth/v1/assistant: the session cookie plus the X-CSRF-Token header). The pages are rendered
   on the server and readable without this file; it adds:
   - sending a message and reading the streamed reply (Server-Sent Events in a fetch() body): the
     answer as it arrives, a card for every tool call, proposals with Approve / Edit / Reject
   - Stop (also Escape), Regenerate, and the conversation list (rename inline, delete)
   - the memory page: edit, delete and add facts, switch memory off and on, forget everything
   The chat page of a creator's AI (templates/ai_chat.html) is the same page with data attributes on
   #assistant-page: data-base-url (its own address), data-new-conversation (where a conversation with
   the AI starts: it opens with the AI's disclosure and greeting), data-agent-name; its answers may be
   retracted (a topic the creator ruled out) and carry citations and the excerpts label.
   Talking by voice (static/voice.js) sends with a `hearth:ask` event {text} on #assistant-page and
   hears of every finished turn through `hearth:answer` {text, status}.
   The model's text is only ever set as text: a Markdown link [label](/path) becomes a link only when
   it points to a path on this site; anything else is shown as written. */
(function () {
  "use strict";

  const API = "/api/hearth/v1/assistant";
  const STATUS_LABELS = {
    pending: "Waiting for your approval", approved: "Approved", rejected: "Rejected", failed: "Failed",
  };
  const LINK_RE = /\[([^[\]\n]{1,300})\]\(([^()\s]{1,500})\)/g;
  const STOP_GRACE_MS = 2000; // after Stop, how long the stream may take to end on its own
  const OFFLINE = "Could not reach the server. Check your connection and try again.";

  /* ---- helpers ---- */
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

  function sentence(text) {
    text = String(text || "");
    const first = text.split(" ", 1)[0];
    if (!/^[A-Za-z]/.test(first) || first.indexOf("_") >= 0) return text;
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(label, className, action) {
    const b = el("button", className, label);
    b.type = "button";
    if (action) b.dataset.action = action;
    return b;
  }

  /* A path on this site ("/@ann", "/posts/1"), or null: never another site, javascript: or data:. */
  function localUrl(url) {
    if (typeof url !== "string" || url.charAt(0) !== "/" || url.charAt(1) === "/" || url.indexOf("\\") >= 0) {
      return null;
    }
    return /[\u0000-\u001f\u007f]/.test(url) ? null : url;
  }

  function link(label, href) {
    const a = el("a", null, label);
    a.setAttribute("href", href);
    return a;
  }

  /* The model's text into `node`, as text, with Markdown links to local paths as links. */
  function renderText(node, text) {
    const parts = [];
    let pos = 0;
    LINK_RE.lastIndex = 0;
    let m;
    while ((m = LINK_RE.exec(text)) !== null) {
      const href = localUrl(m[2]);
      if (!href) continue;
      if (m.index > pos) parts.push(document.createTextNode(text.slice(pos, m.index)));
      parts.push(link(m[1], href));
      pos = m.index + m[0].length;
    }
    if (pos < text.length) parts.push(document.createTextNode(text.slice(pos)));
    node.replaceChildren.apply(node, parts);
  }

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function errorFrom(response) {
    let message = "";
    try {
      const body = await response.json();
      message = body && (body.error || (typeof body.detail === "string" ? body.detail : ""));
    } catch (err) { /* not JSON */ }
    if (!message) {
      message = response.status === 429 ? "too many requests; wait a moment and try again"
        : response.status === 401 ? "your session ended; log in again"
          : "the server answered " + response.status;
    }
    return new ApiError(response.status, message, response.headers.get("Retry-After"));
  }

  function headers(accept) {
    return { "Accept": accept || "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() };
  }

  async function api(method, path, body) {
    return request(method, API + path, body);
  }

  async function request(method, url, body) {
    let response;
    try {
      response = await window.fetch(url, {
        method: method, credentials: "same-origin", headers: headers(),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, OFFLINE);
    }
    if (!response.ok) throw await errorFrom(response);
    return response.status === 204 ? null : response.json();
  }

  function showError(area, message) {
    if (!area) return;
    const p = el("p", "flash flash--error");
    const dismiss = button("Dismiss", "link-button");
    dismiss.addEventListener("click", function () { area.replaceChildren(); });
    p.append(el("span", null, sentence(message)), " ", dismiss);
    area.replaceChildren(p);
  }

  function revealJsOnly(root) {
    root.querySelectorAll("[data-js-only]").forEach(function (node) { node.hidden = false; });
    root.querySelectorAll("[data-js-enable]").forEach(function (node) { node.disabled = false; });
  }

  /* ---- Server-Sent Events from a fetch() body ---- */
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "message";
    let data = [];

    function line(text) {
      if (text === "") { // a blank line ends an event
        if (data.length) onEvent(name, data.join("\n"));
        name = "message";
        data = [];
        return;
      }
      if (text.charAt(0) === ":") return; // a comment, such as sse-starlette's ": ping"
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }

    function lines(final) {
      // A trailing CR may be the first half of CRLF: keep it for the next chunk.
      const end = !final && buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const parts = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = (final ? "" : parts.pop()) + buffer.slice(end);
      parts.forEach(line);
    }

    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      lines(false);
    }
    buffer += decoder.decode();
    if (buffer) lines(true);
    line("");
  }

  /* ---- cards ---- */
  function cardBody(card, into) {
    card = card || {};
    if (card.summary) into.appendChild(el("p", "assistant-card-summary", card.summary));
    if (card.text) into.appendChild(el("p", "assistant-card-text", card.text));
    const items = Array.isArray(card.items) ? card.items : [];
    if (!items.length) return;
    const list = el("ul", "assistant-items");
    items.forEach(function (item) {
      item = item || {};
      const kind = /^[a-z_]{1,20}$/.test(item.kind || "") ? item.kind : "other";
      const li = el("li", "assistant-item assistant-item--" + kind);
      const href = localUrl(item.url);
      li.appendChild(href ? link(item.title || item.url, href) : el("span", null, item.title || ""));
      if (item.note) li.append(" ", el("span", "assistant-item-note", item.note));
      if (item.text) li.append(" ", el("span", "assistant-item-text", item.text));
      list.appendChild(li);
    });
    into.appendChild(list);
  }

  function describeArguments(args) {
    if (!args || typeof args !== "object") return "";
    return Object.keys(args).map(function (key) {
      const value = args[key];
      return key + ": " + (typeof value === "string" ? value : JSON.stringify(value));
    }).join(", ");
  }

  function toolCard(callId, name, card, ok, running) {
    card = card || {};
    const title = card.title || (running ? "Using " + name + "…" : name);
    const article = el("article", "assistant-tool card" + (ok ? "" : " assistant-tool--failed")
      + (running ? " assistant-tool--running" : ""));
    article.dataset.callId = callId || "";
    article.setAttribute("aria-label", "Tool: " + title);
    const head = el("p", "assistant-tool-head");
    head.append(el("span", "pill assistant-tool-name", name || "tool"), " ", el("strong", "assistant-tool-title", title));
    if (!ok) head.append(" ", el("span", "assistant-tool-failed", "did not work"));
    article.appendChild(head);
    cardBody(card, article);
    return article;
  }

  function readers(p) {
    const seen = new Map();
    const sources = (p.provenance && p.provenance.after_reading) || [];
    sources.forEach(function (source) {
      const author = String((source && source.author) || "someone");
      if (!seen.has(author)) seen.set(author, localUrl(source && source.url));
    });
    return seen;
  }

  function proposalCard(p) {
    const pid = String(p.id);
    const status = p.status || "pending";
    const prov = p.provenance || {};
    const article = el("article", "assistant-proposal card assistant-proposal--" + status);
    article.id = "proposal-" + pid;
    article.dataset.proposalId = pid;
    article.dataset.status = status;
    article.dataset.tool = p.tool || "";
    article.dataset.arguments = JSON.stringify(p.arguments || {});
    article.setAttribute("aria-labelledby", "proposal-" + pid + "-summary");

    const kicker = el("p", "assistant-proposal-kicker", "Proposed action ");
    kicker.appendChild(el("span", "pill assistant-proposal-status", STATUS_LABELS[status] || status));
    const summary = el("h3", "assistant-proposal-summary", p.summary || p.tool);
    summary.id = "proposal-" + pid + "-summary";
    article.append(kicker, summary);
    cardBody(p.card, article);

    const provenance = el("div", "assistant-provenance");
    if (prov.request) provenance.appendChild(el("p", "assistant-provenance-request", "You asked: “" + prov.request + "”"));
    const who = readers(p);
    if (who.size) {
      const warning = el("p", "assistant-provenance-warning", "Proposed after reading content by ");
      let i = 0;
      who.forEach(function (href, author) {
        if (i++) warning.append(", ");
        warning.append(href ? link(author, href) : author);
      });
      warning.append(". Check that it is what you want.");
      provenance.appendChild(warning);
    }
    article.appendChild(provenance);

    const result = el("div", "assistant-proposal-result");
    const r = p.result || {};
    if (status === "approved") {
      result.appendChild(el("p", "notice", "Done" + (r.card && r.card.title ? ": " + r.card.title : "") + "."));
    } else if (status === "failed") {
      result.appendChild(el("p", "form-error", "It did not work" + (r.error ? ": " + r.error : "") + "."));
    } else if (status === "rejected") {
      result.appendChild(el("p", "muted", "Not done" + (r.why ? " (" + r.why + ")" : "") + "."));
    }
    article.appendChild(result);

    if (status === "pending") {
      const actions = el("div", "assistant-proposal-actions");
      [["Approve", "button primary", "approve"], ["Edit", "button", "edit"], ["Reject", "button danger", "reject"]]
        .forEach(function (spec) {
          const b = button(spec[0], spec[1], spec[2]);
          b.setAttribute("aria-describedby", summary.id);
          actions.appendChild(b);
        });
      article.appendChild(actions);
    }
    return article;
  }

  /* ---- the Assistant page ---- */
  function initAssistant(page) {
    const log = document.getElementById("assistant-log");
    const form = document.getElementById("assistant-form");
    const input = document.getElementById("assistant-input");
    const send = document.getElementById("assistant-send");
    const stopButton = document.getElementById("assistant-stop");
    const regenerateButton = document.getElementById("assistant-regenerate");
    const errorArea = document.getElementById("assistant-error");
    const statusArea = document.getElementById("assistant-status");
    const list = document.getElementById("assistant-conversations");
    const titleNode = document.getElementById("assistant-title");
    const siteSuffix = document.title.indexOf(" · ") >= 0 ? document.title.slice(document.title.lastIndexOf(" · ")) : "";
    let conversationId = page.dataset.conversationId || null;
    const baseUrl = page.dataset.baseUrl || "/assistant";
    const newConversationUrl = page.dataset.newConversation || "";
    const agentName = page.dataset.agentName || "Assistant";
    const questions = document.getElementById("ai-questions");
    let turn = null; // the reply streaming now: {controller, stopping, timer}
    let busy = false; // a message is on its way (the conversation may still be being created)

    revealJsOnly(page);

    function error(err) {
      const message = err && err.message ? err.message : String(err);
      if (err && err.status === 503) {
        const box = el("div", "assistant-status--off");
        const head = el("p");
        head.append(el("strong", null, "No model available."), " The assistant needs an open-weights model to answer.");
        box.append(head, el("p", "assistant-howto", sentence(message)));
        statusArea.replaceChildren(box);
        page.dataset.available = "false";
        showError(errorArea, "The assistant could not answer: " + message);
      } else if (err && err.status === 429) {
        const wait = parseInt(err.retryAfter || "", 10);
        showError(errorArea, sentence(message) + (wait > 0 ? " (about " + wait + " s)." : ""));
      } else {
        showError(errorArea, message);
      }
      announce(errorArea.textContent.replace(/Dismiss$/, "").trim());
    }

    function clearError() { errorArea.replaceChildren(); }

    function nearBottom() {
      return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 160;
    }

    function keepInView(wasNearBottom) {
      if (wasNearBottom) window.scrollTo(0, document.documentElement.scrollHeight);
    }

    function entry(role) {
      const empty = document.getElementById("assistant-empty");
      if (empty) empty.remove();
      const li = el("li", "assistant-msg assistant-msg--" + role);
      li.dataset.role = role;
      const pinned = nearBottom();
      log.appendChild(li);
      keepInView(pinned);
      return li;
    }

    function addUser(text) {
      const li = entry("user");
      li.append(el("p", "assistant-who visually-hidden", "You said:"), el("div", "assistant-bubble", text));
      li.scrollIntoView({ block: "nearest" });
      return li;
    }

    function addNotice(text) {
      entry("notice").appendChild(el("p", "notice", text));
    }

    function hasQuestion() {
      return Boolean(log.querySelector('li[data-role="user"]'));
    }

    function setStreaming(on) {
      const hadFocus = document.activeElement === stopButton;
      stopButton.hidden = !on;
      stopButton.disabled = false;
      send.disabled = on;
      regenerateButton.hidden = on || !conversationId || !hasQuestion();
      log.setAttribute("aria-busy", on ? "true" : "false");
      if (hadFocus && !on) input.focus();
    }

    /* ---- conversation list ---- */
    function listItem(id) {
      return list.querySelector('li[data-id="' + CSS.escape(String(id)) + '"]');
    }

    function labelled(text, hidden) {
      const frag = document.createDocumentFragment();
      frag.append(text, el("span", "visually-hidden", " “" + hidden + "”"));
      return frag;
    }

    function fillItem(li, conv) {
      const title = conv.title || "New conversation";
      li.dataset.title = title;
      li.querySelector(".assistant-conv-link").textContent = title;
      li.querySelectorAll("[data-action]").forEach(function (b) {
        b.replaceChildren(labelled(b.dataset.action === "rename" ? "Rename" : "Delete", title));
      });
    }

    function addConversation(conv) {
      const li = el("li", "assistant-conv");
      li.dataset.id = conv.id;
      const a = link("", baseUrl + "?c=" + encodeURIComponent(conv.id));
      a.className = "assistant-conv-link";
      const time = el("span", "assistant-conv-time muted", "just now");
      const actions = el("span", "assistant-conv-actions");
      actions.append(button("Rename", "link-button", "rename"), " ", button("Delete", "link-button danger", "delete"));
      li.append(a, " ", time, " ", actions);
      fillItem(li, conv);
      list.prepend(li);
      const none = document.querySelector(".assistant-conversations-empty");
      if (none) none.textContent = "";
      markCurrent(conv.id);
      return li;
    }

    function markCurrent(id) {
      list.querySelectorAll("li").forEach(function (li) {
        const current = li.dataset.id === String(id);
        li.classList.toggle("assistant-conv--current", current);
        const a = li.querySelector(".assistant-conv-link");
        if (current) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      });
    }

    function setTitle(title) {
      titleNode.textContent = title;
      document.title = title + siteSuffix;
      const li = conversationId ? listItem(conversationId) : null;
      if (li) fillItem(li, { title: title });
    }

    function touchCurrent() {
      const li = conversationId ? listItem(conversationId) : null;
      if (!li) return;
      const time = li.querySelector(".assistant-conv-time");
      if (time) time.textContent = "just now";
      if (list.firstElementChild !== li && !li.contains(document.activeElement)) list.prepend(li);
    }

    function startRename(li) {
      if (li.querySelector("form")) return;
      const a = li.querySelector(".assistant-conv-link");
      const actions = li.querySelector(".assistant-conv-actions");
      const renameForm = el("form", "assistant-rename");
      const inputId = "rename-" + li.dataset.id;
      const label = el("label", "visually-hidden", "New title for this conversation");
      label.htmlFor = inputId;
      const box = el("input");
      box.id = inputId;
      box.value = li.dataset.title || "";
      box.maxLength = 200;
      box.required = true;
      box.autocomplete = "off";
      const save = el("button", "button primary", "Save");
      save.type = "submit";
      const cancel = button("Cancel", "button");
      renameForm.append(label, box, save, cancel);
      a.hidden = true;
      actions.hidden = true;
      li.prepend(renameForm);
      box.focus();
      box.select();

      function close() {
        renameForm.remove();
        a.hidden = false;
        actions.hidden = false;
        li.querySelector('[data-action="rename"]').focus();
      }
      cancel.addEventListener("click", close);
      box.addEventListener("keydown", function (event) {
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); }
      });
      renameForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const title = box.value.trim();
        if (!title) { box.focus(); return; }
        save.disabled = true;
        try {
          const conv = await api("PATCH", "/conversations/" + encodeURIComponent(li.dataset.id), { title: title });
          fillItem(li, conv);
          if (li.dataset.id === String(conversationId)) setTitle(conv.title);
          close();
          announce("Renamed to " + conv.title);
        } catch (err) {
          save.disabled = false;
          error(err);
        }
      });
    }

    async function deleteConversation(li) {
      const title = li.dataset.title || "this conversation";
      if (!window.confirm("Delete “" + title + "”? Its messages and proposals are deleted too; this cannot be undone.")) {
        return;
      }
      try {
        await api("DELETE", "/conversations/" + encodeURIComponent(li.dataset.id));
      } catch (err) {
        error(err);
        return;
      }
      if (li.dataset.id === String(conversationId)) {
        window.location.assign(baseUrl);
        return;
      }
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      announce("Conversation deleted");
      const target = next ? next.querySelector(".assistant-conv-link") : document.getElementById("assistant-new");
      if (target) target.focus();
    }

    list.addEventListener("click", function (event) {
      const b = event.target.closest("button[data-action]");
      if (!b) return;
      const li = b.closest("li");
      if (b.dataset.action === "rename") startRename(li);
      else if (b.dataset.action === "delete") deleteConversation(li);
    });

    /* ---- one streamed reply ---- */
    function TurnView() {
      this.bubble = null; // the answer receiving deltas: {li, node, text}
      this.waiting = null; // an answer whose tool calls came in; its "message" event follows
      this.tools = new Map(); // tool call id -> its <li>
      this.frame = 0;
      this.done = false;
      this.said = []; // the text of its finished answers (for voice.js)
    }

    TurnView.prototype.newAnswer = function () {
      const li = entry("assistant");
      const node = el("div", "assistant-bubble");
      li.append(el("p", "assistant-who visually-hidden", agentName + " said:"), node);
      return { li: li, node: node, text: "" };
    };

    TurnView.prototype.paint = function (answer) {
      const pinned = nearBottom();
      renderText(answer.node, answer.text);
      keepInView(pinned);
    };

    TurnView.prototype.schedule = function () {
      const self = this;
      if (this.frame) return;
      this.frame = window.requestAnimationFrame(function () {
        self.frame = 0;
        if (self.bubble) self.paint(self.bubble);
      });
    };

    TurnView.prototype.finishAnswer = function (answer, content, status, id) {
      answer.text = content;
      if (content && status === "complete") this.said.push(content);
      if (id) answer.li.dataset.messageId = id;
      answer.li.dataset.status = status;
      if (content) this.paint(answer);
      else answer.node.replaceChildren(el("span", "muted", status === "stopped" ? "(stopped before answering)" : "(no text)"));
      if (status === "stopped" && !answer.li.querySelector(".assistant-msg-status")) {
        const note = el("p", "assistant-msg-status");
        note.appendChild(el("span", "pill", "Stopped"));
        answer.li.appendChild(note);
      }
    };

    /* A creator AI's answer: the excerpts label (no model connected), its citations as links to
       the posts and notes, and whether it was a refusal. */
    TurnView.prototype.decorate = function (answer, data) {
      const li = answer.li;
      if (data.excerpts && !li.querySelector(".ai-excerpts")) {
        const label = el("p", "ai-excerpts");
        label.appendChild(el("span", "pill ai-excerpts-label", "Excerpts — no model connected"));
        li.insertBefore(label, answer.node);
      }
      const citations = Array.isArray(data.citations) ? data.citations : [];
      if (citations.length && !li.querySelector(".ai-sources")) {
        const sources = el("p", "ai-sources", "Sources:");
        citations.forEach(function (c) {
          c = c || {};
          const label = "[" + (c.n || "?") + "] " + (c.title || "source");
          const href = localUrl(c.url);
          sources.append(" ", href ? link(label, href) : el("span", null, label));
        });
        li.appendChild(sources);
      }
      if (data.declined) {
        li.dataset.declined = "";
        if (!li.querySelector(".ai-declined")) {
          const note = el("p", "assistant-msg-status");
          note.appendChild(el("span", "pill ai-declined", "Declined"));
          li.appendChild(note);
        }
      }
    };

    TurnView.prototype.handle = function (name, raw) {
      let data;
      try { data = JSON.parse(raw); } catch (err) { return; }
      if (name === "delta") {
        if (!this.bubble) this.bubble = this.newAnswer();
        this.bubble.text += String(data.text || "");
        this.schedule();
      } else if (name === "message") {
        const answer = this.bubble || this.waiting || (data.content || data.status === "stopped" ? this.newAnswer() : null);
        if (answer) {
          this.finishAnswer(answer, String(data.content || ""), data.status || "complete", data.id);
          this.decorate(answer, data);
        }
        this.bubble = null;
        this.waiting = null;
      } else if (name === "retract") {
        // The answer touched a topic its creator ruled out: what was shown is replaced.
        if (this.frame) { window.cancelAnimationFrame(this.frame); this.frame = 0; }
        if (!this.bubble) this.bubble = this.newAnswer();
        this.bubble.text = String(data.text || "");
        this.paint(this.bubble);
      } else if (name === "tool_call") {
        if (this.bubble) { this.waiting = this.bubble; this.bubble = null; }
        const li = entry("tool");
        const card = { summary: describeArguments(data.arguments) };
        li.appendChild(toolCard(data.id, data.name, card, true, true));
        this.tools.set(data.id, li);
      } else if (name === "tool_result") {
        let li = this.tools.get(data.id);
        if (li && li.dataset.role === "proposal") return; // its proposal card says it all
        if (!li) li = entry("tool");
        li.replaceChildren(toolCard(data.id, data.name, data.card, data.ok !== false, false));
      } else if (name === "proposal") {
        let li = this.tools.get(data.tool_call_id);
        if (!li) li = entry("proposal");
        li.className = "assistant-msg assistant-msg--proposal";
        li.dataset.role = "proposal";
        li.replaceChildren(proposalCard(data));
        announce("The assistant proposes: " + (data.summary || data.tool) + ". Approve, edit or reject it.");
      } else if (name === "notice" || name === "trimmed") {
        addNotice(String(data.text || ""));
      } else if (name === "title") {
        setTitle(String(data.title || ""));
      } else if (name === "error") {
        showError(errorArea, data.message || "the assistant failed");
        announce(sentence(data.message || "the assistant failed"));
      } else if (name === "done") {
        this.done = true;
      }
    };

    TurnView.prototype.end = function (cut) {
      if (this.frame) { window.cancelAnimationFrame(this.frame); this.frame = 0; }
      const open = this.bubble || this.waiting;
      if (open) this.finishAnswer(open, open.text, cut ? "stopped" : "complete");
      this.tools.forEach(function (li) {
        const running = li.querySelector(".assistant-tool--running");
        if (running && cut) running.classList.remove("assistant-tool--running");
      });
      if (this.done) announce("Answer complete");
    };

    /* POST and read the reply. False when it was refused before it began (nothing was kept);
       an ApiError says why. */
    async function stream(path, body) {
      const controller = new AbortController();
      turn = { controller: controller, stopping: false, timer: 0 };
      let response;
      try {
        response = await window.fetch(API + path, {
          method: "POST", credentials: "same-origin", signal: controller.signal,
          headers: headers("text/event-stream"), body: JSON.stringify(body),
        });
      } catch (err) {
        if (turn.stopping) return false;
        throw new ApiError(0, OFFLINE);
      }
      if (!response.ok) throw await errorFrom(response);
      const view = new TurnView();
      turn.view = view;
      if ((response.headers.get("content-type") || "").indexOf("text/event-stream") < 0) {
        throw new ApiError(502, "the server did not stream the answer");
      }
      let cut = false;
      try {
        await readEvents(response.body, function (name, data) { view.handle(name, data); });
      } catch (err) {
        cut = true;
        if (!turn.stopping) showError(errorArea, "The connection was lost before the answer finished. Reload to see what was kept.");
      }
      view.end(cut || (turn.stopping && !view.done));
      return true;
    }

    /* Tell voice.js the turn is over: "complete" with the answer's text, "stopped" or "failed". */
    function answered(view) {
      const status = !view ? "failed" : view.done ? "complete" : "stopped";
      const text = view ? view.said.join("\n\n") : "";
      page.dispatchEvent(new CustomEvent("hearth:answer", { detail: { text: text, status: status } }));
    }

    async function run(path, body, undo) {
      clearError();
      setStreaming(true);
      let view = null;
      try {
        if (!(await stream(path, body))) undo();
        view = turn && turn.view;
      } catch (err) {
        undo();
        error(err);
      } finally {
        if (turn && turn.timer) window.clearTimeout(turn.timer);
        turn = null;
        setStreaming(false);
        touchCurrent();
        answered(view);
      }
    }

    async function ask(text) {
      text = text.trim();
      if (!text || turn || busy) return;
      busy = true;
      try {
        await askNow(text);
      } finally {
        busy = false;
      }
    }

    async function askNow(text) {
      clearError();
      const userLi = addUser(text);
      input.value = "";
      const undo = function () {
        userLi.remove();
        if (!input.value) input.value = text;
        if (questions && !hasQuestion()) questions.hidden = false;
      };
      if (questions) questions.hidden = true;
      if (!conversationId) {
        try {
          const conv = newConversationUrl ? await request("POST", newConversationUrl, {})
            : await api("POST", "/conversations", {});
          conversationId = String(conv.id);
          page.dataset.conversationId = conversationId;
          window.history.replaceState(null, "", baseUrl + "?c=" + encodeURIComponent(conversationId));
          addConversation(conv);
        } catch (err) {
          undo();
          error(err);
          answered(null);
          return;
        }
      }
      await run("/conversations/" + encodeURIComponent(conversationId) + "/messages", { content: text, stream: true },
        undo);
    }

    function stop() {
      if (!turn || turn.stopping) return;
      turn.stopping = true;
      stopButton.disabled = true;
      announce("Stopping the answer");
      if (conversationId) {
        api("POST", "/conversations/" + encodeURIComponent(conversationId) + "/stop").catch(function () { /* the abort stops it too */ });
      }
      const current = turn;
      current.timer = window.setTimeout(function () { current.controller.abort(); }, STOP_GRACE_MS);
    }

    function regenerate() {
      if (turn || busy || !conversationId) return;
      const questions = log.querySelectorAll('li[data-role="user"]');
      const last = questions[questions.length - 1];
      if (!last) return;
      const dropped = [];
      for (let n = last.nextElementSibling; n; n = n.nextElementSibling) dropped.push(n);
      dropped.forEach(function (n) { n.remove(); });
      input.focus();
      run("/conversations/" + encodeURIComponent(conversationId) + "/regenerate", { stream: true }, function () {
        dropped.forEach(function (n) { log.appendChild(n); });
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      ask(input.value);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey
          && !event.isComposing) {
        event.preventDefault();
        if (!turn && !busy) form.requestSubmit();
      }
    });
    stopButton.addEventListener("click", stop);
    // voice.js sends what was said as if it were typed; detail.sent says whether it went.
    page.addEventListener("hearth:ask", function (event) {
      const text = String((event.detail && event.detail.text) || "").trim();
      if (!text || turn || busy) return;
      event.detail.sent = true;
      ask(text);
    });
    regenerateButton.addEventListener("click", regenerate);
    if (questions) {
      questions.addEventListener("click", function (event) {
        const b = event.target.closest("button[data-question]");
        if (b && !turn && !busy) ask(b.dataset.question);
      });
    }
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && turn && !event.defaultPrevented) {
        event.preventDefault();
        stop();
      }
    });

    /* ---- proposals: approve, edit, reject ---- */
    function replaceCard(article, p, message) {
      const card = proposalCard(p);
      card.tabIndex = -1;
      article.replaceWith(card);
      card.focus({ preventScroll: true });
      if (message) announce(message);
      return card;
    }

    function cardError(article, message) {
      let p = article.querySelector(".assistant-proposal-error");
      if (!p) {
        p = el("p", "form-error assistant-proposal-error");
        p.setAttribute("role", "alert");
        article.appendChild(p);
      }
      p.textContent = sentence(message);
    }

    async function decide(article, verb, body) {
      const pid = article.dataset.proposalId;
      const buttons = article.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      try {
        const p = await api("POST", "/proposals/" + encodeURIComponent(pid) + "/" + verb, body);
        replaceCard(article, p, (p.status === "approved" ? "Approved: " : "Rejected: ") + p.summary);
      } catch (err) {
        let current = article;
        try { // it may have been decided elsewhere, or failed: show where it stands now
          const p = await api("GET", "/proposals/" + encodeURIComponent(pid));
          if (p.status !== "pending") current = replaceCard(article, p);
        } catch (ignored) { /* keep the card as it is */ }
        buttons.forEach(function (b) { b.disabled = false; });
        cardError(current, err.message);
        announce(sentence(err.message));
      }
    }

    function openEditor(article) {
      const existing = article.querySelector(".assistant-edit textarea");
      if (existing) { existing.focus(); return; }
      let args = {};
      try { args = JSON.parse(article.dataset.arguments || "{}") || {}; } catch (err) { args = {}; }
      const pid = article.dataset.proposalId;
      const isText = typeof args.text === "string";
      const editor = el("form", "assistant-edit");
      const areaId = "proposal-" + pid + "-edit";
      const label = el("label", null, isText ? "Edit the text before approving" : "Edit the arguments (JSON) before approving");
      label.htmlFor = areaId;
      const area = el("textarea", isText ? "" : "assistant-json");
      area.id = areaId;
      area.rows = isText ? 5 : 6;
      area.value = isText ? args.text : JSON.stringify(args, null, 2);
      if (!isText) area.spellcheck = false;
      const problem = el("p", "form-error");
      problem.hidden = true;
      problem.setAttribute("role", "alert");
      const bar = el("div", "assistant-proposal-actions");
      const approve = el("button", "button primary", "Approve with changes");
      approve.type = "submit";
      const cancel = button("Cancel", "button");
      bar.append(approve, cancel);
      editor.append(label, area, problem, bar);
      const actions = article.querySelector(".assistant-proposal-actions");
      actions.hidden = true;
      article.appendChild(editor);
      area.focus();

      function close() {
        editor.remove();
        actions.hidden = false;
        const edit = actions.querySelector('[data-action="edit"]');
        if (edit) edit.focus();
      }
      cancel.addEventListener("click", close);
      area.addEventListener("keydown", function (event) {
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); }
      });
      editor.addEventListener("submit", function (event) {
        event.preventDefault();
        let edited;
        if (isText) {
          edited = Object.assign({}, args, { text: area.value });
        } else {
          try { edited = JSON.parse(area.value); } catch (err) { edited = null; }
          if (!edited || typeof edited !== "object" || Array.isArray(edited)) {
            problem.textContent = "The arguments must be a JSON object, like {\"username\": \"@ann\"}.";
            problem.hidden = false;
            area.setAttribute("aria-invalid", "true");
            area.focus();
            return;
          }
        }
        decide(article, "approve", { arguments: edited });
      });
    }

    log.addEventListener("click", function (event) {
      const b = event.target.closest("button[data-action]");
      const article = b ? b.closest(".assistant-proposal") : null;
      if (!article || b.disabled) return;
      if (b.dataset.action === "approve") decide(article, "approve", {});
      else if (b.dataset.action === "reject") decide(article, "reject");
      else if (b.dataset.action === "edit") openEditor(article);
    });
  }

  /* ---- the memory page ---- */
  function initMemory(page) {
    const list = document.getElementById("memory-facts");
    const empty = document.getElementById("memory-empty");
    const count = document.getElementById("memory-count");
    const toggle = document.getElementById("memory-switch");
    const help = document.getElementById("memory-switch-help");
    const addForm = document.getElementById("memory-add");
    const addText = document.getElementById("memory-add-text");
    const addButton = addForm.querySelector("button[type=submit]");
    const forget = document.getElementById("memory-forget");
    const errorArea = document.getElementById("memory-error");

    revealJsOnly(page);

    function fail(err) {
      showError(errorArea, err.message || String(err));
      announce(sentence(err.message || String(err)));
    }

    function refresh() {
      const n = list.children.length;
      count.textContent = String(n);
      empty.hidden = n > 0;
      forget.disabled = n === 0;
    }

    function setEnabled(on) {
      page.dataset.enabled = on ? "true" : "false";
      toggle.checked = on;
      help.textContent = on ? "Memory is on: the assistant reads these facts and may keep new ones you tell it."
        : "Memory is off: the assistant neither reads nor keeps facts about you.";
      addText.disabled = !on;
      addButton.disabled = !on;
    }

    function actionButton(label, className, action, text) {
      const b = button(label, className, action);
      b.appendChild(el("span", "visually-hidden", " “" + text + "”"));
      return b;
    }

    function fillFact(li, f) {
      li.dataset.id = f.id;
      li.dataset.text = f.text;
      const source = el("p", "memory-source muted", (f.source || "Source not recorded") + " · just now");
      const actions = el("div", "memory-actions");
      actions.append(actionButton("Edit", "link-button", "edit", f.text), " ",
        actionButton("Delete", "link-button danger", "delete", f.text));
      li.replaceChildren(el("p", "memory-text", f.text), source, actions);
    }

    function factItem(f) {
      const li = el("li", "memory-fact card");
      fillFact(li, f);
      return li;
    }

    toggle.addEventListener("change", async function () {
      const want = toggle.checked;
      toggle.disabled = true;
      try {
        const r = await api("PUT", "/memory/settings", { enabled: want });
        setEnabled(r.enabled);
        announce(r.enabled ? "Memory is on" : "Memory is off");
      } catch (err) {
        toggle.checked = !want;
        fail(err);
      } finally {
        toggle.disabled = false;
      }
    });

    addForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const text = addText.value.trim();
      if (!text) { addText.focus(); return; }
      addButton.disabled = true;
      try {
        const f = await api("POST", "/memory", { text: text });
        if (!list.querySelector('li[data-id="' + CSS.escape(String(f.id)) + '"]')) list.appendChild(factItem(f));
        addText.value = "";
        refresh();
        announce("Remembered: " + f.text);
      } catch (err) {
        fail(err);
      } finally {
        addButton.disabled = page.dataset.enabled !== "true";
        addText.focus();
      }
    });

    function startEdit(li) {
      if (li.querySelector("form")) return;
      const textNode = li.querySelector(".memory-text");
      const actions = li.querySelector(".memory-actions");
      const editor = el("form", "memory-edit");
      const boxId = "memory-edit-" + li.dataset.id;
      const label = el("label", "visually-hidden", "Edit this fact");
      label.htmlFor = boxId;
      const box = el("input");
      box.id = boxId;
      box.value = textNode.textContent;
      box.maxLength = 500;
      box.required = true;
      box.autocomplete = "off";
      const save = el("button", "button primary", "Save");
      save.type = "submit";
      const cancel = button("Cancel", "button");
      const row = el("div", "row");
      row.append(box, save, cancel);
      editor.append(label, row);
      textNode.hidden = true;
      actions.hidden = true;
      li.prepend(editor);
      box.focus();

      function close() {
        editor.remove();
        textNode.hidden = false;
        actions.hidden = false;
        li.querySelector('[data-action="edit"]').focus();
      }
      cancel.addEventListener("click", close);
      box.addEventListener("keydown", function (event) {
        if (event.key === "Escape") { event.preventDefault(); close(); }
      });
      editor.addEventListener("submit", async function (event) {
        event.preventDefault();
        save.disabled = true;
        try {
          const f = await api("PATCH", "/memory/" + encodeURIComponent(li.dataset.id), { text: box.value });
          fillFact(li, f);
          li.querySelector('[data-action="edit"]').focus();
          announce("Saved: " + f.text);
        } catch (err) {
          save.disabled = false;
          fail(err);
        }
      });
    }

    async function remove(li) {
      try {
        await api("DELETE", "/memory/" + encodeURIComponent(li.dataset.id));
      } catch (err) {
        fail(err);
        return;
      }
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      refresh();
      announce("Deleted");
      const target = next ? next.querySelector('[data-action="delete"]') : addText;
      if (target && !target.disabled) target.focus();
    }

    list.addEventListener("click", function (event) {
      const b = event.target.closest("button[data-action]");
      if (!b) return;
      const li = b.closest("li");
      if (b.dataset.action === "edit") startEdit(li);
      else if (b.dataset.action === "delete") remove(li);
    });

    forget.addEventListener("click", async function () {
      if (!window.confirm("Forget everything the assistant remembers about you? This cannot be undone.")) return;
      try {
        const r = await api("DELETE", "/memory");
        list.replaceChildren();
        refresh();
        announce("Forgot " + r.deleted + " fact" + (r.deleted === 1 ? "" : "s"));
        addText.focus();
      } catch (err) {
        fail(err);
      }
    });
  }

  function start() {
    const chat = document.getElementById("assistant-page");
    if (chat) initAssistant(chat);
    const memory = document.getElementById("memory-page");
    if (memory) initMemory(memory);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
