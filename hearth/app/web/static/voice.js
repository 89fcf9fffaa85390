/* Talking to Hearth's AIs by voice, on both chat pages (templates/assistant.html, the Assistant, and
   ai_chat.html, a creator's AI), through the voice API (/api/hearth/v1/voice: the session cookie plus
   the X-CSRF-Token header). It adds:
   - Talk (push to talk): hold it while speaking (mouse, touch, or Space on the focused button) and let
     go to send, or press it once to start and again to send; Alt+Shift+V does the same from anywhere
     on the page, Escape throws the recording away. The browser records (MediaRecorder: webm/Opus
     where it can, else ogg), the server transcribes, and the words go into the message box and are
     sent as a typed message would be: they show as your message at once, before the answer.
   - Read answers aloud (remembered in localStorage): a finished answer's text, without link targets
     and citation markers, is spoken by the server and played in the page's <audio> player, which
     stays visible to replay or stop it. The answer is also always shown as text (assistant.js).
   - Hands-free conversation: after an answer has been spoken, listening starts again by itself and
     ends by itself after a pause (or 15 s); Escape, or the switch, ends hands-free mode.
   assistant.js sends what it is given through the `hearth:ask` event and says when a turn is over
   through `hearth:answer`. Where the server or the browser cannot do voice, or the microphone is
   blocked, the controls are disabled and say why and how to enable them; the typed chat is
   untouched either way. */
(function () {
  "use strict";

  const API = "/api/hearth/v1/voice";
  const HOLD_MS = 350; // let go after holding this long: send; a shorter press keeps listening
  const HANDS_FREE_MAX_S = 15; // a hands-free turn listens at most this long
  const PAUSE_MS = 1400; // hands-free: this much quiet after speech ends the turn
  const NO_SPEECH_MS = 8000; // hands-free: nothing said for this long ends hands-free mode
  const SPEECH_LEVEL = 0.04; // loudness (RMS of the samples, 0..1) counted as speech
  const QUIET_LEVEL = 0.02; // and as quiet
  const TICK_MS = 50;
  const STORE_KEY = "hearth.voice.readAloud";
  const OFFLINE = "could not reach the server; check your connection and try again";

  /* ---- helpers ---- */
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function sentence(text) {
    text = String(text || "");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function period(text) { // end a sentence with one full stop
    text = String(text || "").trim();
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (err) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (err) { /* private mode: not remembered */ }
  }

  class VoiceError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function errorFrom(response) {
    let message = "";
    try {
      const body = await response.json();
      message = body && (body.error || (typeof body.detail === "string" ? body.detail : ""));
    } catch (err) { /* not JSON */ }
    if (response.status === 429) {
      const wait = parseInt(response.headers.get("Retry-After") || "", 10);
      message = (message || "too many voice requests") + (wait > 0 ? " (try again in about " + wait + " s)" : "");
    } else if (response.status === 401) {
      message = "your session ended; log in again";
    } else if (!message) {
      message = "the server answered " + response.status;
    }
    return new VoiceError(response.status, message);
  }

  async function post(path, init) {
    let response;
    try {
      response = await window.fetch(API + path, Object.assign({ method: "POST", credentials: "same-origin" }, init));
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new VoiceError(0, OFFLINE);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  /* What to say for an answer: Markdown links read as their labels, citation markers like [1] left
     out, and no Markdown punctuation read out. */
  function speakable(text) {
    return String(text || "")
      .replace(/\[([^[\]\n]{1,300})\]\(([^()\s]{1,500})\)/g, "$1")
      .replace(/\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]/g, "")
      .replace(/https?:\/\/\S+/g, "")
      .replace(/^[ \t]{0,3}(?:#{1,6}|>|[-*+])[ \t]+/gm, "")
      .replace(/[*`]+|(^|\s)_+|_+(?=\s|$)/g, "$1")
      .replace(/[ \t]+/g, " ")
      .replace(/ +([.,;:!?])/g, "$1")
      .trim();
  }

  /* The recording format: webm/Opus, else ogg, else whatever the browser records. */
  function recordingType() {
    const wanted = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/ogg"];
    if (typeof window.MediaRecorder.isTypeSupported !== "function") return "";
    return wanted.find(function (t) { return window.MediaRecorder.isTypeSupported(t); }) || "";
  }

  function extension(type) {
    if (/ogg/.test(type)) return "ogg";
    if (/mp4|aac|m4a/.test(type)) return "m4a";
    if (/wav/.test(type)) return "wav";
    return "webm";
  }

  /* Why this browser cannot record here, or "". */
  function browserProblem() {
    if (!window.isSecureContext) {
      return "Browsers only let pages use the microphone over HTTPS (or on localhost). Whoever runs this server "
        + "can enable it by serving it over HTTPS.";
    }
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
      return "This browser cannot use a microphone on web pages. A current Firefox, Chrome, Edge or Safari can.";
    }
    if (typeof window.MediaRecorder !== "function") {
      return "This browser cannot record audio (it has no MediaRecorder). A current Firefox, Chrome, Edge or "
        + "Safari can.";
    }
    return "";
  }

  const BLOCKED = "The microphone is blocked for this site. To talk, allow the microphone in your browser's site "
    + "settings (the icon next to the address); Talk works again as soon as it is allowed.";

  function micProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "The microphone was not allowed. To talk, allow the microphone for this site (the icon next to the "
        + "address), then press Talk again.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No microphone was found. Connect one, then press Talk again.";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "The microphone could not be started; another app may be using it. Close that app, then press Talk again.";
    }
    return "The microphone could not be started (" + (err && err.message ? err.message : String(err)) + ").";
  }

  /* ---- the voice controls of a chat page ---- */
  function initVoice(page) {
    const panel = document.getElementById("voice-panel");
    const talk = document.getElementById("voice-talk");
    const input = document.getElementById("assistant-input");
    if (!panel || !talk || !input) return;
    const stateText = document.getElementById("voice-state-text");
    const levelBar = document.getElementById("voice-level");
    const readAloud = document.getElementById("voice-read-aloud");
    const handsFree = document.getElementById("voice-hands-free");
    const audio = document.getElementById("voice-audio");
    const note = document.getElementById("voice-note");
    const errorArea = document.getElementById("voice-error");
    const help = document.getElementById("voice-help");
    const levelFill = levelBar ? levelBar.firstElementChild : null;

    let ready = false; // the server's status is known
    let canListen = false; // the server transcribes, the browser records, the microphone is not blocked
    let canSpeak = false; // the server speaks
    const problems = { stt: "", tts: "", browser: "", mic: "" };
    let limits = { max_audio_seconds: 60, max_audio_bytes: 10000000 };
    let mode = "idle"; // idle, starting, listening, transcribing, waiting (for the answer), speaking
    let rec = null; // the recording under way: {how, stream, recorder, chunks, ...}
    let press = null; // a press of Talk in progress: {at}
    let transcribing = null; // the recording being transcribed
    let ignoreClick = false;
    let context = null; // one AudioContext for the level meter and the pause detection
    let speech = { controller: null, url: "", continueAfter: false, token: 0 };
    let emptyTurns = 0;

    /* ---- what is shown ---- */
    function setState(next, text) {
      mode = next;
      panel.dataset.state = next;
      const listening = next === "listening" || next === "starting";
      talk.setAttribute("aria-pressed", listening ? "true" : "false");
      talk.classList.toggle("voice-talk--on", listening);
      talk.setAttribute("aria-disabled", next === "transcribing" ? "true" : "false");
      if (text !== undefined) stateText.textContent = text;
      if (!listening) setLevel(0);
    }

    function setLevel(level) {
      if (levelFill) levelFill.style.transform = "scaleX(" + Math.min(1, level * 6).toFixed(3) + ")";
    }

    function showError(message) {
      const p = document.createElement("p");
      p.className = "flash flash--error";
      const text = document.createElement("span");
      text.textContent = period(sentence(message));
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "link-button";
      dismiss.textContent = "Dismiss";
      dismiss.addEventListener("click", function () { errorArea.replaceChildren(); });
      p.append(text, " ", dismiss);
      errorArea.replaceChildren(p);
    }

    function clearError() { errorArea.replaceChildren(); }

    function listenLabel(how) {
      if (how === "hands-free") return "Listening… (hands-free: pause to send, Escape ends)";
      if (how === "press") return "Listening… let go to send, Escape cancels.";
      return "Listening… press Talk again (or Alt+Shift+V) to send, Escape cancels.";
    }

    /* The controls as the server, the browser and the microphone allow; each problem said plainly. */
    function refresh() {
      canListen = ready && !problems.stt && !problems.browser && !problems.mic;
      talk.disabled = !canListen;
      readAloud.disabled = !canSpeak;
      if (!canSpeak) readAloud.checked = false;
      handsFree.disabled = !(canListen && canSpeak);
      if (handsFree.disabled && handsFree.checked) handsFree.checked = false;
      const lines = [problems.browser, problems.mic, problems.stt, problems.tts].filter(Boolean);
      note.replaceChildren.apply(note, lines.map(function (line) {
        if (typeof line === "string") {
          const p = document.createElement("p");
          p.textContent = line;
          return p;
        }
        const details = document.createElement("details"); // what the server says, folded: it is long
        const summary = document.createElement("summary");
        const more = document.createElement("p");
        summary.textContent = line.summary;
        more.textContent = line.more;
        details.append(summary, more);
        return details;
      }));
      note.hidden = lines.length === 0;
      help.hidden = !canListen && ready;
    }

    function backendProblem(status, what) {
      const detail = status && status.detail ? period(sentence(status.detail)) : "";
      const how = status && status.how_to_enable ? " Whoever runs this server can enable it: " + period(status.how_to_enable)
        : "";
      return { summary: what + " is not available on this server.", more: (detail + how).trim() || "No reason was given." };
    }

    async function loadStatus() {
      let status;
      try {
        const response = await window.fetch(API + "/status", { credentials: "same-origin",
          headers: { "Accept": "application/json" } });
        if (!response.ok) throw await errorFrom(response);
        status = await response.json();
      } catch (err) {
        const why = err && err.message && !(err instanceof TypeError) ? err.message : OFFLINE;
        problems.stt = "Voice is not available right now: " + period(why) + " Reload the page to try again.";
        canSpeak = false;
        ready = true;
        refresh();
        return;
      }
      limits = Object.assign(limits, status.limits || {});
      problems.stt = status.stt && status.stt.available ? "" : backendProblem(status.stt, "Talking (speech to text)");
      canSpeak = Boolean(status.tts && status.tts.available);
      problems.tts = canSpeak ? "" : backendProblem(status.tts, "Reading answers aloud (text to speech)");
      ready = true;
      refresh();
    }

    async function watchPermission() {
      if (!navigator.permissions || typeof navigator.permissions.query !== "function") return;
      try {
        const permission = await navigator.permissions.query({ name: "microphone" });
        const update = function () {
          problems.mic = permission.state === "denied" ? BLOCKED : "";
          refresh();
        };
        update();
        permission.addEventListener("change", update);
      } catch (err) { /* this browser cannot say; getUserMedia will */ }
    }

    /* ---- listening ---- */
    function audioContext() {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      if (!context) {
        try { context = new Context(); } catch (err) { return null; }
      }
      if (context.state === "suspended") context.resume().catch(function () { /* the meter stays still */ });
      return context;
    }

    async function startListening(how) {
      if (!canListen || mode === "starting" || mode === "listening" || mode === "transcribing") return;
      stopSpeaking(false);
      clearError();
      const current = { how: how, stream: null, recorder: null, chunks: [], send: true, cancelled: false,
        timer: 0, source: null, heard: false, quietSince: 0, startedAt: 0, stopReason: "" };
      rec = current;
      setState("starting", "Starting the microphone…");
      const ctx = audioContext(); // made while the press is still a user gesture
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
      } catch (err) {
        if (rec === current) rec = null;
        setState("idle", "");
        showError(micProblem(err));
        endHandsFree("");
        return;
      }
      if (current.cancelled || rec !== current) {
        stream.getTracks().forEach(function (t) { t.stop(); });
        if (rec === current) { rec = null; setState("idle", ""); }
        return;
      }
      current.stream = stream;
      let recorder;
      try {
        const type = recordingType();
        recorder = type ? new window.MediaRecorder(stream, { mimeType: type }) : new window.MediaRecorder(stream);
      } catch (err) {
        release(current);
        rec = null;
        setState("idle", "");
        showError("This browser could not record (" + (err && err.message ? err.message : String(err)) + ")");
        return;
      }
      current.recorder = recorder;
      recorder.addEventListener("dataavailable", function (event) {
        if (event.data && event.data.size) current.chunks.push(event.data);
      });
      recorder.addEventListener("stop", function () { recorded(current); });
      if (ctx) {
        try {
          current.source = ctx.createMediaStreamSource(stream);
          current.analyser = ctx.createAnalyser();
          current.analyser.fftSize = 1024;
          current.source.connect(current.analyser);
          current.samples = new Float32Array(current.analyser.fftSize);
        } catch (err) { current.analyser = null; }
      }
      recorder.start();
      current.startedAt = Date.now();
      current.timer = window.setInterval(function () { tick(current); }, TICK_MS);
      setState("listening", listenLabel(current.how));
    }

    function level(current) {
      if (!current.analyser) return -1;
      current.analyser.getFloatTimeDomainData(current.samples);
      let sum = 0;
      for (let i = 0; i < current.samples.length; i++) sum += current.samples[i] * current.samples[i];
      return Math.sqrt(sum / current.samples.length);
    }

    /* The meter, the length limit, and in hands-free mode the end of what was said. */
    function tick(current) {
      if (rec !== current || mode !== "listening") return;
      const now = Date.now();
      const elapsed = (now - current.startedAt) / 1000;
      const rms = level(current);
      setLevel(Math.max(0, rms));
      const limit = current.how === "hands-free" ? HANDS_FREE_MAX_S
        : Math.max(1, Number(limits.max_audio_seconds || 60) - 1);
      if (elapsed >= limit) {
        current.stopReason = "Stopped listening after " + Math.round(limit) + " s.";
        finishListening(true);
        return;
      }
      if (current.how !== "hands-free" || rms < 0) return;
      if (rms >= SPEECH_LEVEL) {
        current.heard = true;
        current.quietSince = 0;
      } else if (rms < QUIET_LEVEL) {
        if (!current.quietSince) current.quietSince = now;
        if (current.heard && now - current.quietSince >= PAUSE_MS) {
          finishListening(true);
        } else if (!current.heard && now - current.startedAt >= NO_SPEECH_MS) {
          endHandsFree("");
          cancelListening("Nothing was heard for " + Math.round(NO_SPEECH_MS / 1000) + " s, so hands-free mode is off.");
        }
      }
    }

    /* Stop recording: `send` it to be transcribed and sent, or throw it away. */
    function finishListening(send) {
      const current = rec;
      if (!current) return;
      current.send = send;
      if (!current.recorder) { // still starting: never begin
        current.cancelled = true;
        rec = null;
        setState("idle", send ? "" : current.stopReason || "Cancelled.");
        return;
      }
      if (current.recorder.state !== "inactive") current.recorder.stop(); // then recorded()
    }

    function cancelListening(why) {
      if (!rec) return;
      rec.stopReason = why;
      finishListening(false);
    }

    function release(current) {
      if (current.timer) window.clearInterval(current.timer);
      current.timer = 0;
      if (current.source) {
        try { current.source.disconnect(); } catch (err) { /* already */ }
      }
      if (current.stream) current.stream.getTracks().forEach(function (t) { t.stop(); });
    }

    function recorded(current) {
      release(current);
      if (rec === current) rec = null;
      if (!current.send) {
        if (mode === "listening") setState("idle", current.stopReason || "Cancelled.");
        return;
      }
      const type = (current.recorder && current.recorder.mimeType) || (current.chunks[0] && current.chunks[0].type) || "";
      const blob = new Blob(current.chunks, type ? { type: type } : undefined);
      transcribe(blob, current);
    }

    async function transcribe(blob, current) {
      if (!blob.size) {
        setState("idle", "Nothing was recorded. Try again.");
        endHandsFree("");
        return;
      }
      if (limits.max_audio_bytes && blob.size > limits.max_audio_bytes) {
        setState("idle", "");
        showError("The recording is too long to send (" + Math.round(blob.size / 1000) + " kB, at most "
          + Math.round(limits.max_audio_bytes / 1000) + " kB); say it in shorter parts");
        endHandsFree("");
        return;
      }
      transcribing = current;
      setState("transcribing", (current.stopReason ? current.stopReason + " " : "") + "Transcribing what you said…");
      const form = new FormData();
      form.append("file", blob, "speech." + extension(blob.type));
      let text;
      try {
        const response = await post("/transcribe", {
          headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() }, body: form });
        text = String((await response.json()).text || "").trim();
      } catch (err) {
        if (current.cancelled) return;
        transcribing = null;
        setState("idle", "");
        showError("Your words could not be transcribed: " + (err && err.message ? err.message : String(err)));
        endHandsFree("");
        return;
      }
      if (current.cancelled) return; // Escape while it was being transcribed
      transcribing = null;
      if (!text) {
        emptyTurns += 1;
        if (current.how === "hands-free" && emptyTurns < 2) {
          setState("idle", "No words were understood; listening again.");
          startListening("hands-free");
        } else {
          setState("idle", "No words were understood. Try again, a little closer to the microphone.");
          endHandsFree("");
        }
        return;
      }
      emptyTurns = 0;
      send(text, current.how);
    }

    /* The words into the message box and off, as if typed: they show as your message right away. */
    function send(text, how) {
      input.value = text;
      const ask = new CustomEvent("hearth:ask", { detail: { text: text, sent: false } });
      page.dispatchEvent(ask);
      if (ask.detail.sent) {
        setState("waiting", "Sent: “" + text + "”");
        return;
      }
      setState("idle", "Your words are in the message box; send them once the current answer is finished.");
      if (how === "hands-free") endHandsFree("");
    }

    /* ---- speaking ---- */
    function wantSpeech() { return canSpeak && (readAloud.checked || handsFree.checked); }

    async function speak(text, continueAfter) {
      const words = speakable(text);
      stopSpeaking(false);
      if (!words) {
        if (continueAfter) listenAgain();
        else setState("idle", "");
        return;
      }
      const token = ++speech.token;
      const controller = new AbortController();
      speech.controller = controller;
      speech.continueAfter = continueAfter;
      setState("speaking", "Getting the spoken answer…");
      let response;
      let blob;
      try {
        response = await post("/speak", {
          signal: controller.signal, body: JSON.stringify({ text: words }),
          headers: { "Accept": "audio/*", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() } });
        blob = await response.blob();
      } catch (err) {
        if (token !== speech.token) return;
        speech.controller = null;
        setState("idle", "");
        if (err && err.name === "AbortError") return;
        showError("The answer could not be read aloud: " + (err && err.message ? err.message : String(err)));
        endHandsFree("");
        return;
      }
      if (token !== speech.token) return;
      speech.controller = null;
      if (speech.url) URL.revokeObjectURL(speech.url);
      speech.url = URL.createObjectURL(blob);
      audio.src = speech.url;
      audio.hidden = false;
      const cut = response.headers.get("X-Hearth-Speech-Truncated") === "true";
      setState("speaking", "Speaking the answer… Escape stops." + (cut ? " (Only its beginning: it is long.)" : ""));
      try {
        await audio.play();
      } catch (err) {
        if (token !== speech.token) return;
        speech.continueAfter = false;
        setState("idle", err && err.name === "NotAllowedError" ? "The browser did not let the answer play by itself: "
          + "press play on the player to hear it." : "");
        if (!err || err.name !== "NotAllowedError") {
          showError("The spoken answer could not be played" + (err && err.message ? ": " + err.message : ""));
        }
        endHandsFree("");
      }
    }

    /* Stop the spoken answer (it can be played again from the player); `quietly` keeps the state text. */
    function stopSpeaking(quietly) {
      speech.token += 1;
      speech.continueAfter = false;
      if (speech.controller) { speech.controller.abort(); speech.controller = null; }
      if (!audio.paused) audio.pause();
      if (mode === "speaking" && !quietly) setState("idle", "");
    }

    function listenAgain() {
      if (handsFree.checked && canListen) startListening("hands-free");
      else setState("idle", "");
    }

    audio.addEventListener("ended", function () {
      const again = speech.continueAfter;
      speech.continueAfter = false;
      if (mode === "speaking") setState("idle", "");
      if (again) listenAgain();
    });
    audio.addEventListener("pause", function () {
      if (audio.ended) return;
      const again = speech.continueAfter; // paused from the player in hands-free mode: your turn
      speech.continueAfter = false;
      if (mode === "speaking") setState("idle", "");
      if (again) listenAgain();
    });
    audio.addEventListener("play", function () {
      if (mode === "idle") setState("speaking", "Speaking the answer… Escape stops.");
    });

    /* ---- hands-free mode ---- */
    function endHandsFree(why) {
      if (!handsFree.checked) return;
      handsFree.checked = false;
      speech.continueAfter = false;
      if (why) stateText.textContent = why;
    }

    handsFree.addEventListener("change", function () {
      clearError();
      if (handsFree.checked) {
        emptyTurns = 0;
        audioContext();
        if (mode === "idle") startListening("hands-free");
        else if (mode === "speaking") speech.continueAfter = true; // your turn once the answer is spoken
        return;
      }
      speech.continueAfter = false;
      if (rec && rec.how === "hands-free") cancelListening("Hands-free mode is off.");
      else stateText.textContent = "Hands-free mode is off.";
    });

    readAloud.checked = canSpeak && stored(STORE_KEY) === "true";
    readAloud.addEventListener("change", function () {
      store(STORE_KEY, readAloud.checked ? "true" : "false");
      if (!readAloud.checked && !handsFree.checked) stopSpeaking(false);
    });

    page.addEventListener("hearth:answer", function (event) {
      const detail = event.detail || {};
      const waiting = mode === "waiting";
      if (waiting) setState("idle", "");
      if (detail.status !== "complete") {
        if (handsFree.checked) endHandsFree("The answer did not finish, so hands-free mode is off.");
        return;
      }
      if (mode !== "idle" && mode !== "speaking") return; // already talking again
      if (wantSpeech()) speak(detail.text, handsFree.checked);
      else if (handsFree.checked) listenAgain();
    });

    /* ---- Talk: hold, or press to start and again to send ---- */
    function pressStart() {
      if (talk.disabled || mode === "transcribing") return;
      if (mode === "listening" || mode === "starting") { // the second press: send
        press = null;
        finishListening(true);
        return;
      }
      press = { at: Date.now() };
      startListening("press");
    }

    function pressEnd() {
      if (!press) return;
      const held = Date.now() - press.at;
      press = null;
      if (!rec || rec.how !== "press") return;
      if (mode === "listening" && held >= HOLD_MS) {
        finishListening(true); // held while speaking: let go sends
        return;
      }
      rec.how = "toggle";
      if (mode === "listening") stateText.textContent = listenLabel("toggle");
    }

    function toggle() {
      if (talk.disabled || mode === "transcribing") return;
      if (mode === "listening" || mode === "starting") finishListening(true);
      else startListening("toggle");
    }

    talk.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      event.preventDefault(); // no text selection or long-press menu while holding
      try { talk.setPointerCapture(event.pointerId); } catch (err) { /* keeps working without */ }
      talk.focus({ preventScroll: true });
      pressStart();
    });
    talk.addEventListener("pointerup", pressEnd);
    talk.addEventListener("pointercancel", pressEnd);
    talk.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    talk.addEventListener("keydown", function (event) {
      if (event.key !== " " || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      if (!event.repeat) pressStart();
    });
    talk.addEventListener("keyup", function (event) {
      if (event.key !== " ") return;
      event.preventDefault();
      ignoreClick = true;
      window.setTimeout(function () { ignoreClick = false; }, 0);
      pressEnd();
    });
    talk.addEventListener("click", function (event) {
      // Pointer presses are handled above; Enter (and a click from assistive technology) toggles.
      if (event.detail !== 0 || ignoreClick) return;
      toggle();
    });

    document.addEventListener("keydown", function (event) {
      if (event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey && event.code === "KeyV") {
        event.preventDefault();
        if (!event.repeat) toggle();
        return;
      }
      if (event.key !== "Escape") return;
      const busy = mode === "listening" || mode === "starting" || mode === "transcribing" || mode === "speaking"
        || handsFree.checked;
      if (!busy) return;
      const why = handsFree.checked ? "Hands-free mode is off." : "";
      endHandsFree(why);
      if (mode === "transcribing" && transcribing) {
        transcribing.cancelled = true;
        transcribing = null;
        setState("idle", why ? "Cancelled; hands-free mode is off." : "Cancelled.");
      }
      if (mode === "listening" || mode === "starting") cancelListening(why ? "Cancelled; " + why.charAt(0).toLowerCase()
        + why.slice(1) : "Cancelled.");
      if (mode === "speaking") { stopSpeaking(false); stateText.textContent = why || "Stopped."; }
    });

    /* ---- start ---- */
    problems.browser = browserProblem();
    panel.hidden = false;
    talk.hidden = false;
    talk.setAttribute("aria-pressed", "false");
    setState("idle", "");
    refresh();
    loadStatus().then(function () {
      readAloud.checked = canSpeak && stored(STORE_KEY) === "true";
    });
    if (!problems.browser) watchPermission();
  }

  function start() {
    const page = document.getElementById("assistant-page");
    if (page) initVoice(page);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
