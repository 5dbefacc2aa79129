// Browser push: the switch on the preferences page subscribes this browser (asking permission
// from the click) or unsubscribes it; every page of a user with push on keeps the service worker
// registered and the server's copy of the subscription current. Messages are set as text only.
(function () {
  "use strict";

  var config = document.getElementById("push-config");
  if (!config) { return; }
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  var SENT_KEY = "helpdesk.push.sent";
  var RESEND_AFTER_MS = 24 * 3600 * 1000;
  var SUBSCRIBE_TIMEOUT_MS = 30 * 1000;  // a push service out of reach may never answer

  // A failure whose text the user should read: the server's message, or (plain) the page's own.
  function Problem(message, plain) { this.message = message; this.plain = Boolean(plain); }

  // JSON from this origin, as the board and the bell send it (the origin guard covers CSRF).
  function api(method, url, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (doc) {
        if (!r.ok) { throw new Problem(doc.message || r.statusText || String(r.status)); }
        return doc;
      });
    });
  }

  function keyBytes(base64url) {
    var base64 = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function sameBytes(buffer, bytes) {
    if (!buffer || buffer.byteLength !== bytes.length) { return false; }
    var view = new Uint8Array(buffer);
    return view.every(function (value, i) { return value === bytes[i]; });
  }

  function registration() {
    return navigator.serviceWorker.register(config.dataset.workerUrl, { scope: "/" })
      .then(function () { return navigator.serviceWorker.ready; });
  }

  function serverKey() {
    return api("GET", config.dataset.keyUrl).then(function (doc) { return keyBytes(doc.data.public_key); });
  }

  // This browser's subscription for the server's current key (an old key's one is replaced).
  function subscription(worker, key) {
    return worker.pushManager.getSubscription().then(function (existing) {
      if (existing && sameBytes(existing.options.applicationServerKey, key)) { return existing; }
      var dropped = existing ? existing.unsubscribe() : Promise.resolve();
      return dropped.then(function () {
        return worker.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      });
    });
  }

  function remember(endpoint) {
    try {
      window.localStorage.setItem(SENT_KEY, JSON.stringify(
        { endpoint: endpoint, user: config.dataset.userId, at: Date.now() }));
    } catch (ignored) { /* private mode: the page just sends again next time */ }
  }

  function forget() {
    try { window.localStorage.removeItem(SENT_KEY); } catch (ignored) { /* nothing stored */ }
  }

  function recentlySent(endpoint) {
    try {
      var sent = JSON.parse(window.localStorage.getItem(SENT_KEY) || "{}");
      return sent.endpoint === endpoint && sent.user === config.dataset.userId &&
        Date.now() - sent.at < RESEND_AFTER_MS;
    } catch (ignored) { return false; }
  }

  // POST a PushSubscription (or its toJSON() form) to the server, which stores or updates it.
  function sendSubscription(pushSubscription) {
    var doc = typeof pushSubscription.toJSON === "function" ? pushSubscription.toJSON() : pushSubscription;
    return api("POST", config.dataset.subscribeUrl, doc).then(function (answer) {
      remember(doc.endpoint);
      return answer;
    });
  }

  function savePreference(on) {
    return api("PUT", config.dataset.preferencesUrl, { browser_notifications_enabled: on })
      .then(function () { config.dataset.enabled = on ? "true" : "false"; });
  }

  function withinTime(promise, message) {
    return Promise.race([promise, new Promise(function (resolve, reject) {
      window.setTimeout(function () { reject(new Problem(message)); }, SUBSCRIBE_TIMEOUT_MS);
    })]);
  }

  // Call from the click itself: browsers only show the permission prompt for a user gesture.
  function enable(messages) {
    if (!supported) { return Promise.reject(new Problem(messages.msgUnsupported, true)); }
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Problem(messages.msgDenied, true); }
      return Promise.all([registration(), serverKey()]);
    }).then(function (both) {
      return withinTime(subscription(both[0], both[1]), messages.msgTimeout);
    }).then(sendSubscription).then(function () { return savePreference(true); });
  }

  function disable() {
    var found = supported ? navigator.serviceWorker.getRegistration("/") : Promise.resolve(null);
    return found.then(function (worker) {
      return worker ? worker.pushManager.getSubscription() : null;
    }).then(function (existing) {
      if (!existing) { return null; }
      var endpoint = existing.endpoint;
      return existing.unsubscribe().then(function () {
        return api("POST", config.dataset.unsubscribeUrl, { endpoint: endpoint }).catch(function () {
          return null;  // the server never had it: nothing to stop there
        });
      });
    }).then(function () {
      forget();
      return savePreference(false);
    });
  }

  // On each page of a user with push on: keep the worker registered and, at most daily (or when
  // the subscription changed), check the server's key and send the subscription again.
  function refresh() {
    if (config.dataset.enabled !== "true" || !supported || Notification.permission !== "granted") {
      return Promise.resolve(null);
    }
    return registration().then(function (worker) {
      return worker.pushManager.getSubscription().then(function (existing) {
        if (existing && recentlySent(existing.endpoint)) { return null; }
        return serverKey().then(function (key) { return subscription(worker, key); })
          .then(sendSubscription);
      });
    });
  }

  function reason(error) {
    return (error && (error.message || error.name)) || String(error);
  }

  function wireSwitch(toggle) {
    var status = document.getElementById("push-status");
    var messages = toggle.dataset;
    function say(text, kind) {
      status.textContent = text;
      status.className = "form-text mb-3" + (kind ? " text-" + kind : "");
    }
    toggle.addEventListener("change", function () {
      var on = toggle.checked;
      var work = on ? enable(messages) : disable();
      toggle.disabled = true;
      say(messages.msgWorking);
      work.then(function () {
        say(on ? messages.msgOn : messages.msgOff, "success");
      }, function (error) {
        toggle.checked = !on;
        var template = on ? messages.msgFailed : messages.msgOffFailed;
        say(error.plain ? error.message : template.replace("{reason}", reason(error)), "danger");
      }).finally(function () { toggle.disabled = false; });
    });
  }

  var toggle = document.getElementById("browser_notifications_enabled");
  if (toggle) {
    wireSwitch(toggle);
  }
  window.Helpdesk = window.Helpdesk || {};
  window.Helpdesk.push = { enable: enable, disable: disable, refresh: refresh, sendSubscription: sendSubscription };
  refresh().catch(function (error) { window.console.warn("push refresh failed:", reason(error)); });
})();
