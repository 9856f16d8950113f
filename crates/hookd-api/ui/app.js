// hookd's live event view of one application: /ui/app/{app}?token=hkat.…
//
// It follows GET /api/v1/app/{app}/stream (Server-Sent Events) with the application token
// from its own address, shows every event as it arrives, and says how the connection is:
// connecting, catching up, live, reconnecting (with the reason the server gave when it
// ended the stream) or refused (with the server's answer). EventSource resumes by itself
// after a dropped connection, sending the last event id it saw (Last-Event-ID), so the
// server replays exactly what was missed. When the server answers with an error instead,
// EventSource gives up; the page then asks the server why (a long-poll probe), stops if the
// token or address is refused, and otherwise opens a new stream after its last cursor.
//
// Rules: the page never asks for, stores or sends an admin token (only hkat.… tokens are
// used), and every value from the server is shown as text (textContent), never as HTML.
'use strict';

(() => {
  const MAX_SHOWN = 500;
  const MAX_RETRY_SECONDS = 30;

  const params = new URLSearchParams(window.location.search);
  const token = params.get('token') || '';
  const appId = decodeURIComponent(window.location.pathname.split('/')[3] || '');
  const connection = document.getElementById('connection');
  const list = document.getElementById('events');
  const empty = document.getElementById('empty');
  const count = document.getElementById('event-count');

  const state = {
    cursor: params.get('after'),
    reason: null,
    failures: 0,
    shown: 0,
  };

  document.getElementById('app-id').textContent = appId;

  function setConnection(name, text) {
    connection.dataset.state = name;
    connection.textContent = text;
  }

  function apiPath(route, query) {
    return `/api/v1/app/${encodeURIComponent(appId)}/${route}?${query}`;
  }

  function streamQuery() {
    const query = new URLSearchParams();
    query.set('token', token);
    if (state.cursor) query.set('after', state.cursor);
    for (const name of ['event_types', 'channels']) {
      for (const value of params.getAll(name)) query.append(name, value);
    }
    return query;
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  function formatTime(timestamp) {
    const date = new Date(timestamp);
    if (Number.isNaN(date.getTime())) return String(timestamp);
    return date.toLocaleString(undefined, {
      year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    });
  }

  function textElement(tag, className, text) {
    const element = document.createElement(tag);
    element.className = className;
    element.textContent = text;
    return element;
  }

  function show(message) {
    const item = document.createElement('li');
    item.className = 'event';
    item.dataset.messageId = String(message.id);

    const head = document.createElement('div');
    head.className = 'event-head';
    const time = textElement('time', 'event-time', formatTime(message.timestamp));
    time.dateTime = String(message.timestamp);
    time.title = String(message.timestamp);
    head.append(
      time,
      textElement('span', 'event-type', String(message.eventType)),
      textElement('span', 'event-id', String(message.id)),
    );
    if (Array.isArray(message.channels) && message.channels.length > 0) {
      head.append(textElement('span', 'event-channels', message.channels.join(', ')));
    }
    const payload = textElement('pre', 'payload', JSON.stringify(message.payload, null, 2));
    item.append(head, payload);

    list.prepend(item);
    while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
    state.shown += 1;
    count.textContent = state.shown === 1 ? '1 event' : `${state.shown} events`;
    empty.hidden = true;
  }

  function connect() {
    const source = new EventSource(apiPath('stream', streamQuery()));

    source.onopen = () => setConnection('catching-up', 'connected, catching up…');

    source.addEventListener('ready', (event) => {
      if (event.lastEventId) state.cursor = event.lastEventId;
      state.reason = null;
      state.failures = 0;
      setConnection('live', 'live');
    });

    source.onmessage = (event) => {
      const message = parse(event.data);
      if (event.lastEventId) state.cursor = event.lastEventId;
      if (message) show(message);
    };

    // The server says why it ends a stream (shutting down, a slow client) right before
    // it does; the reason is shown while EventSource reconnects.
    source.addEventListener('closing', (event) => {
      const closing = parse(event.data) || {};
      if (closing.cursor) state.cursor = closing.cursor;
      state.reason = closing.detail || closing.code || 'the server ended the stream';
    });

    source.onerror = () => {
      if (source.readyState === EventSource.CONNECTING) {
        setConnection('reconnecting', `reconnecting: ${state.reason || 'the connection was lost'}`);
        return;
      }
      source.close();
      diagnose();
    };
  }

  // EventSource gave up: the server answered with an error status. A long-poll that does
  // not wait gets the same checks (token, application, cursor) and a readable answer.
  async function diagnose() {
    let answer;
    try {
      const query = streamQuery();
      query.set('wait', '0');
      query.set('limit', '1');
      const response = await fetch(apiPath('events', query), { cache: 'no-store' });
      const body = parse(await response.text()) || {};
      answer = { status: response.status, detail: body.detail || body.code || response.statusText };
    } catch (error) {
      answer = { status: 0, detail: 'the server cannot be reached' };
    }
    if ([400, 401, 403, 404, 422].includes(answer.status)) {
      setConnection('refused', `refused (${answer.status}): ${answer.detail}`);
      return;
    }
    state.failures += 1;
    const seconds = Math.min(MAX_RETRY_SECONDS, 2 ** (state.failures - 1));
    const reason = answer.status === 200 ? 'the stream was interrupted' : answer.detail;
    setConnection('reconnecting', `reconnecting in ${seconds} s: ${reason}`);
    window.setTimeout(connect, seconds * 1000);
  }

  if (!appId) {
    setConnection('refused', 'no application in the address: open /ui/app/APP?token=…');
  } else if (!token.startsWith('hkat.')) {
    // Never send anything else from a page: an admin token must not live in a URL.
    setConnection(
      'refused',
      'this page needs an application token (hkat.…) in ?token=; create one with '
        + '`hookd token create --app APP` or POST /api/v1/auth/app-portal-access/APP',
    );
  } else {
    connect();
  }
})();
