/* Shared page plumbing: calls to the node with every failure turned into a
 * sentence a clerk understands, the staff session (cookie + CSRF token),
 * the navigation bar, messages, and small formatting helpers. */

export const IDLE_WARNING_S = 60;

/* ---- HTML helpers ------------------------------------------------------- */

export function esc(v) {
  return String(v === undefined || v === null ? '' : v)
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function show(el, on = true) {
  const e = typeof el === 'string' ? $(el) : el;
  if (e) e.classList.toggle('d-none', !on);
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  return d.toLocaleString('en-IN', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function fmtDate(s) {
  if (!s) return '';
  const d = new Date(String(s).length === 10 ? s + 'T00:00:00' : s);
  if (Number.isNaN(d.getTime())) return esc(s);
  return d.toLocaleDateString('en-IN', { day: 'numeric', month: 'short', year: 'numeric' });
}

export function short(key, n = 8) {
  return key ? String(key).slice(0, n) + '\u2026' : '';
}

/* ---- messages ------------------------------------------------------------ */

/* Show a message in the page's alert area (#alerts): kind is success,
 * danger, warning or info. Returns the element. */
export function say(kind, text, opts = {}) {
  const box = $('#alerts');
  const div = document.createElement('div');
  div.className = `alert alert-${kind} alert-dismissible fade show`;
  div.setAttribute('role', kind === 'danger' ? 'alert' : 'status');
  div.innerHTML = `${opts.html ? text : esc(text)}<button type="button" class="btn-close" data-bs-dismiss="alert" aria-label="Close"></button>`;
  div.querySelector('.btn-close').addEventListener('click', () => div.remove());
  if (box) {
    if (opts.replace !== false) box.querySelectorAll(`.alert-${kind}`).forEach((a) => a.remove());
    // A success supersedes earlier failures: do not leave stale errors up.
    if (kind === 'success') box.querySelectorAll('.alert-danger, .alert-warning').forEach((a) => a.remove());
    box.prepend(div);
    div.scrollIntoView({ block: 'nearest' });
  } else {
    document.body.prepend(div);
  }
  return div;
}

export function clearMessages() {
  const box = $('#alerts');
  if (box) box.innerHTML = '';
}

/* Put a button in a busy state while fn runs; errors are shown in words. */
export async function busy(button, fn) {
  const label = button ? button.innerHTML : '';
  if (button) {
    button.disabled = true;
    button.innerHTML = `<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>${label}`;
  }
  try {
    return await fn();
  } catch (e) {
    say('danger', friendly(e));
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.innerHTML = label;
    }
  }
}

/* ---- errors in words --------------------------------------------------- */

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const DENIAL_WORDS = {
  'consent expired': 'The patient\u2019s consent has expired. Ask the patient to grant access again in the patient portal.',
  'consent revoked': 'The patient has withdrawn (revoked) consent for this. Ask the patient if they want to grant access again.',
  'consent does not cover this record type': 'The patient\u2019s consent does not include this kind of record.',
  'consent does not cover this date': 'The patient\u2019s consent does not cover the date of this record.',
  'no consent covers this record': 'You do not have the patient\u2019s consent to read this record. Ask the patient to grant access, or open emergency access if the patient cannot consent.',
  'emergency window has expired': 'Your emergency access has expired.',
  'staff member is revoked': 'Your staff account has been revoked.',
  'hospital is suspended': 'Your hospital is suspended from the consortium.',
};

/* A sentence for any failure: network errors, the node's JSON errors,
 * libsodium/key file errors, and anything unexpected. */
export function friendly(e) {
  if (!e) return 'Something went wrong. Please try again.';
  if (e instanceof ApiError) {
    if (e.code === 'denied') {
      for (const [k, v] of Object.entries(DENIAL_WORDS)) if (e.message && e.message.includes(k)) return v;
      return `Access refused: ${e.message}`;
    }
    if (e.code === 'unavailable' || e.status === 503) {
      if (/custodian|hospital/i.test(e.message || ''))
        return `${e.message.replace(/\.$/, '')}. That hospital\u2019s records cannot be opened until it is back; the other records still show.`;
      return `The service is temporarily unavailable: ${e.message || 'please try again in a moment.'}`;
    }
    if (e.code === 'timeout' || e.status === 504) return 'The ledger did not confirm this in time. It may still go through: check again in a minute before retrying.';
    if (e.code === 'node_unreachable') return e.message;
    if (e.code === 'rejected') return `The ledger refused this (${e.body && e.body.verdict ? e.body.verdict.replace(/_/g, ' ') : 'rule not met'}). ${e.message || ''}`;
    if (e.code === 'too_big') return 'This is too large to send (over 1 MiB). Please use a smaller file.';
    return e.message || `The node refused the request (HTTP ${e.status}).`;
  }
  if (e.code === 'wrong_passphrase' || e.code === 'bad_keyfile' || e.code === 'bad_passphrase' || e.code === 'load_failed') return e.message;
  if (/dynamically imported module|Importing a module script failed/i.test(e.message || ''))
    return 'Part of this page could not be loaded. Reload the page; if it keeps happening, tell the hospital IT team.';
  if (e.name === 'TypeError' && /fetch|network/i.test(e.message)) return nodeUnreachable();
  return `Something went wrong: ${e.message || e}. Please try again, or reload the page.`;
}

function nodeUnreachable() {
  return 'The parcha node cannot be reached. Check the network connection, or ask the hospital IT team whether the node is running.';
}

/* ---- calls to the node -------------------------------------------------- */

let csrfToken = null;
export function setCsrf(t) { csrfToken = t; }

/* Call the node. Returns parsed JSON; throws ApiError with words. */
export async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const init = { method: opts.method || 'GET', headers, credentials: 'same-origin', cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  if (init.method !== 'GET' && path.startsWith('v1/ui/') && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(apiBase() + path, init);
  } catch (e) {
    throw new ApiError(0, 'node_unreachable', nodeUnreachable());
  }
  let body = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (res.ok) return body;
  const err = body && body.error ? body.error : null;
  if (res.status === 401 && err && (err.code === 'session_expired' || err.code === 'not_logged_in') && path.startsWith('v1/ui/') && !opts.noRedirect) {
    sessionStorage.setItem('parcha.logout_reason', err.message);
    location.href = 'login.html?next=' + encodeURIComponent(location.pathname.split('/').pop() || 'index.html');
  }
  throw new ApiError(res.status, err ? err.code : 'http_' + res.status,
    err ? err.message : (res.status >= 500 ? 'The node had a problem answering. Please try again in a moment.' : `The node refused the request (HTTP ${res.status}).`),
    body);
}

/* The API lives at the node's root whatever folder the page is served
 * from (/ or /ui/). */
export function apiBase() {
  return '/';
}

/* ---- staff session -------------------------------------------------------- */

let idleTimer = null;

/* The logged-in staff member, or redirect to the log-in page. roles limits
 * who may use the page. */
export async function requireStaff(roles) {
  let s;
  try {
    s = await api('v1/ui/session', { noRedirect: true });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      if (e.code === 'session_expired') sessionStorage.setItem('parcha.logout_reason', e.message);
      location.href = 'login.html?next=' + encodeURIComponent(location.pathname.split('/').pop() || 'index.html');
      return new Promise(() => {});
    }
    throw e;
  }
  setCsrf(s.csrf);
  renderUser(s.user);
  watchIdle(s.idle_timeout_s);
  if (roles && !roles.includes(s.user.role)) {
    say('warning', `This page is for ${roles.join(' or ')} staff. You are logged in as ${s.user.role}.`);
  }
  return s.user;
}

function renderUser(user) {
  const el = $('#whoami');
  if (el) {
    el.innerHTML = `<span class="me-2"><strong>${esc(user.name)}</strong> <span class="badge text-bg-light">${esc(user.role)}</span> <span class="text-white-50 small">${esc(user.hospital)}</span></span><button class="btn btn-sm btn-outline-light" id="logout">Log out</button>`;
    $('#logout').addEventListener('click', logout);
  }
}

export async function logout() {
  try {
    await api('v1/ui/logout', { method: 'POST', body: {}, noRedirect: true });
  } catch (_) { /* already gone */ }
  location.href = 'login.html';
}

/* Log out in the page too when the node's idle limit passes without
 * activity; warn a minute before. Activity = any click or key press. */
function watchIdle(idleS) {
  let last = Date.now();
  const bump = () => { last = Date.now(); };
  ['click', 'keydown', 'touchstart'].forEach((ev) => document.addEventListener(ev, bump, { passive: true }));
  let warned = null;
  clearInterval(idleTimer);
  idleTimer = setInterval(() => {
    const left = idleS - (Date.now() - last) / 1000;
    if (left <= 0) {
      clearInterval(idleTimer);
      sessionStorage.setItem('parcha.logout_reason', `You were logged out after ${idleS >= 120 ? Math.round(idleS / 60) + ' minutes' : idleS + ' seconds'} without activity. Please log in again.`);
      logout();
    } else if (left <= IDLE_WARNING_S && idleS > 2 * IDLE_WARNING_S && !warned) {
      warned = say('warning', 'You will be logged out in a minute because of inactivity. Click anywhere to stay logged in.');
    } else if (left > IDLE_WARNING_S && warned) {
      warned.remove();
      warned = null;
      api('v1/ui/session', { noRedirect: true }).catch(() => {});
    }
  }, Math.min(5000, Math.max(1000, idleS * 250)));
}

/* ---- page frame ------------------------------------------------------------ */

/* The navbar's menu button on narrow screens (tablets in portrait): a
 * few lines here instead of Bootstrap's 80 KB script. */
function navToggle() {
  const btn = document.querySelector('.navbar-toggler');
  const menu = document.querySelector('#nav');
  if (!btn || !menu) return;
  btn.addEventListener('click', () => {
    const open = menu.classList.toggle('show');
    btn.setAttribute('aria-expanded', String(open));
  });
}

/* Last-resort handlers: no blank pages, no raw errors. */
export function guardPage() {
  navToggle();
  window.addEventListener('error', (ev) => {
    say('danger', 'Something went wrong on this page. Please reload it. If it keeps happening, tell the hospital IT team.');
    console.error(ev.error || ev.message);
  });
  window.addEventListener('unhandledrejection', (ev) => {
    say('danger', friendly(ev.reason));
    console.error(ev.reason);
  });
}

/* Fill the node status badge in the navbar (#node-status). */
export async function nodeBadge() {
  const el = $('#node-status');
  if (!el) return null;
  try {
    const st = await api('v1/status');
    el.className = 'badge text-bg-success';
    el.textContent = `node online \u00b7 block ${st.height}`;
    el.title = `network ${st.network}, hospital ${st.hospital}`;
    return st;
  } catch (e) {
    el.className = 'badge text-bg-danger';
    el.textContent = 'node unreachable';
    say('danger', friendly(e));
    return null;
  }
}

let hospitalsCache = null;
export async function hospitals() {
  if (!hospitalsCache) hospitalsCache = await api('v1/hospitals');
  return hospitalsCache;
}
export async function hospitalName(id) {
  try {
    const h = (await hospitals()).find((x) => x.id === id);
    return h ? h.name : id;
  } catch (_) {
    return id;
  }
}

/* Trigger a download of text as a file. */
export function download(name, text, type = 'application/json') {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

/* Read a File as text / as an ArrayBuffer. */
export function readText(file) { return file.text(); }
export async function readBytes(file) { return new Uint8Array(await file.arrayBuffer()); }
