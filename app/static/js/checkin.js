/* The scanner page of an event's door (events/checkin.html).

   Each scan (the camera's, or a code typed or typed by a barcode reader) gets a nonce
   of its own and is sent to CheckInApi; the verdict is shown big, in colour and in
   words. The page keeps the event's offline pack (its public key, the places revoked,
   not paid, with items missing, already entered) in localStorage. When the network
   is down it checks the ticket's Ed25519 signature itself (WebCrypto) against that
   list, answers "OK (offline)" or the refusal, and queues the scan with its time; the
   queue is sent again when the network is back (the `online` event, and a timer),
   where the server flags the places that had entered meanwhile as duplicates. */
(function () {
  "use strict";
  var root = document.getElementById("checkin");
  if (!root) { return; }
  var text = root.dataset;
  var eventId = Number(text.event);
  var store = "guichet.checkin." + eventId + ".";
  var verdictBox = document.getElementById("checkin-verdict");
  var form = document.getElementById("checkin-form");
  var field = document.getElementById("checkin-token");
  var network = document.getElementById("checkin-network");
  var syncBox = document.getElementById("checkin-sync");
  var syncLog = document.getElementById("checkin-sync-log");
  var undoForm = document.getElementById("undo-form");
  var syncing = false;
  var ticks = 0;

  var REFUSALS = {
    unknown: text.textUnknown, bad_signature: text.textBadSignature, opposed: text.textOpposed,
    cancelled: text.textCancelled, not_paid: text.textNotPaid, items_missing: text.textItemsMissing
  };

  function load(name, fallback) {
    try {
      var value = window.localStorage.getItem(store + name);
      return value ? JSON.parse(value) : fallback;
    } catch (error) {
      return fallback;
    }
  }

  function save(name, value) {
    try { window.localStorage.setItem(store + name, JSON.stringify(value)); } catch (error) { /* full or off */ }
  }

  function newNonce() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function paragraph(className, content) {
    var element = document.createElement("p");
    element.className = className;
    element.textContent = content;
    return element;
  }

  function toneOf(code) {
    return code === "ok" ? "ok" : (code === "already" ? "already" : "refused");
  }

  function show(tone, code, headline, message, detail) {
    verdictBox.className = "checkin-verdict checkin-" + tone;
    if (code) { verdictBox.dataset.code = code; } else { delete verdictBox.dataset.code; }
    var parts = [paragraph("checkin-headline", headline), paragraph("checkin-message", message || "")];
    if (detail) { parts.push(paragraph("checkin-detail", detail)); }
    verdictBox.replaceChildren.apply(verdictBox, parts);
  }

  function showVerdict(verdict, offline) {
    var headline = verdict.verdict === "ok" ? (offline ? text.textOkOffline : text.textOk)
      : (verdict.verdict === "already" ? text.textAlready : text.textRefused);
    // An entry's sentence names the holder already; a refusal's says whose ticket it is.
    show(toneOf(verdict.verdict), verdict.verdict + (offline ? "-offline" : ""), headline, verdict.message,
         verdict.holder && !verdict.ok ? verdict.holder + " — " + verdict.ticket : "");
  }

  function refusalOf(body) {
    var message = body && body.message;
    if (message && typeof message === "object") {
      message = Object.keys(message).map(function (key) { return [].concat(message[key]).join(" "); }).join(" ");
    }
    return message || text.textRefused;
  }

  function showCounts(counts) {
    if (!counts) { return; }
    root.querySelectorAll("[data-count]").forEach(function (element) {
      element.textContent = counts[element.dataset.count];
    });
  }

  function request(url, body) {
    var options = {credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (body) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    // A network failure, or a gateway in front of a server that is down, is being offline.
    return fetch(url, options).then(function (response) {
      if (response.status >= 500) { throw new Error("HTTP " + response.status); }
      return response;
    });
  }

  function answerOf(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      return {ok: response.ok, body: body};
    });
  }

  // -- the offline list and the queue --

  function remember(number, entered) {
    var pack = load("pack", null);
    if (!pack) { return; }
    pack.entered = (pack.entered || []).filter(function (id) { return id !== number; });
    if (entered) { pack.entered.push(number); }
    save("pack", pack);
  }

  // A moment as the server writes them: in the app's time zone (TIMEZONE), to the minute.
  function timeOf(moment) {
    return new Date(moment).toLocaleTimeString(document.documentElement.lang,
                                               {timeZone: text.timezone, hour: "2-digit", minute: "2-digit"});
  }

  function status(online) {
    var queue = load("queue", []);
    var pack = load("pack", null);
    var parts = [online ? text.textOnline : text.textOffline];
    if (queue.length) { parts.push(text.textQueued + " " + queue.length + "."); }
    if (pack && pack.generated_on) {
      parts.push(text.textPack + " " + timeOf(pack.generated_on) + ".");
    }
    network.textContent = parts.join(" ");
    network.className = "checkin-network " + (online ? "checkin-online" : "checkin-offline");
    network.hidden = false;
  }

  function refreshPack() {
    return request(text.packUrl).then(answerOf).then(function (answer) {
      if (answer.ok) {  // the scans still queued have entered too, though the server does not know yet
        load("queue", []).forEach(function (queued) { answer.body.entered.push(queued.reservation); });
        save("pack", answer.body);
      }
      status(true);
    }, function () { status(false); });
  }

  // The counts once the scans of the moment are answered (a door scans in bursts).
  var countsTimer = null;
  function countsSoon() {
    if (countsTimer !== null) { return; }
    countsTimer = window.setTimeout(function () { countsTimer = null; refreshCounts(); }, 1000);
  }

  function refreshCounts() {
    return request(text.countsUrl).then(answerOf).then(function (answer) {
      if (answer.ok) { showCounts(answer.body); }
      status(true);
    }, function () { status(false); });
  }

  function unbase64(value, url) {
    var normal = url ? value.replace(/-/g, "+").replace(/_/g, "/") : value;
    while (normal.length % 4) { normal += "="; }
    return Uint8Array.from(window.atob(normal), function (c) { return c.charCodeAt(0); });
  }

  // The verdict the offline list gives a token: a promise of {code, number}.
  function checkOffline(pack, token) {
    var parts = token.split("."), payload, signature;
    try {
      if (parts.length !== 2) { throw new Error("not a token"); }
      payload = unbase64(parts[0], true);
      signature = unbase64(parts[1], true);
    } catch (error) {
      return Promise.resolve({code: "unknown"});
    }
    if (payload.length !== 16 || signature.length !== 64) { return Promise.resolve({code: "unknown"}); }
    var number = 0;
    for (var i = 0; i < 6; i += 1) { number = number * 256 + payload[i]; }
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle) { return Promise.resolve({code: "no_pack"}); }
    return subtle.importKey("raw", unbase64(pack.public_key, false), {name: "Ed25519"}, false, ["verify"])
      .then(function (key) { return subtle.verify({name: "Ed25519"}, key, signature, payload); })
      .then(function (valid) {
        var code = "ok";
        if (!valid) { code = "bad_signature"; }
        else if (pack.cancelled) { code = "cancelled"; }
        else if (pack.revoked.indexOf(number) >= 0) { code = "opposed"; }
        else if (pack.not_paid.indexOf(number) >= 0) { code = "not_paid"; }
        else if (pack.items_missing.indexOf(number) >= 0) { code = "items_missing"; }
        else if (pack.entered.indexOf(number) >= 0) { code = "already"; }
        return {code: code, number: number};
      }, function () { return {code: "no_pack"}; });
  }

  function scanOffline(item) {
    var pack = load("pack", null);
    if (!pack || !pack.public_key) {
      show("refused", "no_pack", text.textRefused, text.textOfflineNopack);
      status(false);
      return Promise.resolve();
    }
    return checkOffline(pack, item.token).then(function (found) {
      if (found.code === "no_pack") {
        show("refused", "no_pack", text.textRefused, text.textOfflineNopack);
      } else if (found.code === "already") {
        show("already", "already-offline", text.textAlready, text.textOfflineAlready, "#" + found.number);
      } else if (found.code !== "ok") {
        show("refused", found.code + "-offline", text.textRefused, REFUSALS[found.code]);
      } else {
        var queue = load("queue", []);
        queue.push({token: item.token, nonce: item.nonce, scanned_on: new Date().toISOString(),
                    reservation: found.number});
        save("queue", queue);
        remember(found.number, true);
        show("ok", "ok-offline", text.textOkOffline, text.textOfflineEntered, "#" + found.number);
      }
      status(false);
    });
  }

  function scan(token) {
    token = (token || "").trim();
    if (!token) { return Promise.resolve(); }
    var item = {token: token, nonce: newNonce()};
    show("waiting", null, text.textWaiting, "");
    return request(text.scanUrl, {event: eventId, token: token, nonce: item.nonce}).then(function (response) {
      return answerOf(response).then(function (answer) {
        status(true);
        if (!answer.ok) {
          show("refused", "error", text.textRefused, refusalOf(answer.body));
          return;
        }
        showVerdict(answer.body, false);
        if (answer.body.ok && !answer.body.replayed) {
          var entered = root.querySelector('[data-count="entered"]');
          entered.textContent = Number(entered.textContent) + 1;  // at once; the server's count follows
          remember(answer.body.reservation, true);
        }
        countsSoon();
        sync();
      });
    }, function () { return scanOffline(item); });
  }

  function logSynced(item, answer) {
    var body = answer.body;
    var entry = document.createElement("li");
    entry.className = "list-group-item checkin-synced checkin-" + (answer.ok ? toneOf(body.verdict) : "refused");
    entry.dataset.code = answer.ok ? body.verdict : "error";
    var label = document.createElement("span");
    label.className = "label " + (body.duplicate ? "label-warning" : (body.ok ? "label-success" : "label-danger"));
    label.textContent = body.duplicate ? text.textDuplicate : (body.ok ? text.textSynced : text.textRefused);
    if (body.duplicate) { entry.dataset.duplicate = "true"; }
    var when = timeOf(item.scanned_on);
    entry.append(label, " " + when + " — " + (body.holder ? body.holder + " : " : "")
                 + (answer.ok ? body.message : refusalOf(body)));
    syncLog.prepend(entry);
    syncBox.hidden = false;
  }

  function sync() {
    var queue = load("queue", []);
    if (syncing || !queue.length) { return Promise.resolve(); }
    syncing = true;
    var item = queue[0];
    return request(text.scanUrl, {event: eventId, token: item.token, nonce: item.nonce, scanned_on: item.scanned_on})
      .then(answerOf).then(function (answer) {
        logSynced(item, answer);
        countsSoon();
        save("queue", load("queue", []).filter(function (queued) { return queued.nonce !== item.nonce; }));
        syncing = false;
        status(true);
        return sync();
      }, function () {
        syncing = false;
        status(false);
      });
  }

  form.addEventListener("submit", function (submitted) {
    submitted.preventDefault();
    var token = field.value;
    field.value = "";
    field.focus();
    scan(token);
  });

  undoForm.addEventListener("submit", function (submitted) {
    submitted.preventDefault();
    var reason = undoForm.querySelector("[name=reason]");
    request(text.undoUrl, {reason: reason.value}).then(answerOf).then(function (answer) {
      if (!answer.ok) {
        show("refused", "error", text.textRefused, refusalOf(answer.body));
        return;
      }
      reason.value = "";
      remember(answer.body.reservation, false);
      show("idle", "undone", answer.body.message, answer.body.reason);
      showCounts(answer.body.counts);
    }, function () {
      show("refused", "error", text.textRefused, text.textUndoOffline);
      status(false);
    });
  });

  // -- the camera (qr-scanner), offered when there is one --

  var camera = document.getElementById("checkin-camera");
  var toggle = document.getElementById("camera-toggle");
  var video = document.getElementById("camera-video");
  var scanner = null, running = false, last = {data: null, at: 0};

  function cameraState(on) {
    running = on;
    video.hidden = !on;
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.querySelector("span").textContent = on ? text.textCameraOn : text.textCameraOff;
  }

  if (window.QrScanner) {
    window.QrScanner.hasCamera().then(function (has) { camera.hidden = !has; });
    toggle.addEventListener("click", function () {
      if (running) {
        scanner.stop();
        cameraState(false);
        return;
      }
      if (!scanner) {
        scanner = new window.QrScanner(video, function (result) {
          var now = Date.now();
          if (result.data === last.data && now - last.at < 3000) { return; }  // the same code, still in view
          last = {data: result.data, at: now};
          scan(result.data);
        }, {returnDetailedScanResult: true, highlightScanRegion: true, maxScansPerSecond: 5});
      }
      scanner.start().then(function () { cameraState(true); }, function () {
        cameraState(false);
        show("refused", "camera", text.textRefused, text.textCameraFailed);
      });
    });
  }

  window.addEventListener("online", function () { sync(); refreshPack(); });
  window.addEventListener("offline", function () { status(false); });
  window.setInterval(function () {
    ticks += 1;
    sync();
    if (ticks % 2 === 0) { refreshCounts(); }
    if (ticks % 12 === 0) { refreshPack(); }
  }, 5000);
  status(navigator.onLine !== false);
  refreshPack().then(sync);
}());
