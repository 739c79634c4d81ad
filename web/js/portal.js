/* Patient portal. The patient's key file is opened here with their
 * passphrase and the key stays in this page's memory (never sent, never
 * stored). Records are read with RFC 9421 signed requests and decrypted
 * here; consents are granted and revoked with transactions signed here;
 * the access log shows who read what, when and on what basis. */
import * as P from './parcha.js';
import { $, $$, api, apiBase, busy, esc, fmtDate, fmtTime, friendly, guardPage, hospitals, nodeBadge, readText, say, show, ApiError } from './app.js';
import { applyFilter, custodianDown, fillTypeSelect, pool, printSummary, timelineHtml } from './timeline.js';

guardPage();
const status = await nodeBadge();
await P.ready();

let kp = null; // {pk, sk}: only in this page
let me = null; // {hid, key, patient}
let records = [];
const states = new Map();

/* ---- unlocking ----------------------------------------------------------- */

$('#unlock-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const file = $('#keyfile').files[0];
  const pass = $('#passphrase').value;
  if (!file) return say('warning', 'Choose your key file first.');
  if (!pass) return say('warning', 'Type your passphrase.');
  busy($('#unlock-btn'), async () => {
    let kf;
    try {
      kf = JSON.parse(await readText(file));
    } catch (_) {
      say('danger', 'This file is not a parcha key file. Choose the file you were given at registration.');
      return;
    }
    // Argon2id with the cost the file names: give the page a moment to
    // show the spinner first.
    await new Promise((r) => setTimeout(r, 30));
    const opened = P.keyfileOpen(kf, pass);
    $('#passphrase').value = '';
    kp = { pk: opened.pk, sk: opened.sk };
    const hid = P.healthId(kp.pk);
    let patient;
    try {
      patient = await api(`v1/patients/${hid}`);
    } catch (e) {
      P.keyWipe(kp);
      kp = null;
      if (e.status === 404) {
        say('warning', `This key (Health ID ${hid}) is not registered yet. Ask the registration desk.`);
        return;
      }
      throw e;
    }
    me = { hid, key: P.b64u(kp.pk), patient };
    $('#me-hid').textContent = hid;
    const hs = await hospitals();
    const h = hs.find((x) => x.id === patient.hospital);
    $('#me-facts').textContent = `Registered at ${h ? h.name : patient.hospital} on ${fmtDate(new Date(patient.time).toISOString().slice(0, 10))}`;
    show('#unlock', false);
    show('#me', true);
    say('success', `Welcome. Your records are opened in this page only; close it or press \u201cClose and forget my key\u201d when you are done.`);
    await Promise.all([loadRecords(), loadConsents(), loadLog()]);
  });
});

$('#me-lock').addEventListener('click', () => {
  if (kp) P.keyWipe(kp);
  kp = null;
  location.reload();
});
window.addEventListener('pagehide', () => { if (kp) P.keyWipe(kp); });

/* ---- tabs -------------------------------------------------------------- */

$$('[data-tab]').forEach((b) => b.addEventListener('click', () => {
  $$('[data-tab]').forEach((x) => x.classList.toggle('active', x === b));
  $$('.tab-pane-p').forEach((s) => show(s, s.id === 'tab-' + b.dataset.tab));
  if (b.dataset.tab === 'log') loadLog().catch((e) => say('danger', friendly(e)));
}));

/* ---- records ------------------------------------------------------------- */

/* GET with an RFC 9421 signature made with the patient's key. */
async function signedGet(path) {
  const headers = P.httpsigSign(kp, 'GET', path, '');
  let res;
  try {
    res = await fetch(apiBase() + path.replace(/^\//, ''), { headers, cache: 'no-store' });
  } catch (_) {
    throw new ApiError(0, 'node_unreachable', 'The parcha node cannot be reached. Check the network connection and try again.');
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const err = body && body.error;
    throw new ApiError(res.status, err ? err.code : 'http_' + res.status, err ? err.message : `The node refused the request (HTTP ${res.status}).`, body);
  }
  return body;
}

function draw() {
  const shown = applyFilter(records, { type: $('#f-type').value, from: $('#f-from').value, to: $('#f-to').value });
  $('#timeline-count').textContent = `${shown.length} of ${records.length} records, newest first`;
  $('#timeline').innerHTML = timelineHtml(shown, states, () => '');
}

async function loadRecords() {
  const tl = await api(`v1/patients/${me.hid}/timeline`);
  records = tl.records || [];
  states.clear();
  records.forEach((r) => states.set(r.id, { state: 'loading' }));
  draw();
  const down = new Set();
  await pool(records, 4, async (r) => {
    try {
      const answer = await signedGet(`/v1/records/${encodeURIComponent(r.id)}/content`);
      states.set(r.id, { state: 'open', fhir: P.openContent(answer, kp), basis: 'patient' });
    } catch (e) {
      const down503 = e instanceof ApiError && e.status === 503;
      if (down503) down.add(r.custodian_name || r.custodian);
      states.set(r.id, { state: 'error', message: down503 ? custodianDown(r) : friendly(e) });
    }
    draw();
  });
  if (down.size) say('warning', `Records kept by ${[...down].join(', ')} cannot be opened right now because that hospital\u2019s node is not reachable. Your other records are shown.`);
}

fillTypeSelect($('#f-type'));
['#f-type', '#f-from', '#f-to'].forEach((s) => $(s).addEventListener('change', draw));

$('#me-print').addEventListener('click', async () => {
  const hs = await hospitals();
  const h = hs.find((x) => x.id === me.patient.hospital);
  await printSummary($('#print-area'), { hid: me.hid, key: me.key, records, states, registeredAt: h ? h.name : me.patient.hospital, printedBy: 'the patient' });
});

/* ---- consents ---------------------------------------------------------- */

let staffList = [];
async function fillGrantForm() {
  const hs = await hospitals();
  $('#g-hospital').innerHTML = hs.filter((h) => h.status === 'active').map((h) => `<option value="${esc(h.id)}">${esc(h.name)}</option>`).join('');
  staffList = (await api('v1/staff')).filter((s) => s.status === 'active' && (s.role === 'doctor' || s.role === 'nurse'));
  const hname = Object.fromEntries(hs.map((h) => [h.id, h.name]));
  $('#g-staff').innerHTML = staffList.map((s) => `<option value="${esc(s.key)}">${esc(s.name)} (${esc(s.role)}, ${esc(hname[s.hospital] || s.hospital)})</option>`).join('');
  $('#g-purpose').innerHTML = Object.entries(P.PURPOSES).filter(([k]) => k !== 'BTG').map(([k, v]) => `<option value="${k}"${k === 'CAREMGT' ? ' selected' : ''}>${esc(v)}</option>`).join('');
  $('#g-types').innerHTML = P.HI_TYPES.map((t) => `<div class="form-check form-check-inline"><input class="form-check-input g-type" type="checkbox" id="gt-${t}" value="${t}" disabled><label class="form-check-label" for="gt-${t}">${esc(P.HI_LABELS[t])}</label></div>`).join('');
  const d = new Date(Date.now() + 30 * 86400000);
  $('#g-expires').value = d.toISOString().slice(0, 10);
}
fillGrantForm().catch((e) => say('danger', friendly(e)));

$('#g-kind').addEventListener('change', () => {
  const staff = $('#g-kind').value === 'staff';
  show('#g-staff-box', staff);
  show('#g-hospital-box', !staff);
});
$('#g-all').addEventListener('change', () => {
  $$('.g-type').forEach((c) => { c.disabled = $('#g-all').checked; });
});

async function submitTx(tx) {
  const r = await api('v1/tx', { method: 'POST', body: tx });
  if (r.verdict && r.verdict !== 'ok') throw new ApiError(422, 'rejected', '', r);
  return r;
}

$('#grant-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy($('#grant-btn'), async () => {
    const staff = $('#g-kind').value === 'staff';
    const grantee = staff ? { staff: $('#g-staff').value } : { hospital: $('#g-hospital').value };
    if (!Object.values(grantee)[0]) return say('warning', 'Choose who should get access.');
    const types = $('#g-all').checked ? ['*'] : $$('.g-type').filter((c) => c.checked).map((c) => c.value);
    if (!types.length) return say('warning', 'Tick at least one kind of record, or \u201cAll kinds\u201d.');
    const from = $('#g-from').value || null;
    const to = $('#g-to').value || null;
    if (from && to && to < from) return say('warning', 'The \u201cto\u201d date is before the \u201cfrom\u201d date.');
    const exp = $('#g-expires').value;
    if (!exp) return say('warning', 'Choose the day the access ends.');
    const expires = Date.parse(exp + 'T23:59:59');
    if (!(expires > Date.now())) return say('warning', 'The end of access must be in the future.');
    const tx = P.txSign(P.txBuild(status.network, 'consent.grant', {
      patient: me.key, grantee, hi_types: types, from, to, expires, purpose: $('#g-purpose').value,
    }), kp);
    await submitTx(tx);
    const who = staff ? $('#g-staff').selectedOptions[0].textContent : $('#g-hospital').selectedOptions[0].textContent;
    say('success', `Access given to ${who} until ${fmtDate(exp)}.`);
    await loadConsents();
  });
});

async function loadConsents() {
  const list = await api(`v1/patients/${me.hid}/consents`);
  const hs = await hospitals();
  const hname = Object.fromEntries(hs.map((h) => [h.id, h.name]));
  const sname = Object.fromEntries(staffList.map((s) => [s.key, s.name]));
  $('#consent-rows').innerHTML = list.length ? list.map((g) => {
    const to = g.grantee.staff ? (g.grantee.name || sname[g.grantee.staff] || 'a staff member') : (g.grantee.name || hname[g.grantee.hospital] || g.grantee.hospital);
    const types = (g.hi_types || []).includes('*') ? 'all kinds' : g.hi_types.map((t) => P.HI_LABELS[t] || t).join(', ');
    const range = g.from || g.to ? ` dated ${g.from ? fmtDate(g.from) : 'any time'} \u2013 ${g.to ? fmtDate(g.to) : 'now'}` : '';
    const state = g.revoked ? '<span class="badge text-bg-secondary">revoked</span>' : (g.active ? '<span class="badge text-bg-success">active</span>' : '<span class="badge text-bg-warning">expired</span>');
    const btn = g.active ? `<button class="btn btn-sm btn-outline-danger revoke" data-txid="${esc(g.txid)}" type="button">Revoke</button>` : '';
    return `<tr data-grant="${esc(g.txid)}"><td>${esc(to)}</td><td>${esc(types)}${esc(range)}</td><td>${esc(P.PURPOSES[g.purpose] || g.purpose)}</td><td>${esc(fmtTime(g.expires))}</td><td>${state}</td><td>${btn}</td></tr>`;
  }).join('') : '<tr><td colspan="6" class="text-muted">You have not given anyone access. Hospitals can still read the records they wrote themselves.</td></tr>';
  $$('.revoke').forEach((b) => b.addEventListener('click', () => busy(b, async () => {
    const tx = P.txSign(P.txBuild(status.network, 'consent.revoke', { patient: me.key, grant: b.dataset.txid }), kp);
    await submitTx(tx);
    say('success', 'Access revoked. From now on they cannot open your records.');
    await loadConsents();
  })));
}

/* ---- access log ---------------------------------------------------------- */

async function loadLog() {
  if (!me) return;
  const [log, emg] = await Promise.all([api(`v1/patients/${me.hid}/access-log`), api(`v1/patients/${me.hid}/emergencies`)]);
  const hs = await hospitals();
  const hname = Object.fromEntries(hs.map((h) => [h.id, h.name]));
  const rtype = Object.fromEntries(records.map((r) => [r.id, P.HI_LABELS[r.hi_type] || r.hi_type]));
  const basisWords = { patient: 'your own key', custodian: 'the hospital that wrote it', consent: 'your consent', emergency: 'EMERGENCY ACCESS' };
  $('#emg-list').innerHTML = emg.map((e) => `<div class="alert ${e.open ? 'alert-danger' : 'alert-warning'}"><strong>Emergency access ${e.open ? 'is open' : 'was opened'}</strong> by ${esc(e.doctor_name || 'a doctor')} (${esc(hname[e.hospital] || e.hospital)}) on ${esc(fmtTime(e.opened))}, until ${esc(fmtTime(e.expires))}. Reason: \u201c${esc(e.reason)}\u201d.</div>`).join('');
  $('#log-rows').innerHTML = log.length ? log.map((a) => {
    const emergency = a.emergency || a.basis === 'emergency';
    const what = (a.records || []).map((id) => rtype[id] || 'record');
    const who = a.basis === 'patient' || a.reader === me.key ? 'You' : (a.reader_name || 'unknown reader');
    return `<tr class="${emergency ? 'row-emergency' : ''}" data-basis="${esc(a.basis)}"><td>${esc(fmtTime(a.time))}</td><td>${esc(who)}${a.reader_role ? ` <span class="small text-muted">(${esc(a.reader_role)})</span>` : ''}<div class="small text-muted">${esc(hname[a.reader_hospital] || a.reader_hospital || '')}</div></td><td>${esc(what.join(', '))}</td><td>${emergency ? '<span class="badge text-bg-danger">EMERGENCY</span>' : esc(basisWords[a.basis] || a.basis)}</td></tr>`;
  }).join('') : '<tr><td colspan="4" class="text-muted">Nobody has opened your records yet.</td></tr>';
}
