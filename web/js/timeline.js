/* The patient timeline shared by the doctor view and the patient portal:
 * record metadata from the ledger (newest first, across hospitals), each
 * record open, locked (with why and how to get access) or failed (in words),
 * filters by record type and date, and the printable A4 summary. */
import * as P from './parcha.js';
import { esc, fmtDate, fmtTime } from './app.js';
import { FHIR_LABELS, collect, render, summaryLine } from './fhir.js';
import { qrSvg, QR_PREFIX } from './qr.js';

/* A padlock drawn inline: no emoji font needed (kiosk and tablet browsers). */
const LOCK_ICON = '<svg aria-hidden="true" width="14" height="14" viewBox="0 0 16 16" style="vertical-align:-2px"><rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="currentColor"/><path d="M5 7V5a3 3 0 0 1 6 0v2" stroke="currentColor" stroke-width="1.8" fill="none"/></svg>';

/* Fill a <select> with the HI types. */
export function fillTypeSelect(select) {
  for (const t of P.HI_TYPES) {
    const o = document.createElement('option');
    o.value = t;
    o.textContent = P.HI_LABELS[t];
    select.appendChild(o);
  }
}

/* The words for a record whose custodian hospital's node did not answer. */
export function custodianDown(r) {
  return `${r.custodian_name || r.custodian}, the hospital that keeps this record, cannot be reached right now. Try again later; the other records are shown.`;
}

/* Records passing the filter {type, from, to} (dates YYYY-MM-DD). */
export function applyFilter(records, f) {
  return records.filter((r) => (!f.type || r.hi_type === f.type) && (!f.from || r.date >= f.from) && (!f.to || r.date <= f.to));
}

function basisBadge(st) {
  if (st.basis === 'emergency') return '<span class="badge text-bg-danger">opened under emergency access</span>';
  if (st.basis === 'consent') return '<span class="badge text-bg-info">with the patient\u2019s consent</span>';
  return '';
}

/* HTML for the timeline. states maps record id -> {state, ...}. hint(rec,
 * st) gives the "request access" sentence for a locked record. */
export function timelineHtml(records, states, hint) {
  if (!records.length) return '<div class="text-muted p-3">No records match.</div>';
  return records.map((r) => {
    const st = states.get(r.id) || { state: 'loading' };
    const head = `<div class="tl-head"><span class="tl-date">${fmtDate(r.date)}</span>
      <span class="badge text-bg-light border">${esc(P.HI_LABELS[r.hi_type] || r.hi_type)}</span>
      <span class="small text-muted">${esc(FHIR_LABELS[r.fhir] || r.fhir)}</span>
      <span class="small">\u00b7 ${esc(r.custodian_name || r.custodian)}</span>
      ${r.author_name ? `<span class="small text-muted">\u00b7 ${esc(r.author_name)}</span>` : ''}
      ${basisBadge(st)}</div>`;
    let body = '';
    let cls = 'tl-item';
    if (st.state === 'open') {
      cls += st.basis === 'emergency' ? ' tl-open tl-emergency' : ' tl-open';
      body = `<div class="mt-2">${render(st.fhir)}</div>`;
    } else if (st.state === 'locked') {
      cls += ' tl-locked';
      body = `<div class="mt-1 lock">${LOCK_ICON} <strong>Locked</strong> \u2014 ${esc(st.reason || 'no access')}. <span class="request-hint">${esc(hint ? hint(r, st) : '')}</span></div>`;
    } else if (st.state === 'error') {
      cls += ' tl-locked';
      body = `<div class="mt-1 text-danger small">${esc(st.message)}</div>`;
    } else {
      body = '<div class="mt-1 small text-muted"><span class="spinner-border spinner-border-sm" aria-hidden="true"></span> opening\u2026</div>';
    }
    return `<div class="${cls}" data-record="${esc(r.id)}" data-state="${esc(st.state)}">${head}${body}</div>`;
  }).join('');
}

/* Run fn over items with at most n at a time. */
export async function pool(items, n, fn) {
  const queue = items.slice();
  const workers = Array.from({ length: Math.min(n, queue.length) }, async () => {
    while (queue.length) await fn(queue.shift());
  });
  await Promise.all(workers);
}

/* Fill el with the printable summary (the patient's "parcha") and print. */
export async function printSummary(el, p) {
  const opened = p.records.filter((r) => (p.states.get(r.id) || {}).state === 'open');
  const facts = { meds: [], dx: [], labs: [], allergies: [] };
  for (const r of opened) collect(p.states.get(r.id).fhir, facts);
  const locked = p.records.length - opened.length;
  const rows = (arr, f) => arr.map(f).join('');
  const qr = p.key ? await qrSvg(QR_PREFIX + p.key, 'patient key') : '';
  el.innerHTML = `
    <div class="sum-head">
      <div>
        <h1>parcha \u2014 patient summary</h1>
        <div>Health ID <strong class="hid">${esc(p.hid)}</strong></div>
        <div>Registered at ${esc(p.registeredAt || '')}</div>
        <div>Printed ${esc(fmtTime(Date.now()))}${p.printedBy ? ` by ${esc(p.printedBy)}` : ''}</div>
      </div>
      <div class="sum-qr">${qr}</div>
    </div>
    ${facts.allergies.length ? `<h2>Allergies</h2><p><strong>${esc(facts.allergies.join(', '))}</strong></p>` : ''}
    <h2>Diagnoses</h2>
    ${facts.dx.length ? `<table><thead><tr><th>Diagnosis</th><th>Status</th><th>Since</th></tr></thead><tbody>${rows(facts.dx, (d) => `<tr><td>${esc(d.name)}</td><td>${esc(d.status)}</td><td>${fmtDate(d.when)}</td></tr>`)}</tbody></table>` : '<p>None recorded.</p>'}
    <h2>Medicines</h2>
    ${facts.meds.length ? `<table><thead><tr><th>Medicine</th><th>Dose</th><th>How often</th><th>For</th></tr></thead><tbody>${rows(facts.meds, (m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.dose)}</td><td>${esc(m.frequency)}</td><td>${esc(m.duration)}</td></tr>`)}</tbody></table>` : '<p>None recorded.</p>'}
    <h2>Lab results</h2>
    ${facts.labs.length ? `<table><thead><tr><th>Date</th><th>Test</th><th>Result</th><th>Reference range</th></tr></thead><tbody>${rows(facts.labs, (l) => `<tr><td>${fmtDate(l.when)}</td><td>${esc(l.name)}</td><td>${esc(l.value)}${l.flag && l.flag !== 'N' ? ` (${esc(l.flag)})` : ''}</td><td>${esc(l.range)}</td></tr>`)}</tbody></table>` : '<p>None recorded.</p>'}
    <h2>All records</h2>
    <table><thead><tr><th>Date</th><th>Type</th><th>Hospital</th><th>Summary</th></tr></thead><tbody>
    ${rows(p.records, (r) => { const st = p.states.get(r.id) || {}; return `<tr><td>${fmtDate(r.date)}</td><td>${esc(P.HI_LABELS[r.hi_type] || r.hi_type)}</td><td>${esc(r.custodian_name || r.custodian)}</td><td>${st.state === 'open' ? esc(summaryLine(st.fhir)) : '<em>not shown (no access)</em>'}</td></tr>`; })}
    </tbody></table>
    <div class="sum-foot">${locked ? `${locked} record(s) could not be shown to this reader. ` : ''}Every record on this page was read from the parcha ledger; each reading is recorded in the patient\u2019s access log. Check a record with its Health ID at any parcha hospital.</div>`;
  document.body.classList.add('printing-summary');
  const done = () => {
    document.body.classList.remove('printing-summary');
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  if (!p.noPrint) window.print();
}
