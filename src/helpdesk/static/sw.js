/* Helpdesk service worker: shows pushed notifications and opens their task when clicked.
 * Served at /sw.js (scope "/"). Notification text is shown as plain text by the browser. */
'use strict';

const HOME_URL = '/tasks/my-tasks';
const ICON_URL = '/static/img/icon-192.png';
const DEFAULT_TITLE = 'Helpdesk';

/* Only pages of this site may be opened from a notification. */
function sameSiteUrl(raw) {
  const home = new URL(HOME_URL, self.location.origin);
  if (typeof raw !== 'string' || raw === '') {
    return home.href;
  }
  try {
    const url = new URL(raw, self.location.origin);
    return url.origin === self.location.origin ? url.href : home.href;
  } catch (error) {
    return home.href;
  }
}

function text(value, fallback) {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

function readPayload(data) {
  if (!data) {
    return {};
  }
  try {
    const payload = data.json();
    return payload && typeof payload === 'object' ? payload : {};
  } catch (error) {
    return { body: data.text() };
  }
}

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', (event) => {
  const payload = readPayload(event.data);
  const tag = text(payload.tag, '');
  const options = {
    body: text(payload.body, ''),
    icon: ICON_URL,
    data: { url: sameSiteUrl(payload.url), id: payload.id === undefined ? null : payload.id },
  };
  if (tag) {
    options.tag = tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(text(payload.title, DEFAULT_TITLE), options));
});

function withoutHash(href) {
  const url = new URL(href);
  url.hash = '';
  return url.href;
}

async function focusOrOpen(target) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const client of windows) {
    if (withoutHash(client.url) === withoutHash(target) && 'focus' in client) {
      return client.focus();
    }
  }
  return self.clients.openWindow(target);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(focusOrOpen(sameSiteUrl(data.url)));
});
