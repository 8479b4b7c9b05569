// crmlog's agent page: plain JavaScript over the JSON API v1 (docs/api.md), no framework,
// no build step. Every piece of server data is put in the page as text (textContent,
// never innerHTML), and the Content-Security-Policy forbids inline code anyway.
'use strict';

const TOKEN_KEY = 'crmlog.token';
const PAGE_SIZE = 50;          // calls per page: the DOM never holds more rows than this
const POLL_MS = 2000;          // the API has no push: new calls show up within this
const NOTE_DEBOUNCE_MS = 300;
const SETTINGS_DEBOUNCE_MS = 500;
const SAMPLE_NUMBER = '6505550123';

const REASONS = {
  no_contact: 'No contact found for this number',
  multiple_contacts: 'Several contacts share this number',
  multiple_associations: 'Several deals for this contact',
};
const STATUS_LABEL = {
  active: 'Active', unlogged: 'Unlogged', logged: 'Logged', unresolved: 'Unresolved',
  review: 'Review',
};

const $ = (id) => document.getElementById(id);

// ---------- small DOM helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function announce(text) {
  const a = $('announce');
  a.textContent = '';
  // a fresh text node makes screen readers speak the same message twice in a row too
  setTimeout(() => { a.textContent = text; }, 20);
}

function showAlert(text) {
  $('alert-text').textContent = text;
  $('alert').hidden = false;
}

function clearAlert() {
  $('alert').hidden = true;
  $('alert-text').textContent = '';
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = sessionStorage.getItem(TOKEN_KEY) || '';

// The server's {error:{code,message}} becomes an ApiError with its message in words;
// nothing else (a proxy's HTML page, a dropped connection) ever reaches the agent raw.
async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The crmlog server cannot be reached. Check your connection; the page keeps trying.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  if (res.ok) return data;
  const msg = data && data.error && typeof data.error.message === 'string' ? data.error.message : '';
  const code = data && data.error && data.error.code ? data.error.code : 'http_' + res.status;
  if (res.status === 401 && token && state.me) {
    signOut('Your sign-in is no longer valid. Sign in again with your API token.');
  }
  throw new ApiError(res.status, code, msg ? sentence(msg) : fallbackMessage(res.status));
}

function sentence(s) {
  s = s.trim();
  if (!s) return s;
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

function fallbackMessage(status) {
  if (status === 401) return 'That token was not accepted. Check it and try again.';
  if (status === 404) return 'That call no longer exists for you.';
  if (status === 413) return 'That is too long to save.';
  if (status >= 500) return 'The server had a problem (' + status + '). Try again in a moment.';
  return 'The server refused this (' + status + ').';
}

// ---------- formatting ----------

function fmtNumber(n) {
  if (!n) return '';
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(n);
  return m ? '+1 ' + m[1] + '-' + m[2] + '-' + m[3] : n;
}

// The contact's name, or the bare number when no contact or several matched.
function callTitle(c) {
  if (c.contact && c.contact.name) return c.contact.name;
  if (c.internal) return c.extension ? 'Extension ' + c.extension : 'Internal call';
  if (c.number) return fmtNumber(c.number);
  return c.name ? c.name + ' (number withheld)' : 'Number withheld';
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((today - day) / 86400000);
  if (days === 0) return 'Today ' + time;
  if (days === 1) return 'Yesterday ' + time;
  const opts = { month: 'short', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString([], opts) + ', ' + time;
}

function fmtDuration(s) {
  s = Math.max(0, Math.floor(s || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return (h ? h + ':' : '') + mm + ':' + String(sec).padStart(2, '0');
}

function dirLabel(c) {
  const kind = c.type === 'sms' ? 'SMS' : 'call';
  return (c.direction === 'inbound' ? 'Inbound ' : 'Outbound ') + kind;
}

function dirIcon(c) {
  return el('span', {
    class: 'dir ' + (c.direction === 'inbound' ? 'in' : 'out') + (c.type === 'sms' ? ' sms' : ''),
    'aria-hidden': 'true',
    text: c.type === 'sms' ? '✉' : c.direction === 'inbound' ? '↙' : '↗',
  });
}

function badge(status) {
  return el('span', { class: 'badge ' + status, text: STATUS_LABEL[status] || status });
}

// Fills each '*' of a mask with the next digit of the sample number.
function previewMask(mask) {
  let i = 0;
  let out = '';
  for (const ch of mask) {
    if (ch === '*') out += i < SAMPLE_NUMBER.length ? SAMPLE_NUMBER[i++] : '*';
    else out += ch;
  }
  return out;
}

// ---------- state ----------

const state = {
  me: null,
  settings: null,
  fields: null,
  filter: '',
  cursors: [null],   // cursors[i] is the `before` of page i
  page: 0,
  next: null,
  listSig: '',
  detailId: null,
  detailBusy: false,
  active: null,       // the active call shown in the panel
  unresolvedIds: new Set(),
  reviewSeen: new Set(),
  pollTimer: null,
  polling: false,
  connectionLost: false,
};

// ---------- notes: saved as the agent types ----------

// One saver per call: debounced PUTs, one at a time, the latest text always wins.
const noteSavers = new Map();

function noteSaver(callId) {
  let s = noteSavers.get(callId);
  if (s) return s;
  s = {
    text: null, saved: null, timer: null, inflight: null, listeners: new Set(), error: '',
    set(text) {
      this.text = text;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.flush(), NOTE_DEBOUNCE_MS);
      this.emit('Saving…');
    },
    async flush() {
      clearTimeout(this.timer);
      this.timer = null;
      while (this.inflight) await this.inflight.catch(() => {});
      if (this.text === null || this.text === this.saved) return true;
      const text = this.text;
      this.inflight = api('PUT', '/calls/' + callId + '/note', { text });
      try {
        await this.inflight;
        this.saved = text;
        this.error = '';
        this.emit(this.text === text ? 'Saved' : 'Saving…');
        return true;
      } catch (e) {
        this.error = 'Notes not saved: ' + e.message;
        this.emit(this.error, true);
        return false;
      } finally {
        this.inflight = null;
      }
    },
    pending() { return this.text !== null && this.text !== this.saved; },
    emit(msg, bad) { for (const f of this.listeners) f(msg, !!bad); },
  };
  noteSavers.set(callId, s);
  return s;
}

function bindNote(callId, textarea, statusEl, initial) {
  const s = noteSaver(callId);
  if (s.saved === null) s.saved = initial || '';
  textarea.value = s.pending() ? s.text : (initial || '');
  const show = (msg, bad) => {
    statusEl.textContent = msg;
    statusEl.classList.toggle('bad', bad);
  };
  s.listeners.add(show);
  textarea.addEventListener('input', () => s.set(textarea.value));
  return () => s.listeners.delete(show);
}

// ---------- sign in / out ----------

async function signIn(t) {
  token = t;
  const me = await api('GET', '/me');
  sessionStorage.setItem(TOKEN_KEY, t);
  state.me = me;
  await start();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = '';
  state.me = null;
  clearInterval(state.pollTimer);
  state.pollTimer = null;
  noteSavers.clear();
  state.reviewSeen.clear();
  state.unresolvedIds.clear();
  state.active = null;
  state.detailId = null;
  state.listSig = '';
  $('calls').textContent = '';
  $('unresolved').textContent = '';
  $('detail').textContent = '';
  $('app').hidden = true;
  $('who').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('token').value = '';
  clearAlert();
  $('signin-error').textContent = message || '';
  $('token').focus();
}

async function start() {
  clearAlert();
  $('signin').hidden = true;
  $('app').hidden = false;
  $('who').textContent = state.me.name;
  $('who').hidden = false;
  $('signout').hidden = false;
  const [settings, fields] = await Promise.all([
    api('GET', '/settings'),
    api('GET', '/fields').catch(() => ({ fields: [] })),
  ]);
  state.settings = settings;
  state.fields = fields.fields || [];
  fillSettings();
  selectTab('tab-calls', false);
  await poll();
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(poll, POLL_MS);
}

// ---------- polling ----------

async function poll() {
  if (state.polling || !token) return;
  state.polling = true;
  try {
    await Promise.all([refreshCalls(), refreshActive(), refreshUnresolved(), refreshReview()]);
    if (state.connectionLost) {
      state.connectionLost = false;
      clearAlert();
    }
  } catch (e) {
    if (token && e.status !== 401) {
      state.connectionLost = true;
      showAlert(e.message);
    }
  } finally {
    state.polling = false;
  }
}

// ---------- calls list ----------

async function refreshCalls() {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.filter) q.set('status', state.filter);
  const before = state.cursors[state.page];
  if (before) q.set('before', before);
  const sig0 = state.filter + '|' + state.page;
  const data = await api('GET', '/calls?' + q);
  if (sig0 !== state.filter + '|' + state.page) return; // the agent moved on meanwhile
  state.next = data.next;
  const sig = sig0 + '|' + JSON.stringify(data.calls);
  if (sig !== state.listSig) {
    state.listSig = sig;
    renderCalls(data.calls);
  }
  $('older').disabled = !data.next;
  $('newer').disabled = state.page === 0;
  $('newest').hidden = state.page < 2;
  $('page-info').textContent = data.calls.length ? 'Page ' + (state.page + 1) : '';
  $('calls').setAttribute('aria-busy', 'false');
}

function callRow(c) {
  const meta = [
    el('span', { class: 'meta-dir' }, dirIcon(c), el('span', { text: dirLabel(c) })),
    el('span', { text: fmtTime(c.start_time) }),
  ];
  if (c.status === 'active') {
    meta.push(el('span', { text: 'In progress' }));
  } else if (c.type === 'call') {
    meta.push(el('span', { text: fmtDuration(c.duration), title: 'Duration' }));
    if (c.result) meta.push(el('span', { text: c.result }));
    if (c.recording) meta.push(el('span', { class: 'rec', text: '● Recording' }));
  }
  const title = el('span', { class: 'title' }, el('span', { class: 'name', text: callTitle(c) }));
  if (!c.contact && c.matches > 1) {
    title.append(el('span', { class: 'sub', text: c.matches + ' contacts' }));
  }
  const btn = el('button', {
    type: 'button', class: 'call-row', 'data-id': c.id,
    'aria-current': state.detailId === c.id ? 'true' : null,
    onclick: () => openDetail(c.id),
  },
  el('span', { class: 'row1' }, title, badge(c.status)),
  el('span', { class: 'row2' }, meta),
  c.type === 'sms' && c.text ? el('span', { class: 'row3', text: c.text }) : null,
  c.note ? el('span', { class: 'row3 note', text: c.note }) : null);
  return el('li', { 'data-id': c.id }, btn);
}

function renderCalls(calls) {
  const list = $('calls');
  const focused = document.activeElement && list.contains(document.activeElement)
    ? document.activeElement.getAttribute('data-id') : null;
  list.replaceChildren(...calls.map(callRow));
  $('calls-empty').hidden = calls.length > 0;
  if (focused) {
    const b = list.querySelector('button[data-id="' + CSS.escape(focused) + '"]');
    if (b) b.focus();
  }
}

function setFilter(f) {
  state.filter = f;
  state.cursors = [null];
  state.page = 0;
  state.listSig = '';
  for (const b of document.querySelectorAll('.filters .chip')) {
    b.setAttribute('aria-pressed', String(b.dataset.filter === f));
  }
  $('calls').setAttribute('aria-busy', 'true');
  refreshCalls().catch((e) => showAlert(e.message));
}

async function goPage(delta) {
  if (delta > 0) {
    if (!state.next) return;
    state.cursors[state.page + 1] = state.next;
    state.page++;
  } else if (delta < 0) {
    if (state.page === 0) return;
    state.page--;
  } else {
    state.page = 0;
  }
  state.cursors.length = state.page + 1;
  state.listSig = '';
  try {
    await refreshCalls();
    $('list-side').scrollIntoView({ block: 'nearest' });
    const first = $('calls').querySelector('button');
    if (first && delta) first.focus();
  } catch (e) {
    showAlert(e.message);
  }
}

// ---------- active call ----------

async function refreshActive() {
  const data = await api('GET', '/calls?status=active&limit=10');
  const calls = data.calls.filter((c) => c.type === 'call');
  const c = calls[0] || null;
  const prev = state.active;
  if (!c) {
    state.active = null;
    $('active').hidden = true;
    if (prev) await activeEnded(prev);
    return;
  }
  if (!prev || prev.id !== c.id) {
    if (prev) await activeEnded(prev);
    state.active = c;
    if (state.activeUnbind) state.activeUnbind();
    state.activeUnbind = bindNote(c.id, $('active-note'), $('active-saved'), c.note);
    $('active-saved').textContent = '';
  } else {
    state.active = c;
    // a note typed in another tab shows here, unless the agent is typing in this one
    const ta = $('active-note');
    const s = noteSaver(c.id);
    if (document.activeElement !== ta && !s.pending() && (c.note || '') !== ta.value) {
      ta.value = c.note || '';
      s.saved = c.note || '';
    }
  }
  $('active-who').replaceChildren(
    dirIcon(c), ' ', el('strong', { text: callTitle(c) }),
    el('span', { class: 'muted', text: ' · ' + dirLabel(c) + (c.number && c.contact ? ' · ' + fmtNumber(c.number) : '') }));
  $('active-more').hidden = calls.length < 2;
  $('active-more').textContent = calls.length > 1 ? (calls.length - 1) + ' more active call(s) in the list below.' : '';
  tickTimer();
  $('active').hidden = false;
}

function tickTimer() {
  const c = state.active;
  if (!c) return;
  const s = (Date.now() - new Date(c.start_time).getTime()) / 1000;
  $('active-timer').textContent = fmtDuration(s);
}
setInterval(tickTimer, 1000);

// The call ended: its notes go with it into the log form, which opens by itself.
async function activeEnded(c) {
  if (state.activeUnbind) state.activeUnbind();
  state.activeUnbind = null;
  const s = noteSaver(c.id);
  await s.flush();
  if (state.detailId !== null && state.detailId !== c.id && detailDirty()) return;
  announce('The call with ' + callTitle(c) + ' ended.');
  if (state.settings && state.settings.auto_log === 'on') {
    // the auto-logger decides within a second: open the form on what it decided
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const now = await api('GET', '/calls/' + c.id).catch(() => null);
      if (!now || (now.status !== 'unlogged' && now.status !== 'active' && !now.queued)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (state.settings && state.settings.auto_log_form_only === 'on') state.reviewSeen.add(c.id);
  await openDetail(c.id, { quiet: true });
}

// ---------- review: "only open the log form" ----------

async function refreshReview() {
  if (!state.settings || state.settings.auto_log_form_only !== 'on') return;
  const data = await api('GET', '/calls?status=review&limit=10');
  const fresh = data.calls.filter((c) => !state.reviewSeen.has(c.id));
  for (const c of fresh) state.reviewSeen.add(c.id);
  if (!fresh.length) return;
  if (state.detailId !== null && detailDirty()) return;
  if (fresh.some((c) => c.id === state.detailId)) return;
  const c = fresh[0];
  announce('A call with ' + callTitle(c) + ' is ready for review.');
  await openDetail(c.id, { quiet: true });
}

// ---------- the log form ----------

let detailUnbind = null;
let detailBaseline = '';

function detailDirty() {
  const form = $('detail').querySelector('form');
  if (!form) return false;
  return formSnapshot(form) !== detailBaseline;
}

function formSnapshot(form) {
  return Array.from(form.elements).filter((e) => e.name && e.name !== 'note')
    .map((e) => e.name + '=' + e.value).join('&');
}

async function openDetail(id, opts = {}) {
  let c;
  try {
    c = await api('GET', '/calls/' + id);
  } catch (e) {
    showAlert(e.message);
    return;
  }
  if (document.querySelector('[role=tab][aria-selected=true]').id !== 'tab-calls') {
    selectTab('tab-calls', false);
  }
  state.detailId = c.id;
  for (const b of $('calls').querySelectorAll('button[data-id]')) {
    if (String(b.dataset.id) === String(c.id)) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
  }
  await renderDetail(c);
  $('panel-calls').classList.add('has-detail');
  $('detail').hidden = false;
  $('detail-placeholder').hidden = true;
  if (!opts.quiet || !document.activeElement || document.activeElement === document.body) {
    $('detail-h').focus();
  }
}

function closeDetail() {
  const id = state.detailId;
  if (detailUnbind) detailUnbind();
  detailUnbind = null;
  state.detailId = null;
  $('detail').hidden = true;
  $('detail').textContent = '';
  delete $('detail').dataset.id;
  $('detail-placeholder').hidden = false;
  $('panel-calls').classList.remove('has-detail');
  const b = $('calls').querySelector('button[data-id="' + CSS.escape(String(id)) + '"]');
  if (b) {
    b.removeAttribute('aria-current');
    b.focus();
  }
}

function detailHeader(c) {
  const facts = el('dl', { class: 'facts' });
  const add = (k, v) => { if (v !== null && v !== undefined && v !== '') facts.append(el('dt', { text: k }), el('dd', {}, v)); };
  add('Direction', dirLabel(c));
  add('Time', fmtTime(c.start_time));
  if (c.type === 'call') {
    add('Duration', fmtDuration(c.duration));
    add('Result', c.result || (c.status === 'active' ? 'In progress' : ''));
  }
  add('Number', c.number ? fmtNumber(c.number) : c.internal ? 'Internal' : 'Withheld');
  if (c.recording) {
    add('Recording', el('a', { href: c.recording, target: '_blank', rel: 'noopener noreferrer', text: 'Listen ↗' }));
  }
  return [
    el('div', { class: 'detail-top' },
      el('button', { type: 'button', class: 'ghost back', onclick: closeDetail, 'aria-label': 'Back to the calls' }, '‹ Calls'),
      badge(c.status)),
    el('h2', { id: 'detail-h', tabindex: '-1' }, dirIcon(c), ' ', callTitle(c)),
    facts,
    c.past_retention ? el('p', { class: 'hint warn', text: 'This call is older than 90 days: its recording link may no longer work.' }) : null,
    c.type === 'sms' && c.text ? el('blockquote', { class: 'sms-text', text: c.text }) : null,
  ];
}

async function contactsFor(number) {
  if (!number) return [];
  const data = await api('GET', '/contacts?number=' + encodeURIComponent(number));
  return data.contacts || [];
}

// Where a logged call went: the contact, the association and the CRM activity.
async function loggedWhere(c) {
  const parts = [];
  if (c.contact) parts.push(c.contact.name);
  if (c.association) parts.push(c.association.name);
  if (c.log_id) parts.push('CRM activity ' + c.log_id);
  return parts.join(' · ');
}

async function renderDetail(c) {
  if (detailUnbind) detailUnbind();
  detailUnbind = null;
  const box = $('detail');
  const parts = detailHeader(c).filter(Boolean);

  if (c.status === 'logged') {
    const where = await loggedWhere(c);
    parts.push(
      el('div', { class: 'logged-box' },
        el('p', { class: 'ok-text' }, el('strong', { text: 'Logged' }), ' to ', el('span', { class: 'where', text: where })),
        c.note ? el('div', {}, el('h3', { text: 'Notes' }), el('p', { class: 'readonly-note', text: c.note })) : null,
        el('p', { class: 'hint', text: 'This call is logged. It can be changed in the CRM only.' })));
    box.replaceChildren(...parts);
    box.dataset.id = String(c.id);
    return;
  }
  if (c.internal) {
    parts.push(el('p', { class: 'hint', text: 'Internal call between extensions: crmlog does not log these.' }));
    box.replaceChildren(...parts);
    box.dataset.id = String(c.id);
    return;
  }

  const form = el('form', { class: 'log-form', novalidate: true, 'aria-labelledby': 'detail-h' });
  if (c.status === 'unresolved' && c.reason) {
    form.append(el('p', { class: 'reason' }, el('strong', { text: REASONS[c.reason] || c.reason }), '. Choose below to log it.'));
  }
  if (c.status === 'review') {
    form.append(el('p', { class: 'reason review', text: 'Ready for review: check the log and save it.' }));
  }
  if (c.error) {
    form.append(el('p', { class: 'error', text: 'The last log attempt failed: ' + sentence(c.error) }));
  }

  // notes (calls only: an SMS is logged with its text)
  if (c.type === 'call') {
    const ta = el('textarea', { id: 'log-note', name: 'note', rows: '5', 'aria-describedby': 'log-note-saved' });
    const saved = el('p', { class: 'saved', id: 'log-note-saved', 'aria-live': 'polite' });
    form.append(el('div', { class: 'field' }, el('label', { for: 'log-note', text: 'Notes' }), ta, saved));
    detailUnbind = bindNote(c.id, ta, saved, c.note);
  }

  // the contact: one, several to pick from, or none (a placeholder is created)
  const contactBox = el('div', { class: 'contact-box' });
  form.append(contactBox);
  let contacts = [];
  try {
    contacts = await contactsFor(c.number);
  } catch (e) {
    contacts = [];
  }
  const assocBox = el('div', { class: 'assoc-box' });
  const showAssoc = (ct) => {
    assocBox.replaceChildren();
    const as = ct ? ct.associations || [] : [];
    if (as.length === 1) {
      assocBox.append(el('p', { class: 'plain' }, el('span', { class: 'k', text: 'Deal' }), ' ', as[0].name));
    } else if (as.length > 1) {
      const sel = el('select', { id: 'log-assoc', name: 'association_id', required: true },
        el('option', { value: '', text: 'Choose a deal…' }),
        as.map((a) => el('option', { value: a.id, text: a.name })));
      assocBox.append(el('div', { class: 'field' }, el('label', { for: 'log-assoc', text: 'Deal (this contact has several)' }), sel));
    }
  };
  if (c.status === 'active') {
    contactBox.append(el('p', { class: 'plain' }, el('span', { class: 'k', text: 'Contact' }), ' ', c.contact ? c.contact.name : '—'));
  } else if (c.contact) {
    contactBox.append(el('p', { class: 'plain' }, el('span', { class: 'k', text: 'Contact' }), ' ', c.contact.name));
    showAssoc(contacts.find((x) => String(x.id) === String(c.contact.id)) || null);
  } else if (contacts.length > 1) {
    const sel = el('select', { id: 'log-contact', name: 'contact_id', required: true },
      el('option', { value: '', text: 'Choose a contact…' }),
      contacts.map((x) => el('option', { value: x.id, text: x.name })));
    sel.addEventListener('change', () => showAssoc(contacts.find((x) => String(x.id) === sel.value) || null));
    contactBox.append(el('div', { class: 'field' },
      el('label', { for: 'log-contact', text: 'Contact (' + contacts.length + ' share this number)' }), sel));
  } else if (contacts.length === 1) {
    // matched since the call came in
    contactBox.append(el('input', { type: 'hidden', name: 'contact_id', value: contacts[0].id }),
      el('p', { class: 'plain' }, el('span', { class: 'k', text: 'Contact' }), ' ', contacts[0].name));
    showAssoc(contacts[0]);
  } else if (c.number) {
    contactBox.append(el('div', { class: 'field' },
      el('label', { for: 'log-new-contact', text: 'New contact name' }),
      el('input', { id: 'log-new-contact', name: 'new_contact', type: 'text', required: true, autocomplete: 'off', 'aria-describedby': 'log-new-contact-hint' }),
      el('p', { class: 'hint', id: 'log-new-contact-hint', text: 'No contact has ' + fmtNumber(c.number) + '. A contact with this name and number is created in the CRM.' })));
  } else {
    contactBox.append(el('div', { class: 'field' },
      el('label', { for: 'log-contact-id', text: 'CRM contact id' }),
      el('input', { id: 'log-contact-id', name: 'contact_id', type: 'text', required: true, autocomplete: 'off', 'aria-describedby': 'log-contact-id-hint' }),
      el('p', { class: 'hint', id: 'log-contact-id-hint', text: 'The number was withheld: give the id of the CRM contact to log it to.' })));
  }
  form.append(assocBox);

  // the connector's declared fields
  if (c.type === 'call') {
    for (const f of state.fields || []) {
      const id = 'log-field-' + f.name;
      let input;
      if (Array.isArray(f.choices)) {
        input = el('select', { id, name: 'field:' + f.name, required: f.required || null },
          el('option', { value: '', text: f.required ? 'Choose…' : '—' }),
          f.choices.map((ch) => el('option', { value: ch, text: ch })));
      } else {
        input = el('input', { id, name: 'field:' + f.name, type: 'text', required: f.required || null });
      }
      form.append(el('div', { class: 'field' }, el('label', { for: id, text: f.label || f.name }), input));
    }
  }

  const msg = el('p', { class: 'form-msg', id: 'log-msg', role: 'status', 'aria-live': 'polite' });
  const save = el('button', { type: 'submit', class: 'primary', id: 'log-save' }, 'Save log');
  if (c.status === 'active') {
    save.disabled = true;
    msg.textContent = 'The call is still in progress: log it when it ends.';
  }
  form.append(el('div', { class: 'actions' }, save), msg);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitLog(c, form, msg, save);
  });
  parts.push(form);
  box.replaceChildren(...parts);
  box.dataset.id = String(c.id);
  detailBaseline = formSnapshot(form);
}

function readForm(c, form) {
  const body = {};
  const fields = {};
  for (const e of form.elements) {
    if (!e.name) continue;
    const v = e.value.trim();
    if (e.name === 'note') body.note = e.value;
    else if (e.name.startsWith('field:')) { if (v) fields[e.name.slice(6)] = v; }
    else if (v) body[e.name] = v;
  }
  if (Object.keys(fields).length) body.fields = fields;
  return body;
}

function firstMissing(form) {
  for (const e of form.elements) {
    if (e.required && !e.value.trim()) return e;
  }
  return null;
}

async function submitLog(c, form, msg, save) {
  const missing = firstMissing(form);
  msg.classList.remove('bad');
  if (missing) {
    const label = form.querySelector('label[for="' + missing.id + '"]');
    msg.textContent = 'Fill in “' + (label ? label.textContent : missing.name) + '” first.';
    msg.classList.add('bad');
    missing.setAttribute('aria-invalid', 'true');
    missing.focus();
    return;
  }
  for (const e of form.elements) e.removeAttribute('aria-invalid');
  const body = readForm(c, form);
  save.disabled = true;
  msg.textContent = 'Saving…';
  try {
    const saver = noteSaver(c.id);
    clearTimeout(saver.timer); // the log carries the note itself
    if (body.note !== undefined) saver.text = body.note;
    const path = c.status === 'unresolved'
      ? '/unresolved/' + c.id + '/resolve' : '/calls/' + c.id + '/log';
    await api('POST', path, body);
    if (body.note !== undefined) saver.saved = body.note;
    msg.textContent = 'Logging…';
    const done = await waitLogged(c.id);
    if (done.status === 'logged') {
      announce('Logged.');
      if (state.detailId === c.id) {
        await renderDetail(done);
        const w = $('detail').querySelector('.logged-box');
        if (w) w.setAttribute('role', 'status');
        $('detail-h').focus();
      }
      poll();
      return;
    }
    msg.classList.add('bad');
    if (done.error) msg.textContent = 'Not logged: ' + sentence(done.error);
    else if (done.status === 'unresolved') msg.textContent = 'Not logged: ' + (REASONS[done.reason] || done.reason) + '. Make a choice and save again.';
    else msg.textContent = 'The log is still queued; it will be written shortly.';
  } catch (e) {
    msg.classList.add('bad');
    msg.textContent = 'Not logged: ' + e.message;
  } finally {
    save.disabled = false;
  }
}

// POST …/log only queues: the worker writes the CRM within milliseconds.
async function waitLogged(id) {
  const until = Date.now() + 20000;
  let c;
  for (;;) {
    c = await api('GET', '/calls/' + id);
    if (!c.queued && (c.status === 'logged' || c.status === 'unresolved' || c.error)) return c;
    if (!c.queued && Date.now() > until - 15000) return c;
    if (Date.now() > until) return c;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------- unresolved ----------

async function refreshUnresolved() {
  const data = await api('GET', '/unresolved');
  const items = data.unresolved || [];
  const list = $('unresolved');
  const ids = new Set(items.map((u) => String(u.call.id)));
  // Keyed: an item the agent is working in is never re-rendered under their fingers, and one
  // they resolved here stays with its "Logged to …" until they leave the tab.
  for (const li of Array.from(list.children)) {
    if (!ids.has(li.dataset.id) && !li.dataset.keep) li.remove();
  }
  let prev = null;
  for (const u of items) {
    let li = list.querySelector('li[data-id="' + CSS.escape(String(u.call.id)) + '"]');
    if (!li) li = unresolvedItem(u);
    if (prev ? prev.nextSibling !== li : list.firstChild !== li) {
      if (prev) prev.after(li);
      else list.prepend(li);
    }
    prev = li;
  }
  const n = items.length;
  $('unresolved-count').textContent = String(n);
  const tab = $('tab-unresolved');
  const selected = tab.getAttribute('aria-selected') === 'true';
  tab.hidden = n === 0 && !selected;
  tab.setAttribute('aria-label', 'Unresolved, ' + n + (n === 1 ? ' call' : ' calls'));
  $('unresolved-empty').hidden = n > 0;
}

function unresolvedItem(u) {
  const c = u.call;
  const id = c.id;
  const meta = [dirLabel(c), fmtTime(c.start_time)];
  if (c.type === 'call') meta.push(fmtDuration(c.duration));
  if (c.result) meta.push(c.result);
  const msg = el('p', { class: 'form-msg', role: 'status', 'aria-live': 'polite' });
  const form = el('form', { class: 'resolve', novalidate: true });
  const cand = u.candidates || [];
  let input = null;
  let label = '';
  let key = '';
  if (u.reason === 'no_contact' && c.number) {
    key = 'new_contact';
    label = 'New contact name';
    input = el('input', { id: 'res-' + id, type: 'text', autocomplete: 'off', required: true });
  } else if (u.reason === 'multiple_contacts' || u.reason === 'multiple_associations') {
    key = u.reason === 'multiple_contacts' ? 'contact_id' : 'association_id';
    label = u.reason === 'multiple_contacts' ? 'Log to contact' : 'Log to deal';
    input = el('select', { id: 'res-' + id, required: true },
      el('option', { value: '', text: u.reason === 'multiple_contacts' ? 'Choose a contact…' : 'Choose a deal…' }),
      cand.map((x) => el('option', { value: x.id, text: x.name })));
  }
  const save = el('button', { type: 'submit', class: 'primary' }, key === 'new_contact' ? 'Create and log' : 'Log');
  if (input) {
    form.append(el('label', { for: 'res-' + id, text: label }), el('div', { class: 'inline' }, input, save));
  }
  form.append(msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.classList.remove('bad');
    const v = input ? input.value.trim() : '';
    if (!v) {
      msg.textContent = (key === 'new_contact' ? 'Type the contact’s name' : 'Make a choice') + ' first.';
      msg.classList.add('bad');
      input.focus();
      return;
    }
    save.disabled = true;
    msg.textContent = 'Logging…';
    form.closest('li').dataset.keep = '1';
    try {
      await api('POST', '/unresolved/' + id + '/resolve', { [key]: v });
      const done = await waitLogged(id);
      if (done.status === 'logged') {
        const where = await loggedWhere(done);
        announce('Logged to ' + where + '.');
        msg.textContent = 'Logged to ' + where + '.';
        setTimeout(() => poll(), 600);
        return;
      }
      msg.classList.add('bad');
      msg.textContent = 'Not logged: ' + (done.error ? sentence(done.error) : REASONS[done.reason] || 'try again.');
    } catch (e) {
      msg.classList.add('bad');
      msg.textContent = 'Not logged: ' + e.message;
    } finally {
      save.disabled = false;
    }
  });
  return el('li', { class: 'card unresolved-item', 'data-id': String(id) },
    el('div', { class: 'row1' },
      el('span', { class: 'title' }, dirIcon(c), ' ', el('span', { class: 'name', text: callTitle(c) })),
      el('button', { type: 'button', class: 'ghost small', onclick: () => openDetail(id) }, 'Open log form')),
    el('p', { class: 'muted', text: meta.join(' · ') }),
    el('p', { class: 'reason' }, el('strong', { text: REASONS[u.reason] || u.reason })),
    form);
}

// ---------- settings ----------

function fillSettings() {
  const s = state.settings;
  $('set-auto-log').checked = s.auto_log === 'on';
  $('set-form-only').checked = s.auto_log_form_only === 'on';
  const masks = (s.phone_formats || '').split(',').map((x) => x.trim()).filter(Boolean);
  for (let i = 0; i < 3; i++) {
    const input = $('fmt-' + i);
    if (document.activeElement !== input) input.value = masks[i] || '';
    updatePreview(i);
  }
  if (document.activeElement !== $('set-region')) $('set-region').value = s.region || '';
}

function updatePreview(i) {
  const v = $('fmt-' + i).value.trim();
  $('fmt-' + i + '-preview').textContent = v ? previewMask(v) : '';
}

let settingsTimer = null;

async function saveSettings(patch, input) {
  const out = $('settings-saved');
  out.classList.remove('bad');
  out.textContent = 'Saving…';
  try {
    state.settings = await api('PUT', '/settings', patch);
    out.textContent = 'Saved.';
    if (input) input.removeAttribute('aria-invalid');
    for (const e of document.querySelectorAll('#settings-form [aria-invalid]')) e.removeAttribute('aria-invalid');
    clearAlert();
  } catch (e) {
    // what the agent typed stays in the box; only the message says it was not kept
    out.classList.add('bad');
    out.textContent = 'Not saved: ' + e.message;
    if (input) input.setAttribute('aria-invalid', 'true');
  }
}

function formatsValue() {
  return [0, 1, 2].map((i) => $('fmt-' + i).value.trim()).filter(Boolean).join(',');
}

function bindSettings() {
  $('set-auto-log').addEventListener('change', (e) =>
    saveSettings({ auto_log: e.target.checked ? 'on' : 'off' }, e.target));
  $('set-form-only').addEventListener('change', (e) =>
    saveSettings({ auto_log_form_only: e.target.checked ? 'on' : 'off' }, e.target));
  for (let i = 0; i < 3; i++) {
    const input = $('fmt-' + i);
    input.addEventListener('input', () => {
      updatePreview(i);
      clearTimeout(settingsTimer);
      settingsTimer = setTimeout(() => saveSettings({ phone_formats: formatsValue() }, input), SETTINGS_DEBOUNCE_MS);
    });
  }
  const region = $('set-region');
  region.addEventListener('input', () => {
    const v = region.value.toUpperCase();
    if (v !== region.value) region.value = v;
    clearTimeout(settingsTimer);
    if (v.length === 2) settingsTimer = setTimeout(() => saveSettings({ region: v }, region), SETTINGS_DEBOUNCE_MS);
  });
  region.addEventListener('change', () => {
    clearTimeout(settingsTimer);
    saveSettings({ region: region.value.trim().toUpperCase() }, region);
  });
  $('settings-form').addEventListener('submit', (e) => e.preventDefault());
}

// ---------- tabs ----------

function tabs() {
  return Array.from(document.querySelectorAll('#tabs [role=tab]')).filter((t) => !t.hidden);
}

function selectTab(id, focus) {
  for (const t of document.querySelectorAll('#tabs [role=tab]')) {
    const on = t.id === id;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) $(id).focus();
  if (id === 'tab-settings' && state.settings) fillSettings();
  if (id === 'tab-unresolved') {
    $('tab-unresolved').hidden = false;
  } else {
    // Leaving the tab lets resolved items go at the next refresh.
    for (const li of document.querySelectorAll('#unresolved li[data-keep]')) delete li.dataset.keep;
    if (token && state.me) refreshUnresolved().catch(() => {});
  }
}

function bindTabs() {
  const list = $('tabs');
  list.addEventListener('click', (e) => {
    const t = e.target.closest('[role=tab]');
    if (t) selectTab(t.id, true);
  });
  list.addEventListener('keydown', (e) => {
    const all = tabs();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') j = (i + 1) % all.length;
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') j = (i - 1 + all.length) % all.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = all.length - 1;
    if (j === null) return;
    e.preventDefault();
    selectTab(all[j].id, true);
  });
}

// ---------- start ----------

function init() {
  bindTabs();
  bindSettings();
  $('alert-close').addEventListener('click', clearAlert);
  $('signout').addEventListener('click', () => signOut('You are signed out.'));
  for (const b of document.querySelectorAll('.filters .chip')) {
    b.addEventListener('click', () => setFilter(b.dataset.filter));
  }
  $('older').addEventListener('click', () => goPage(1));
  $('newer').addEventListener('click', () => goPage(-1));
  $('newest').addEventListener('click', () => goPage(0));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.detailId !== null && !$('detail').hidden) closeDetail();
  });
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    const err = $('signin-error');
    if (!t) {
      err.textContent = 'Paste your API token first.';
      $('token').focus();
      return;
    }
    err.textContent = '';
    $('signin-button').disabled = true;
    try {
      await signIn(t);
    } catch (ex) {
      token = '';
      sessionStorage.removeItem(TOKEN_KEY);
      $('app').hidden = true;
      $('signin').hidden = false;
      err.textContent = ex.status === 401
        ? 'That token was not accepted. Check it and try again (crmlog users token NAME gives a new one).'
        : ex.message;
      $('token').setAttribute('aria-invalid', 'true');
      $('token').focus();
    } finally {
      $('signin-button').disabled = false;
    }
  });
  if (token) {
    api('GET', '/me').then((me) => {
      state.me = me;
      return start();
    }).catch((e) => {
      if (token) {
        $('signin').hidden = false;
        $('signin-error').textContent = e.message;
      }
    });
  } else {
    $('signin').hidden = false;
    $('token').focus();
  }
}

init();
