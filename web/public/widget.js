/*
 * MS physiotherapy assistant: accessible chat widget for Rasa's socket.io channel.
 *
 * Embed with one script tag and a config object:
 *   <script>window.MSPhysioChat = {serverUrl: "https://rasa.example.org", title: "...", greeting: "..."};</script>
 *   <script src="https://widget.example.org/widget.js" defer></script>
 *
 * widget.js loads widget.css and socket.io.min.js from the folder it was served from (or from
 * config.assetsUrl). All message text is put into the page with textContent, never as HTML.
 *
 * Protocol (channels/socketio.py, on Rasa 3.6's socket.io channel):
 *   client -> "session_request" {session_id}   server -> "session_confirm" <session_id>
 *     The server makes and signs the session id; it confirms the stored one only if it signed it,
 *     else a new one. The socket then belongs to that session on the server.
 *   client -> "user_uttered" {message}
 *   server -> "bot_uttered" {text, quick_replies: [{title, payload}]} | {attachment} | ...
 */
(function () {
  "use strict";

  if (window.__msPhysioChatLoaded) return;
  window.__msPhysioChatLoaded = true;

  var config = window.MSPhysioChat || {};
  var script = document.currentScript;
  var scriptSrc = (script && script.src) || location.href;

  var settings = {
    // no default: the page says where the Rasa server is (the demo page's /config.js does)
    serverUrl: config.serverUrl || "",
    socketPath: config.socketPath || "/socket.io",
    title: config.title || "MS physiotherapy assistant",
    greeting: config.greeting || "",
    launcherText: config.launcherText || "Chat with the MS physio assistant",
    inputLabel: config.inputLabel || "Your message",
    assetsUrl: config.assetsUrl || new URL(".", scriptSrc).href,
    loadCss: config.loadCss !== false,
    openOnLoad: config.open === true,
    maxStoredMessages: config.maxStoredMessages || 200,
    // seconds without an answer before the status says so (the user has no time limit)
    slowAnswerSeconds: config.slowAnswerSeconds || 30
  };

  var TEXT = {
    offline: "Can\u2019t reach the assistant. Retrying\u2026",
    offlineQueued: "Can\u2019t reach the assistant. Retrying\u2026 Your message will be sent when the connection is back.",
    reconnected: "Connected again.",
    typing: "The assistant is typing\u2026",
    slow: "The assistant is taking longer than usual. Your message was sent; please wait or send it again.",
    loadFailed: "The chat could not be loaded. Please reload the page.",
    pending: "Not sent yet: it will be sent when the connection is back.",
    newTab: " (opens in a new tab)"
  };

  // ---------------------------------------------------------------- storage (never throws)

  var memory = {};
  var keyBase = "msphysio-chat:" + settings.serverUrl + ":";

  function store(kind) {
    try {
      var s = window[kind];
      var probe = keyBase + "probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return null;
    }
  }
  var local = store("localStorage");
  var session = store("sessionStorage");

  function read(s, key) {
    try {
      return s ? s.getItem(keyBase + key) : memory[key] === undefined ? null : memory[key];
    } catch (e) {
      return null;
    }
  }
  function write(s, key, value) {
    try {
      if (s) {
        if (value === null) s.removeItem(keyBase + key);
        else s.setItem(keyBase + key, value);
      } else {
        memory[key] = value === null ? undefined : value;
      }
    } catch (e) {
      memory[key] = value;
    }
  }

  // The session id lives in localStorage (Rasa keeps the conversation for it); the transcript, the
  // draft and the open state live in sessionStorage: they survive a reload but not the closing of
  // the tab, so a shared computer does not keep health questions around.
  function loadTranscript() {
    try {
      var data = JSON.parse(read(session, "transcript") || "[]");
      if (!Array.isArray(data)) return [];
      return data.filter(isEntry).map(function (entry) {
        if (typeof entry.id !== "string") entry.id = newId();
        return entry;
      });
    } catch (e) {
      return [];
    }
  }
  var nextId = 0;
  function newId() {
    nextId += 1;
    return Date.now().toString(36) + "-" + nextId;
  }
  function isEntry(entry) {
    return entry && (entry.from === "bot" || entry.from === "user") && typeof entry.text === "string";
  }
  function saveTranscript() {
    if (transcript.length > settings.maxStoredMessages) {
      transcript.splice(0, transcript.length - settings.maxStoredMessages);
    }
    write(session, "transcript", JSON.stringify(transcript));
  }

  // ---------------------------------------------------------------- state

  var transcript = loadTranscript();
  var socket = null;
  var sessionId = read(local, "session_id");
  var ready = false; // connected and session confirmed
  var wasOffline = false;
  var waiting = false;
  var slowTimer = null;
  var statusKind = "";
  var uid = Math.random().toString(36).slice(2, 8);

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function hiddenText(text) {
    return el("span", { className: "msp-visually-hidden", text: text });
  }

  function safeUrl(value) {
    try {
      var url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(url, label) {
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "msp-link" }, [
      label,
      hiddenText(TEXT.newTab)
    ]);
  }

  // Markdown-style [label](https://...) links (the sources of an answer) and bare https URLs
  // become links; everything else, http:// included, stays text nodes, so markup in a message is
  // shown, never run.
  var LINK_PATTERN = /\[([^\]\n]{1,300})\]\((https:\/\/[^\s)]+)\)|(https:\/\/[^\s<>"'`]+)/g;

  function richText(text) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    var match;
    LINK_PATTERN.lastIndex = 0;
    while ((match = LINK_PATTERN.exec(text)) !== null) {
      var label = match[1];
      var raw = match[2] || match[3];
      var end = match.index + match[0].length;
      if (!label) {
        // leave trailing punctuation (and an unbalanced closing bracket) outside a bare URL
        var trimmed = raw.replace(/[.,;:!?'"]+$/, "");
        while (/\)$/.test(trimmed) && (trimmed.match(/\)/g) || []).length > (trimmed.match(/\(/g) || []).length) {
          trimmed = trimmed.slice(0, -1);
        }
        end -= raw.length - trimmed.length;
        raw = trimmed;
      }
      var url = safeUrl(raw);
      if (!url) continue;
      if (match.index > last) fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      fragment.appendChild(link(url, label || raw));
      last = end;
      LINK_PATTERN.lastIndex = end;
    }
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // ---------------------------------------------------------------- the widget's DOM

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "msp-launcher-icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  var ids = {
    panel: "msp-panel-" + uid,
    title: "msp-title-" + uid,
    input: "msp-input-" + uid,
    log: "msp-log-" + uid
  };

  var launcher = el("button", {
    type: "button",
    className: "msp-launcher",
    "aria-expanded": "false",
    "aria-controls": ids.panel
  }, [
    chatIcon(),
    el("span", { className: "msp-launcher-text", text: settings.launcherText })
  ]);

  var closeButton = el("button", { type: "button", className: "msp-close", "aria-label": "Close chat" }, [
    el("span", { "aria-hidden": "true", className: "msp-close-icon", text: "\u2715" }),
    el("span", { className: "msp-close-text", "aria-hidden": "true", text: "Close" })
  ]);

  var log = el("div", {
    id: ids.log,
    className: "msp-log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": "Conversation",
    tabindex: "0"
  });

  var statusText = el("span", { className: "msp-status-text" });
  var status = el("div", { className: "msp-status", role: "status", "aria-live": "polite", "aria-atomic": "true" }, [
    statusText
  ]);
  var dots = el("span", { className: "msp-dots", "aria-hidden": "true", hidden: true }, [
    el("span"), el("span"), el("span")
  ]);
  var statusBar = el("div", { className: "msp-status-bar" }, [dots, status]);

  var input = el("input", {
    id: ids.input,
    className: "msp-input",
    type: "text",
    autocomplete: "off",
    enterkeyhint: "send",
    spellcheck: "true"
  });
  var sendButton = el("button", { type: "submit", className: "msp-send", text: "Send" });
  var form = el("form", { className: "msp-form", novalidate: true }, [
    el("label", { for: ids.input, className: "msp-label", text: settings.inputLabel }),
    el("div", { className: "msp-input-row" }, [input, sendButton])
  ]);

  var panel = el("section", {
    id: ids.panel,
    className: "msp-panel",
    "aria-labelledby": ids.title,
    hidden: true
  }, [
    el("div", { className: "msp-header" }, [
      el("h2", { id: ids.title, className: "msp-title", text: settings.title }),
      closeButton
    ]),
    log,
    statusBar,
    form
  ]);

  // The launcher comes first: the panel follows the button that opens it (disclosure pattern),
  // so Tab goes from the launcher into the chat. CSS shows the panel above the launcher.
  var root = el("div", { className: "msp-root", lang: "en", dir: "ltr" }, [launcher, panel]);

  // ---------------------------------------------------------------- rendering

  function renderEntry(entry) {
    var isBot = entry.from === "bot";
    var bubble = el("div", { className: "msp-msg " + (isBot ? "msp-msg--bot" : "msp-msg--user") }, [
      hiddenText(isBot ? "Assistant: " : "You: ")
    ]);
    var body = el("span", { className: "msp-msg-text" });
    if (isBot) body.appendChild(richText(entry.text));
    else body.textContent = entry.text;
    bubble.appendChild(body);
    if (isBot && entry.image) {
      var src = safeUrl(entry.image);
      if (src) bubble.appendChild(el("div", { className: "msp-attachment" }, [link(src, "Open the image")]));
    }
    if (entry.pending) {
      bubble.appendChild(el("span", { className: "msp-pending", text: TEXT.pending }));
    }
    return bubble;
  }

  function renderReplies(entry) {
    var group = el("div", { className: "msp-replies", role: "group", "aria-label": "Suggested replies" });
    entry.buttons.forEach(function (button) {
      var b = el("button", { type: "button", className: "msp-reply", text: button.title });
      b.addEventListener("click", function () {
        sendMessage(button.title, button.payload);
      });
      group.appendChild(b);
    });
    return group;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function appendEntry(entry, index) {
    var node = renderEntry(entry);
    node.setAttribute("data-id", entry.id || "");
    log.appendChild(node);
    // quick replies only for the bot's latest turn (after the last user message)
    if (entry.from === "bot" && entry.buttons && entry.buttons.length && isLatestTurn(index)) {
      log.appendChild(renderReplies(entry));
    }
  }

  function isLatestTurn(index) {
    for (var i = index + 1; i < transcript.length; i++) {
      if (transcript[i].from === "user") return false;
    }
    return true;
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    if (settings.greeting) {
      log.appendChild(renderEntry({ from: "bot", text: settings.greeting }));
    }
    transcript.forEach(appendEntry);
    scrollToEnd();
  }

  function removeQuickReplies() {
    var groups = log.querySelectorAll(".msp-replies");
    var hadFocus = false;
    Array.prototype.forEach.call(groups, function (group) {
      if (group.contains(document.activeElement)) hadFocus = true;
      group.parentNode.removeChild(group);
    });
    return hadFocus;
  }

  // ---------------------------------------------------------------- status (one polite region)

  function setStatus(text, kind) {
    // Only a change is written, so a repeated state is never announced twice.
    if (statusText.textContent !== text) statusText.textContent = text;
    if (statusKind !== kind) {
      status.classList.toggle("msp-status--error", kind === "error");
      statusKind = kind;
    }
    dots.hidden = kind !== "typing";
  }

  function hasPending() {
    return transcript.some(function (entry) { return entry.pending; });
  }

  function updateStatus() {
    if (!socket) return setStatus("", "");
    if (wasOffline && !ready) return setStatus(hasPending() ? TEXT.offlineQueued : TEXT.offline, "error");
    if (waiting === "slow") return setStatus(TEXT.slow, "");
    if (waiting) return setStatus(TEXT.typing, "typing");
    if (wasOffline === "recovered") return setStatus(TEXT.reconnected, "");
    setStatus("", "");
  }

  function setWaiting(value) {
    waiting = value;
    clearTimeout(slowTimer);
    if (value === true) {
      slowTimer = setTimeout(function () {
        if (waiting) {
          waiting = "slow";
          updateStatus();
        }
      }, settings.slowAnswerSeconds * 1000);
    }
    updateStatus();
  }

  // ---------------------------------------------------------------- sending

  function emitEntry(entry) {
    socket.emit("user_uttered", { message: entry.payload || entry.text });
  }

  function sendMessage(text, payload) {
    text = String(text || "");
    if (!text.trim()) {
      input.focus();
      return false;
    }
    var focusWasOnReply = removeQuickReplies();
    var entry = { id: newId(), from: "user", text: text, payload: payload || text };
    if (!ready) entry.pending = true;
    transcript.push(entry);
    saveTranscript();
    appendEntry(entry, transcript.length - 1);
    scrollToEnd();
    if (ready) {
      emitEntry(entry);
      if (wasOffline === "recovered") wasOffline = false;
      setWaiting(true);
    } else {
      connect();
      updateStatus();
    }
    if (focusWasOnReply) input.focus();
    return true;
  }

  function flushQueue() {
    var sent = false;
    transcript.forEach(function (entry) {
      if (!entry.pending) return;
      emitEntry(entry);
      delete entry.pending;
      sent = true;
      Array.prototype.forEach.call(log.querySelectorAll(".msp-msg"), function (node) {
        var note = node.getAttribute("data-id") === entry.id && node.querySelector(".msp-pending");
        if (note) note.parentNode.removeChild(note);
      });
    });
    if (sent) {
      saveTranscript();
      if (wasOffline === "recovered") wasOffline = false; // the answer will show we are back
      setWaiting(true);
    }
  }

  // ---------------------------------------------------------------- receiving

  function normaliseButtons(list) {
    if (!Array.isArray(list)) return [];
    return list
      .filter(function (b) { return b && typeof b.title === "string" && b.title.trim(); })
      .map(function (b) {
        return { title: b.title, payload: typeof b.payload === "string" && b.payload ? b.payload : b.title };
      });
  }

  function onBotMessage(data) {
    if (!data || typeof data !== "object") return;
    var entry = { id: newId(), from: "bot", text: typeof data.text === "string" ? data.text : "" };
    var buttons = normaliseButtons(data.quick_replies || data.buttons);
    if (buttons.length) entry.buttons = buttons;
    var attachment = data.attachment;
    if (attachment && attachment.type === "image" && attachment.payload && typeof attachment.payload.src === "string") {
      entry.image = attachment.payload.src;
    }
    if (!entry.text && !entry.buttons && !entry.image) return;
    transcript.push(entry);
    saveTranscript();
    appendEntry(entry, transcript.length - 1);
    scrollToEnd();
    setWaiting(false);
  }

  // ---------------------------------------------------------------- connection

  function socketAddress() {
    var url = new URL(settings.serverUrl, location.href);
    var base = url.pathname.replace(/\/+$/, "");
    return { origin: url.origin, path: base + settings.socketPath };
  }

  function goOffline() {
    ready = false;
    wasOffline = true;
    setWaiting(false);
  }

  function connect() {
    if (socket || !window.io) return;
    var address = socketAddress();
    socket = window.io(address.origin, {
      path: address.path,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 10000
    });
    socket.on("connect", function () {
      // A new socket id each time: ask for the stored session again, so Rasa puts this
      // connection into the conversation's room (session_persistence).
      socket.emit("session_request", { session_id: sessionId });
    });
    socket.on("session_confirm", function (id) {
      var confirmed = typeof id === "string" ? id : id && id.session_id;
      if (confirmed) {
        sessionId = confirmed;
        write(local, "session_id", sessionId);
      }
      ready = true;
      if (wasOffline) wasOffline = "recovered";
      flushQueue();
      updateStatus();
    });
    socket.on("bot_uttered", onBotMessage);
    socket.on("connect_error", function () {
      goOffline();
    });
    socket.on("disconnect", function (reason) {
      goOffline();
      // The server closed the connection on purpose: socket.io does not retry by itself then.
      if (reason === "io server disconnect") {
        setTimeout(function () { if (socket) socket.connect(); }, 2000);
      }
    });
    updateStatus();
  }

  function loadSocketIo(done) {
    if (window.io) return done(true);
    var tag = el("script", { src: settings.assetsUrl + "socket.io.min.js", async: true });
    tag.addEventListener("load", function () { done(!!window.io); });
    tag.addEventListener("error", function () { done(false); });
    document.head.appendChild(tag);
  }

  var ioState = "loading"; // loading | ready | failed
  var wantConnection = false;

  function ensureConnection() {
    wantConnection = true;
    if (ioState === "ready") connect();
  }

  // ---------------------------------------------------------------- open / close

  function isOpen() {
    return !panel.hidden;
  }

  function open(focusInput) {
    panel.hidden = false;
    root.classList.add("msp-root--open");
    launcher.setAttribute("aria-expanded", "true");
    write(session, "open", "1");
    scrollToEnd();
    ensureConnection();
    if (focusInput) input.focus();
  }

  function close(returnFocus) {
    panel.hidden = true;
    root.classList.remove("msp-root--open");
    launcher.setAttribute("aria-expanded", "false");
    write(session, "open", null);
    if (returnFocus) launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (isOpen()) close(true);
    else open(true);
  });
  closeButton.addEventListener("click", function () {
    close(true);
  });
  root.addEventListener("keydown", function (event) {
    if ((event.key === "Escape" || event.key === "Esc") && isOpen()) {
      event.preventDefault();
      close(true);
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sendMessage(input.value)) {
      input.value = "";
      write(session, "draft", null);
    }
  });
  input.addEventListener("input", function () {
    write(session, "draft", input.value || null);
  });

  // ---------------------------------------------------------------- start

  function start() {
    input.value = read(session, "draft") || "";
    renderAll();
    document.body.appendChild(root);
    if (!settings.serverUrl && window.console) {
      console.error("MS physio chat: window.MSPhysioChat.serverUrl is not set: the widget cannot connect.");
    }
    loadSocketIo(function (ok) {
      ok = ok && Boolean(settings.serverUrl);
      ioState = ok ? "ready" : "failed";
      if (!ok) return setStatus(TEXT.loadFailed, "error");
      if (wantConnection || hasPending()) connect();
    });
    if (read(session, "open") === "1" || settings.openOnLoad) open(false);
    if (hasPending()) ensureConnection();
  }

  function whenStyled(callback) {
    if (!settings.loadCss) return callback();
    var href = settings.assetsUrl + "widget.css";
    var existing = document.querySelector('link[data-msp-widget-css]');
    if (existing) return callback();
    var css = el("link", { rel: "stylesheet", href: href, "data-msp-widget-css": "" });
    var called = false;
    function once() {
      if (!called) {
        called = true;
        callback();
      }
    }
    css.addEventListener("load", once);
    css.addEventListener("error", once);
    setTimeout(once, 3000);
    document.head.appendChild(css);
  }

  window.MSPhysioChatWidget = {
    open: function () { open(true); },
    close: function () { close(true); }
  };

  function boot() {
    whenStyled(start);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
