// End-to-end tests of the agent's page (web/): a real `crmlog serve` on a temp store, driven
// in Debian's chromium through playwright-core (never a downloaded browser). One test per
// point of the page's issue, walking the product's story: a call comes in, the agent types
// notes during it, it ends, it is logged with the notes and the recording link; an unknown
// number becomes a placeholder contact; a shared number is resolved by picking one; a second
// log of the same call is impossible.
//
//   node tests/web/run.mjs path/to/crmlog
//
// Screenshots of each view at 360 and 1280 px go to $CRMLOG_SCREENSHOTS (default
// <repo>/build/screenshots). Prints TAP lines; exits 1 when a test fails.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const bin = resolve(process.argv[2] || join(repo, 'build', 'crmlog'));
const shots = process.env.CRMLOG_SCREENSHOTS || join(repo, 'build', 'screenshots');
const CHROMIUM = '/usr/bin/chromium';

const tmp = mkdtempSync(join(tmpdir(), 'crmlog-web-'));
const db = join(tmp, 'web.db');
mkdirSync(shots, { recursive: true });

let server = null;
let context = null;

function cleanup() {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  server = null;
}
process.on('exit', () => {
  cleanup();
  try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(1); });

// ---------- the server and its API ----------

function cli(...args) {
  return execFileSync(bin, ['--db', db, ...args], { encoding: 'utf8' }).trim();
}

function startServer() {
  return new Promise((ok, fail) => {
    const p = spawn(bin, ['--db', db, 'serve', '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CRMLOG_RECORDING_WAIT_S: '2' },
    });
    server = p;
    let out = '';
    const timer = setTimeout(() => fail(new Error('crmlog serve did not start: ' + out)), 15000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /crmlog serving on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    p.stderr.on('data', (d) => {
      if (process.env.CRMLOG_WEB_VERBOSE) process.stderr.write(d);
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error('crmlog serve exited with ' + code + ': ' + out));
    });
  });
}

let base = '';

async function http(tok, method, path, body, type = 'application/json') {
  const headers = { Authorization: 'Bearer ' + tok };
  let data;
  if (body !== undefined) {
    headers['Content-Type'] = type;
    data = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + path, { method, headers, body: data });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

let eventsToken = '';
async function event(ev) {
  const r = await http(eventsToken, 'POST', '/api/v1/events', ev);
  assert.equal(r.status, 202, 'event accepted: ' + r.text);
  return r.json.call_id;
}

function callEvent(kind, session, number, who, extra = {}) {
  return event({
    event: 'call.' + kind, session_id: session, direction: 'inbound', from: number,
    to: '+16505550100', ...who, ...extra,
  });
}

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + ' (last: ' + (last && last.message || JSON.stringify(last)) + ')');
    await new Promise((r) => setTimeout(r, 150));
  }
}

// ---------- the browser ----------

async function newPage(width = 1280) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height: 820 });
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => { page.jsErrors = (page.jsErrors || []).concat(e.message); });
  await page.goto(base + '/');
  return page;
}

async function signIn(page, tok) {
  await page.getByLabel('API token').fill(tok);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#app').waitFor({ state: 'visible' });
  await page.locator('#calls[aria-busy=false]').waitFor();
}

async function shot(page, name) {
  const vp = page.viewportSize();
  for (const w of [360, 1280]) {
    await page.setViewportSize({ width: w, height: w === 360 ? 740 : 820 });
    await page.waitForTimeout(120);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${w}px scrolls sideways by ${overflow}px`);
    await page.screenshot({ path: join(shots, `${name}-${w}.png`), fullPage: true });
  }
  await page.setViewportSize(vp);
}

function row(page, id) {
  return page.locator(`#calls button[data-id="${id}"]`);
}

async function openCall(page, id) {
  await until('call ' + id + ' in the list', async () => (await row(page, id).count()) === 1);
  await row(page, id).click();
  await page.locator(`#detail[data-id="${id}"] #detail-h`).waitFor();
}

// ---------- the tests ----------

const T = {}; // tokens by user
const tests = [];
const only = process.env.CRMLOG_WEB_ONLY ? new RegExp(process.env.CRMLOG_WEB_ONLY) : null;
const test = (name, fn) => { if (!only || only.test(name)) tests.push({ name, fn }); };

test('1 sign in with a token, kept for the session, cleared by sign-out', async () => {
  const res = await fetch(base + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
  for (const [p, type] of [['/app.js', /^text\/javascript/], ['/app.css', /^text\/css/]]) {
    const r = await fetch(base + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), type, p);
    assert.equal(r.headers.get('cache-control'), 'no-cache', p);
  }
  const page = await newPage();
  await page.getByLabel('API token').fill('crml_not_a_real_token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That token was not accepted').waitFor();
  assert.equal(await page.getByLabel('API token').inputValue(), 'crml_not_a_real_token', 'typed token kept');
  await shot(page, 'signin');
  await signIn(page, T.agent);
  assert.equal(await page.locator('#who').textContent(), 'agent');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('crmlog.token')), T.agent);
  await page.reload();
  await page.locator('#app').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#who').textContent(), 'agent', 'still signed in after a reload');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('crmlog.token')), null, 'token cleared');
  assert.ok(await page.locator('#app').isHidden());
  await page.reload();
  await page.getByLabel('API token').waitFor();
  assert.ok(await page.locator('#app').isHidden(), 'signed out after a reload');
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('2 calls tab: history newest first, contact or bare number, filters, live updates', async () => {
  const page = await newPage();
  await signIn(page, T.agent);
  const api = (await http(T.agent, 'GET', '/api/v1/calls?limit=50')).json.calls;
  const ids = await page.locator('#calls button[data-id]').evaluateAll((bs) => bs.map((b) => Number(b.dataset.id)));
  assert.deepEqual(ids, api.map((c) => c.id), 'rows in the API order (newest first)');
  const alice = api.find((c) => c.session_id === 'demo-session-0');
  const text = await row(page, alice.id).innerText();
  for (const s of ['Alice Johnson', 'Inbound call', '4:05', 'Accepted', 'Recording', 'Unlogged']) {
    assert.ok(text.toLowerCase().includes(s.toLowerCase()), `row shows ${s}: ${text}`);
  }
  const shared = api.find((c) => c.number === '+16505550123');
  const st = await row(page, shared.id).innerText();
  assert.ok(st.includes('+1 650-555-0123') && st.includes('2 contacts'), 'several matches: bare number: ' + st);
  const unknown = api.find((c) => c.number === '+16505550199');
  assert.ok((await row(page, unknown.id).innerText()).includes('+1 650-555-0199'), 'no match: bare number');
  const sms = api.find((c) => c.type === 'sms');
  assert.ok((await row(page, sms.id).innerText()).includes(sms.text), 'SMS shows its text');

  // filters: log one call first so "Logged" has something
  const priya = api.find((c) => c.number === '+16505550142');
  assert.equal((await http(T.agent, 'POST', `/api/v1/calls/${priya.id}/log`, { association_id: '2' })).status, 202);
  await until('priya logged', async () => (await http(T.agent, 'GET', `/api/v1/calls/${priya.id}`)).json.status === 'logged');
  await page.getByRole('button', { name: 'Logged', exact: true }).click();
  await until('logged filter', async () => {
    const got = await page.locator('#calls button[data-id]').evaluateAll((bs) => bs.map((b) => Number(b.dataset.id)));
    return got.length === 1 && got[0] === priya.id;
  });
  assert.equal(await page.getByRole('button', { name: 'Logged', exact: true }).getAttribute('aria-pressed'), 'true');
  await page.getByRole('button', { name: 'Unlogged', exact: true }).click();
  await until('unlogged filter', async () => {
    const badges = await page.locator('#calls .badge').allInnerTexts();
    return badges.length > 3 && badges.every((b) => /unlogged/i.test(b));
  });
  await page.getByRole('button', { name: 'All', exact: true }).click();
  await until('all filter', async () => (await page.locator('#calls li').count()) === api.length);

  // a new call shows up without a reload
  const id = await callEvent('ended', 'live-new-1', '+16505550142', { user: 'agent' }, { duration: 75, answered: true });
  await until('the new call at the top', async () =>
    (await page.locator('#calls button[data-id]').first().getAttribute('data-id')) === String(id), 6000);
  assert.ok((await row(page, id).innerText()).includes('Priya Patel'));
  await shot(page, 'calls');
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('2b 10,000 calls page smoothly with a bounded DOM', async () => {
  const lines = [];
  const t0 = Date.now() - 86400000 * 30;
  for (let i = 0; i < 10000; i++) {
    const start = new Date(t0 + i * 60000).toISOString();
    const num = '+1650' + String(2000000 + i).padStart(7, '0');
    lines.push(JSON.stringify({
      id: 'B' + i, sessionId: 'bulk-' + i, startTime: start, duration: i % 600, type: 'Voice',
      direction: i % 2 ? 'Outbound' : 'Inbound', action: 'Phone Call', result: 'Call connected',
      from: i % 2 ? { phoneNumber: '+16505550100' } : { phoneNumber: num },
      to: i % 2 ? { phoneNumber: num } : { phoneNumber: '+16505550100' },
    }));
  }
  const imp = await http(T.bulk, 'POST', '/api/v1/import', lines.join('\n') + '\n', 'application/x-ndjson');
  assert.equal(imp.status, 200, imp.text);
  assert.equal(imp.json.added, 10000);
  const page = await newPage();
  const t1 = Date.now();
  await signIn(page, T.bulk);
  await until('first page', async () => (await page.locator('#calls li').count()) === 50);
  const first = Date.now() - t1;
  const times = [];
  let prevTop = await page.locator('#calls button[data-id]').first().getAttribute('data-id');
  for (let i = 0; i < 8; i++) {
    const t = Date.now();
    await page.getByRole('button', { name: 'Older ›' }).click();
    await until('page ' + (i + 2), async () =>
      (await page.locator('#calls button[data-id]').first().getAttribute('data-id')) !== prevTop);
    prevTop = await page.locator('#calls button[data-id]').first().getAttribute('data-id');
    times.push(Date.now() - t);
    assert.equal(await page.locator('#calls li').count(), 50, 'the DOM holds one page');
  }
  assert.equal(await page.locator('#page-info').textContent(), 'Page 9');
  await page.getByRole('button', { name: '‹ Newer' }).click();
  await until('page 8', async () => (await page.locator('#page-info').textContent()) === 'Page 8');
  await page.getByRole('button', { name: '« Newest' }).click();
  await until('page 1', async () => (await page.locator('#page-info').textContent()) === 'Page 1');
  const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
  assert.ok(nodes < 2000, 'DOM stays small: ' + nodes + ' elements');
  const worst = Math.max(...times);
  console.log(`# 10,000 calls: first page ${first} ms (sign-in included), page turns max ${worst} ms`);
  assert.ok(worst < 1500, 'a page turn takes ' + worst + ' ms');
  await page.close();
});

let story = {}; // the story's call, shared by tests 3 and 4

test('3 active call: notes saved as typed, seen after a reload and in a second tab, then in the log form', async () => {
  const page = await newPage();
  await signIn(page, T.agent);
  story.session = 'story-1';
  story.id = await callEvent('ringing', story.session, '+16505550101', { user: 'agent' });
  await callEvent('answered', story.session, '+16505550101', { user: 'agent' }, { recording: { pending: true } });
  await page.locator('#active').waitFor({ state: 'visible' });
  assert.ok((await page.locator('#active-who').innerText()).includes('Alice Johnson'));
  const notes = page.getByLabel('Notes', { exact: true });
  await notes.click();
  await page.keyboard.type('Wants a quote by Friday.', { delay: 15 });
  await page.locator('#active-saved').getByText('Saved').waitFor();
  const c = (await http(T.agent, 'GET', `/api/v1/calls/${story.id}`)).json;
  assert.equal(c.status, 'active');
  assert.equal(c.note, 'Wants a quote by Friday.', 'saved on the server while the call is active');
  await shot(page, 'active-call');

  await page.reload();
  await page.locator('#active').waitFor({ state: 'visible' });
  await until('note after reload', async () => (await page.locator('#active-note').inputValue()) === 'Wants a quote by Friday.');

  const second = await newPage();
  await signIn(second, T.agent);
  await second.locator('#active').waitFor({ state: 'visible' });
  await until('note in a second tab', async () => (await second.locator('#active-note').inputValue()) === 'Wants a quote by Friday.');
  await second.close();

  await page.locator('#active-note').click();
  await page.keyboard.type(' Send pricing.', { delay: 15 });
  await page.locator('#active-saved').getByText('Saved').waitFor();
  await callEvent('ended', story.session, '+16505550101', { user: 'agent' }, {
    answered: true, duration: 187, recording: { url: 'https://pbx.example.com/rec/story-1.mp3' },
  });
  await page.locator('#active').waitFor({ state: 'hidden' });
  await until('the log form opens by itself', async () =>
    (await page.locator('#detail-h').isVisible()) && (await page.locator('#detail').getAttribute('hidden')) === null);
  assert.ok((await page.locator('#detail-h').innerText()).includes('Alice Johnson'));
  assert.equal(await page.locator('#log-note').inputValue(), 'Wants a quote by Friday. Send pricing.',
    'the notes are in the log form');
  story.page = page;
  assert.deepEqual(page.jsErrors || [], []);
});

test('4 log form: notes, recording, fields, placeholder contact, pick a contact, pick a deal; logged calls read-only, never twice', async () => {
  const page = story.page;
  // the call of the story: the disposition the CRM declares, the one deal picked by itself
  const disp = page.getByLabel('Disposition');
  const choices = await disp.locator('option').allInnerTexts();
  assert.deepEqual(choices.slice(1), ['connected', 'left voicemail', 'no answer', 'busy', 'wrong number']);
  assert.ok((await page.locator('#detail').innerText()).includes('Acme renewal'));
  assert.equal(await page.getByRole('link', { name: /Listen/ }).getAttribute('href'), 'https://pbx.example.com/rec/story-1.mp3');
  await disp.selectOption('connected');
  await shot(page, 'log-form');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  const where = await page.locator('.logged-box .where').innerText();
  const c = (await http(T.agent, 'GET', `/api/v1/calls/${story.id}`)).json;
  assert.equal(c.status, 'logged');
  assert.equal(where, `Alice Johnson · Acme renewal · CRM activity ${c.log_id}`);
  const acts = (await http(T.agent, 'GET', '/api/v1/activities?contact_id=1')).json.activities;
  const act = acts.find((a) => a.id === c.log_id);
  assert.ok(act.body.includes('Notes: Wants a quote by Friday. Send pricing.'), act.body);
  assert.ok(act.body.includes('Recording: https://pbx.example.com/rec/story-1.mp3'), act.body);
  assert.deepEqual(act.fields, { disposition: 'connected' });
  await shot(page, 'logged');

  // opened again, it is read-only and says where to change it; a second log is refused
  await page.getByRole('button', { name: 'Back to the calls' }).click();
  await openCall(page, story.id);
  assert.ok((await page.locator('#detail').innerText()).includes('can be changed in the CRM only'));
  assert.equal(await page.locator('#detail textarea, #detail select, #detail button[type=submit]').count(), 0);
  const again = await http(T.agent, 'POST', `/api/v1/calls/${story.id}/log`, {});
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, 'already_logged');
  assert.equal((await http(T.agent, 'GET', '/api/v1/activities')).json.activities.filter((a) => a.session_id === 'story-1').length, 1);

  // a call from an unknown number: a placeholder contact with the name typed
  const calls = (await http(T.agent, 'GET', '/api/v1/calls?status=unlogged&limit=100')).json.calls;
  const unknown = calls.find((x) => x.number === '+16505550199');
  await openCall(page, unknown.id);
  await page.getByLabel('New contact name').fill('Dana Whitfield');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  assert.match(await page.locator('.logged-box .where').innerText(), /^Dana Whitfield · CRM activity/);
  const dana = (await http(T.agent, 'GET', '/api/v1/contacts?number=%2B16505550199')).json.contacts;
  assert.deepEqual(dana.map((x) => x.name), ['Dana Whitfield']);

  // a number two contacts share: pick one
  const shared = calls.find((x) => x.number === '+16505550123');
  await openCall(page, shared.id);
  const pick = page.getByLabel(/^Contact \(2 share this number\)/);
  const names = (await pick.locator('option').allInnerTexts()).slice(1);
  assert.equal(names.length, 2);
  await pick.selectOption({ label: names[1] });
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  assert.match(await page.locator('.logged-box .where').innerText(), new RegExp('^' + names[1] + ' ·'));

  // a contact with several deals: pick one
  const morgan = await http(T.agent, 'POST', '/api/v1/contacts', {
    name: 'Morgan Lee', phones: ['(650) 555-0177'], associations: ['Website redesign', 'Support renewal'],
  });
  assert.equal(morgan.status, 201, morgan.text);
  const mid = await callEvent('ended', 'deal-1', '+16505550177', { user: 'agent' }, { answered: true, duration: 30 });
  await openCall(page, mid);
  const deal = page.getByLabel(/^Deal/);
  assert.deepEqual((await deal.locator('option').allInnerTexts()).slice(1), ['Website redesign', 'Support renewal']);
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.getByText('Fill in “Deal (this contact has several)” first.').waitFor();
  await deal.selectOption({ label: 'Support renewal' });
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  assert.match(await page.locator('.logged-box .where').innerText(), /^Morgan Lee · Support renewal · CRM activity/);
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('5 unresolved tab: count, reasons in plain words, resolved in place', async () => {
  const page = await newPage();
  await signIn(page, T.carol);
  assert.ok(await page.locator('#tab-unresolved').isHidden(), 'no tab while nothing is unresolved');
  await http(T.carol, 'PUT', '/api/v1/settings', { auto_log: 'on' });
  const who = { extension: '205' };
  const a = await callEvent('ended', 'un-1', '+16505550188', who, { answered: true, duration: 20 });
  const b = await callEvent('ended', 'un-2', '+16505550123', who, { answered: true, duration: 40 });
  const c = await callEvent('ended', 'un-3', '+16505550142', who, { answered: true, duration: 60 });
  const tab = page.getByRole('tab', { name: /Unresolved/ });
  await until('three unresolved', async () => (await page.locator('#unresolved-count').textContent()) === '3' && await tab.isVisible());
  await tab.click();
  const item = (id) => page.locator(`#unresolved li[data-id="${id}"]`);
  assert.ok((await item(a).innerText()).includes('No contact found for this number'));
  assert.ok((await item(b).innerText()).includes('Several contacts share this number'));
  assert.ok((await item(c).innerText()).includes('Several deals for this contact'));
  await shot(page, 'unresolved');

  await item(a).getByLabel('New contact name').fill('Evan Brooks');
  await item(a).getByRole('button', { name: 'Create and log' }).click();
  await item(a).getByText(/Logged to Evan Brooks/).waitFor();
  const contact = item(b).getByLabel('Log to contact');
  const first = (await contact.locator('option').allInnerTexts())[1];
  await contact.selectOption({ label: first });
  await item(b).getByRole('button', { name: 'Log', exact: true }).click();
  await item(b).getByText('Logged to ' + first).waitFor();
  await item(c).getByLabel('Log to deal').selectOption({ label: 'Globex rollout' });
  await item(c).getByRole('button', { name: 'Log', exact: true }).click();
  await item(c).getByText(/Logged to Priya Patel · Globex rollout/).waitFor();
  await until('queue empty', async () => (await page.locator('#unresolved-count').textContent()) === '0');
  assert.equal((await http(T.carol, 'GET', '/api/v1/unresolved')).json.unresolved.length, 0);
  for (const id of [a, b, c]) assert.equal((await http(T.carol, 'GET', `/api/v1/calls/${id}`)).json.status, 'logged');
  await page.getByRole('tab', { name: /Calls/ }).click();
  await until('tab hidden again', () => page.locator('#tab-unresolved').isHidden());
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('6 review: "only open the log form" opens the ended call\'s form, prefilled, and waits', async () => {
  const page = await newPage();
  await signIn(page, T.rev);
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.getByLabel('Log calls and SMS automatically').check();
  await page.getByText('Saved.').waitFor();
  await page.getByLabel('Only open the log form').check();
  await until('both saved', async () => {
    const s = (await http(T.rev, 'GET', '/api/v1/settings')).json;
    return s.auto_log === 'on' && s.auto_log_form_only === 'on';
  });
  await page.getByRole('tab', { name: 'Calls' }).click();
  const who = { extension: '206' };
  // typed during the call, then the form opens on its own
  const id = await callEvent('answered', 'rev-1', '+16505550101', who);
  await page.locator('#active').waitFor({ state: 'visible' });
  await page.locator('#active-note').fill('Renewal in March.');
  await page.locator('#active-saved').getByText('Saved').waitFor();
  await callEvent('ended', 'rev-1', '+16505550101', who, { answered: true, duration: 90 });
  await until('form opened in review', async () =>
    (await page.locator('#detail .badge').textContent().catch(() => '')) === 'Review');
  assert.equal(await page.locator('#log-note').inputValue(), 'Renewal in March.');
  assert.ok((await page.locator('#detail').innerText()).includes('Ready for review'));
  // a call that ended without the page seeing it ring opens too
  await page.getByRole('button', { name: 'Back to the calls' }).click();
  const id2 = await callEvent('ended', 'rev-2', '+16505550101', who, { answered: true, duration: 15 });
  await page.locator(`#detail[data-id="${id2}"] #detail-h`).waitFor();
  assert.equal(await page.locator('#detail .badge').textContent(), 'Review');
  await shot(page, 'review');
  await page.waitForTimeout(1500);
  assert.equal((await http(T.rev, 'GET', `/api/v1/calls/${id2}`)).json.status, 'review', 'waits for the agent');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  await openCall(page, id);
  assert.equal(await page.locator('#detail .badge').textContent(), 'Review');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  const acts = (await http(T.rev, 'GET', '/api/v1/activities')).json.activities;
  assert.ok(acts.find((a) => a.session_id === 'rev-1').body.includes('Renewal in March.'));
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('7 settings: auto-log, form only, three phone formats with live preview, region; saved at once', async () => {
  const page = await newPage();
  await signIn(page, T.agent);
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.getByLabel('Only open the log form').check();
  await until('form only saved', async () => (await http(T.agent, 'GET', '/api/v1/settings')).json.auto_log_form_only === 'on');
  await page.getByLabel('Only open the log form').uncheck();
  await until('form only off', async () => (await http(T.agent, 'GET', '/api/v1/settings')).json.auto_log_form_only === 'off');
  assert.equal(await page.locator('input.fmt').count(), 3, 'up to three formats');
  await page.getByLabel('Format 1').fill('(***) ***-****');
  assert.equal(await page.locator('#fmt-0-preview').textContent(), '(650) 555-0123');
  await page.getByLabel('Format 2').pressSequentially('+1-***-***-****', { delay: 10 });
  assert.equal(await page.locator('#fmt-1-preview').textContent(), '+1-650-555-0123');
  await page.getByLabel('Format 3').fill('***.***.****');
  assert.equal(await page.locator('#fmt-2-preview').textContent(), '650.555.0123');
  await until('formats saved', async () => (await http(T.agent, 'GET', '/api/v1/settings')).json.phone_formats ===
    '(***) ***-****,+1-***-***-****,***.***.****');
  await page.getByLabel('Region').fill('gb');
  await until('region saved', async () => (await http(T.agent, 'GET', '/api/v1/settings')).json.region === 'GB');
  await page.getByText('Saved.').waitFor();
  await shot(page, 'settings');
  await page.reload();
  await page.getByRole('tab', { name: 'Settings' }).click();
  assert.equal(await page.getByLabel('Format 2').inputValue(), '+1-***-***-****');
  assert.equal(await page.getByLabel('Region').inputValue(), 'GB');
  assert.equal(await page.getByLabel('Log calls and SMS automatically').isChecked(), false);
  await page.getByLabel('Region').fill('US');
  await until('region back', async () => (await http(T.agent, 'GET', '/api/v1/settings')).json.region === 'US');
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('8 errors in words, never JSON; nothing typed is lost when a save fails', async () => {
  const page = await newPage();
  await signIn(page, T.agent);
  // a real refusal from the server
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.getByLabel('Region').fill('ZZ');
  const msg = page.locator('#settings-saved');
  await until('region refused', async () => /^Not saved: /.test(await msg.textContent()));
  const refused = await msg.textContent();
  assert.ok(!/[{}"]/.test(refused), 'no JSON: ' + refused);
  assert.equal(await page.getByLabel('Region').inputValue(), 'ZZ', 'typed value kept');
  assert.equal((await http(T.agent, 'GET', '/api/v1/settings')).json.region, 'US', 'nothing saved');
  await page.getByLabel('Region').fill('US');
  await until('region ok', async () => (await msg.textContent()) === 'Saved.');

  // a log that fails: the store is down (503 from the API), then a proxy's HTML error page
  await page.getByRole('tab', { name: 'Calls' }).click();
  const calls = (await http(T.agent, 'GET', '/api/v1/calls?status=unlogged&limit=100')).json.calls;
  const target = calls.find((c) => c.type === 'call' && c.contact && c.contact.name === 'Alice Johnson');
  await openCall(page, target.id);
  await page.route('**/api/v1/calls/*/note', (r) => r.fulfill({
    status: 500, contentType: 'application/json',
    body: JSON.stringify({ error: { code: 'internal', message: 'out of memory' } }),
  }));
  await page.locator('#log-note').fill('Call back Tuesday.');
  await page.getByText('Notes not saved: Out of memory.').waitFor();
  await page.unroute('**/api/v1/calls/*/note');
  await page.route('**/api/v1/calls/*/log', (r) => r.fulfill({
    status: 503, contentType: 'application/json',
    body: JSON.stringify({ error: { code: 'unavailable', message: 'the store does not answer; try again' } }),
  }));
  await page.getByLabel('Disposition').selectOption('left voicemail');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.getByText('Not logged: The store does not answer; try again.').waitFor();
  await page.unroute('**/api/v1/calls/*/log');
  await page.route('**/api/v1/calls/*/log', (r) => r.fulfill({
    status: 502, contentType: 'text/html', body: '<html><body>Bad gateway</body></html>',
  }));
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.getByText(/Not logged: The server had a problem \(502\)/).waitFor();
  await shot(page, 'error');
  await page.unroute('**/api/v1/calls/*/log');
  assert.equal(await page.locator('#log-note').inputValue(), 'Call back Tuesday.', 'notes kept');
  assert.equal(await page.getByLabel('Disposition').inputValue(), 'left voicemail', 'choice kept');
  const shown = await page.locator('body').innerText();
  assert.ok(!shown.includes('"error"') && !shown.includes('{"'), 'no raw JSON on the page');
  await page.getByRole('button', { name: 'Save log' }).click();
  await page.locator('.logged-box').waitFor();
  const act = (await http(T.agent, 'GET', '/api/v1/activities')).json.activities.find((a) => a.session_id === target.session_id);
  assert.ok(act.body.includes('Notes: Call back Tuesday.'), act.body);
  assert.equal(act.fields.disposition, 'left voicemail');

  // the server cannot be reached: said in words, and the page keeps going when it is back
  await page.route('**/api/v1/calls?*', (r) => r.abort('connectionrefused'));
  await page.getByRole('alert').getByText('cannot be reached').waitFor();
  await page.unroute('**/api/v1/calls?*');
  await page.locator('#alert').waitFor({ state: 'hidden' });
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

test('9 keyboard, screen-reader labels, 360 px and desktop', async () => {
  const page = await newPage(360);
  // sign in with the keyboard only: the token box has the focus from the start
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token');
  await page.keyboard.type(T.agent);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible' });
  await page.locator('#calls li').first().waitFor();
  // tabs: arrows move and select
  const visible = await page.locator('#tabs [role=tab]:visible').evaluateAll((ts) => ts.map((t) => t.id));
  await page.getByRole('tab', { name: 'Calls' }).focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.id), visible[1]);
  await page.keyboard.press('End');
  assert.equal(await page.getByRole('tab', { name: 'Settings' }).getAttribute('aria-selected'), 'true');
  assert.ok(await page.getByRole('tabpanel', { name: 'Settings' }).isVisible());
  await page.keyboard.press('Home');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-calls');
  await page.keyboard.press('End');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-settings');
  await page.keyboard.press('ArrowLeft');
  assert.ok(await page.getByRole('tabpanel', { name: 'Calls' }).isVisible());
  // a call opens with Enter and closes with Escape, focus going where it should
  const firstRow = page.locator('#calls button[data-id]').first();
  const rid = await firstRow.getAttribute('data-id');
  await firstRow.focus();
  await page.keyboard.press('Enter');
  await page.locator('#detail-h').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'detail-h');
  assert.ok(await page.locator('#list-side').isHidden(), 'one column at 360 px');
  await page.keyboard.press('Escape');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), rid);
  // every control has a name a screen reader can say; live regions exist
  for (const tab of ['Calls', 'Settings']) {
    await page.getByRole('tab', { name: tab }).click();
    const unnamed = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea, button'))
      .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
      .map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, [], 'unnamed controls on ' + tab);
  }
  assert.ok(await page.locator('[aria-live]').count() >= 3);
  assert.equal(await page.getByRole('tablist').count(), 1);
  // readable at both widths: no sideways scrolling, text not tiny
  for (const w of [360, 1280]) {
    await page.setViewportSize({ width: w, height: 800 });
    for (const tab of ['Calls', 'Settings']) {
      await page.getByRole('tab', { name: tab }).click();
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(over <= 0, `${tab} at ${w}px overflows by ${over}px`);
      const small = await page.evaluate(() => Math.min(...Array.from(document.querySelectorAll('#main *'))
        .filter((e) => e.offsetParent !== null && e.childNodes.length && e.textContent.trim())
        .map((e) => parseFloat(getComputedStyle(e).fontSize))));
      assert.ok(small >= 11, `smallest text at ${w}px is ${small}px`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole('tab', { name: 'Calls' }).click();
  await firstRow.click();
  await page.locator('#detail-h').waitFor();
  assert.ok(await page.locator('#list-side').isVisible(), 'list and form side by side on a desktop');
  assert.deepEqual(page.jsErrors || [], []);
  await page.close();
});

// ---------- run ----------

async function main() {
  cli('demo');
  T.agent = JSON.parse(cli('users', 'token', 'agent', '--json')).token;
  T.bulk = JSON.parse(cli('users', 'add', 'bulk', '--json')).token;
  T.carol = JSON.parse(cli('users', 'add', 'carol', '--extension', '205', '--json')).token;
  T.rev = JSON.parse(cli('users', 'add', 'rev', '--extension', '206', '--json')).token;
  eventsToken = cli('events', 'token');
  base = await startServer();
  const userDataDir = mkdtempSync(join(tmp, 'chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    viewport: { width: 1280, height: 820 },
  });
  console.log('TAP version 13');
  console.log('1..' + tests.length);
  let failed = 0;
  let n = 0;
  for (const t of tests) {
    n++;
    const t0 = Date.now();
    try {
      await t.fn();
      console.log(`ok ${n} - ${t.name} # ${Date.now() - t0} ms`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} - ${t.name}`);
      console.log('  ---\n  ' + String(e && e.stack || e).split('\n').slice(0, 8).join('\n  ') + '\n  ...');
      for (const p of context.pages()) {
        await p.screenshot({ path: join(shots, `FAILED-${n}.png`), fullPage: true }).catch(() => {});
        await p.close().catch(() => {});
      }
    }
  }
  console.log(`# ${tests.length - failed}/${tests.length} passed; screenshots in ${shots}`);
  return failed;
}

let code = 1;
try {
  code = (await main()) ? 1 : 0;
} catch (e) {
  console.log('not ok - setup: ' + (e && e.stack || e));
} finally {
  if (context) await context.close().catch(() => {});
  if (server) {
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
  }
}
process.exit(code);
