/* FHIR R4 for people: render a record the way a doctor reads it (medicines
 * with dose, frequency and duration; diagnoses; lab values with units and
 * reference ranges; discharge summaries section by section; documents), and
 * build the resources the add-record forms produce. Only structure parcha
 * checks (src/ledger/fhir.c) is relied on; anything else is shown if there. */
import { esc, fmtDate } from './app.js';

/* ---- reading ------------------------------------------------------------- */

export function ccText(cc) {
  if (!cc) return '';
  if (cc.text) return cc.text;
  const c = (cc.coding || [])[0];
  return c ? (c.display || c.code || '') : '';
}

function qty(q) {
  if (!q || q.value === undefined) return '';
  return `${q.value}${q.unit ? ' ' + q.unit : (q.code ? ' ' + q.code : '')}`;
}

const PERIOD_WORDS = { h: 'hour', d: 'day', wk: 'week', mo: 'month', a: 'year', min: 'minute' };
const TIMES = ['', 'once', 'twice', 'three times', 'four times', 'five times', 'six times'];

/* "twice a day" from a Timing.repeat. */
export function frequencyWords(timing) {
  const r = timing && timing.repeat;
  if (!r) return timing && timing.code ? ccText(timing.code) : '';
  const f = r.frequency || 1;
  const per = PERIOD_WORDS[r.periodUnit] || r.periodUnit || 'day';
  const every = r.period && r.period !== 1 ? `every ${r.period} ${per}s` : `a ${per}`;
  return `${TIMES[f] || f + ' times'} ${every}`;
}

export function durationWords(timing, dispense) {
  const b = timing && timing.repeat && timing.repeat.boundsDuration;
  if (b && b.value) return `${b.value} ${b.unit || 'days'}`;
  const e = dispense && dispense.expectedSupplyDuration;
  if (e && e.value) return `${e.value} ${e.unit || 'days'}`;
  return '';
}

/* One medicine as {name, dose, frequency, duration, route, advice}. */
export function medicine(mr) {
  const d = (mr.dosageInstruction || [])[0] || {};
  const dr = (d.doseAndRate || [])[0] || {};
  const dose = dr.doseQuantity ? `${dr.doseQuantity.value} ${dr.doseQuantity.unit || ''}`.trim() : '';
  return {
    name: ccText(mr.medicationCodeableConcept) || (mr.medicationReference && mr.medicationReference.display) || 'Medicine',
    dose,
    frequency: frequencyWords(d.timing),
    duration: durationWords(d.timing, mr.dispenseRequest),
    route: ccText(d.route),
    advice: (d.additionalInstruction || []).map(ccText).filter(Boolean).join('; ') || d.patientInstruction || '',
    text: d.text || '',
    status: mr.status,
  };
}

function interp(obs) {
  const c = ((obs.interpretation || [])[0] || {});
  const code = (c.coding || [])[0];
  return code ? code.code : '';
}

function rangeText(obs) {
  const rr = (obs.referenceRange || [])[0];
  if (!rr) return '';
  if (rr.text) return rr.text;
  if (rr.low && rr.high) return `${rr.low.value}\u2013${qty(rr.high)}`;
  if (rr.high) return `below ${qty(rr.high)}`;
  if (rr.low) return `above ${qty(rr.low)}`;
  return '';
}

/* One lab value as {name, value, range, flag}. */
export function labValue(obs) {
  let value = qty(obs.valueQuantity);
  if (!value && obs.valueString) value = obs.valueString;
  if (!value && obs.valueCodeableConcept) value = ccText(obs.valueCodeableConcept);
  if (!value && obs.component) value = obs.component.map((c) => `${ccText(c.code)} ${qty(c.valueQuantity)}`).join(', ');
  return { name: ccText(obs.code) || 'Lab test', value, range: rangeText(obs), flag: interp(obs) };
}

function flagBadge(flag) {
  if (flag === 'H' || flag === 'HH') return '<span class="badge text-bg-danger ms-1">High</span>';
  if (flag === 'L' || flag === 'LL') return '<span class="badge text-bg-warning ms-1">Low</span>';
  if (flag === 'A') return '<span class="badge text-bg-danger ms-1">Abnormal</span>';
  if (flag === 'N') return '<span class="badge text-bg-success ms-1">Normal</span>';
  return '';
}

function medTable(meds) {
  if (!meds.length) return '';
  return `<table class="table table-sm med-table mb-2"><thead><tr><th>Medicine</th><th>Dose</th><th>How often</th><th>For</th></tr></thead><tbody>${
    meds.map((m) => `<tr><td><strong>${esc(m.name)}</strong>${m.route ? `<div class="small text-muted">${esc(m.route)}</div>` : ''}${m.advice ? `<div class="small">${esc(m.advice)}</div>` : ''}</td><td>${esc(m.dose)}</td><td>${esc(m.frequency)}</td><td>${esc(m.duration)}</td></tr>`).join('')
  }</tbody></table>`;
}

function labTable(labs) {
  if (!labs.length) return '';
  return `<table class="table table-sm lab-table mb-2"><thead><tr><th>Test</th><th>Result</th><th>Reference range</th></tr></thead><tbody>${
    labs.map((l) => `<tr><td>${esc(l.name)}</td><td><strong>${esc(l.value)}</strong>${flagBadge(l.flag)}</td><td class="text-muted">${esc(l.range)}</td></tr>`).join('')
  }</tbody></table>`;
}

function narrative(t) {
  if (!t || !t.div) return '';
  // The div is XHTML from another hospital: show its text, never its markup.
  const tmp = document.createElement('div');
  tmp.innerHTML = t.div.replace(/<script[\s\S]*?<\/script>/gi, '');
  return esc(tmp.textContent.trim());
}

function conditionHtml(c) {
  const status = ccText(c.clinicalStatus);
  const when = c.onsetDateTime || c.recordedDate;
  const codes = ((c.code && c.code.coding) || []).map((x) => x.code).filter(Boolean).join(', ');
  return `<div class="dx"><span class="fs-6 fw-semibold">${esc(ccText(c.code) || 'Diagnosis')}</span>${codes ? ` <span class="text-muted small">(${esc(codes)})</span>` : ''}
    ${status ? `<span class="badge ${/active/i.test(status) ? 'text-bg-primary' : 'text-bg-secondary'} ms-1">${esc(status)}</span>` : ''}
    ${when ? `<div class="small text-muted">since ${fmtDate(when)}${c.abatementDateTime ? `, resolved ${fmtDate(c.abatementDateTime)}` : ''}</div>` : ''}
    ${(c.note || []).map((n) => `<div class="small">${esc(n.text)}</div>`).join('')}</div>`;
}

function attachmentHtml(att) {
  if (!att) return '';
  const title = att.title || 'document';
  if (att.data) {
    const type = att.contentType || 'application/octet-stream';
    const safeType = /^(image\/(png|jpeg|gif|webp)|application\/pdf|text\/plain)$/.test(type) ? type : 'application/octet-stream';
    const href = `data:${safeType};base64,${att.data}`;
    const img = safeType.startsWith('image/') ? `<div><img class="doc-preview" alt="${esc(title)}" src="${href}"></div>` : '';
    return `${img}<a class="btn btn-sm btn-outline-secondary" download="${esc(title)}" href="${href}">Download ${esc(title)}</a>`;
  }
  return att.url ? `<span class="small">${esc(title)} (stored at ${esc(att.url)})</span>` : esc(title);
}

/* HTML for one resource, readable by a doctor. */
export function render(res, depth = 0) {
  if (!res || typeof res !== 'object') return '<em>empty record</em>';
  switch (res.resourceType) {
    case 'MedicationRequest':
      return medTable([medicine(res)]) + (res.requester && res.requester.display ? `<div class="small text-muted">Prescribed by ${esc(res.requester.display)}</div>` : '');
    case 'Condition':
      return conditionHtml(res);
    case 'AllergyIntolerance':
      return `<div><span class="badge text-bg-danger me-1">Allergy</span><strong>${esc(ccText(res.code))}</strong>${(res.reaction || []).map((r) => ` \u2014 ${esc((r.manifestation || []).map(ccText).join(', '))}`).join('')}</div>`;
    case 'Observation':
      return labTable([labValue(res)]);
    case 'DiagnosticReport': {
      const parts = [`<div class="fw-semibold">${esc(ccText(res.code) || 'Report')}</div>`];
      if (res.conclusion) parts.push(`<div class="conclusion">${esc(res.conclusion)}</div>`);
      if (res.result && res.result.length) parts.push(`<div class="small text-muted">${res.result.length} result(s) attached</div>`);
      if (res.presentedForm) parts.push(res.presentedForm.map(attachmentHtml).join(''));
      return parts.join('');
    }
    case 'Immunization':
      return `<div><strong>${esc(ccText(res.vaccineCode))}</strong>${res.doseQuantity ? `, ${esc(qty(res.doseQuantity))}` : ''}${res.lotNumber ? ` <span class="small text-muted">lot ${esc(res.lotNumber)}</span>` : ''}${(res.protocolApplied || [])[0] && res.protocolApplied[0].doseNumberPositiveInt ? ` \u2014 dose ${res.protocolApplied[0].doseNumberPositiveInt}` : ''}</div>`;
    case 'Encounter':
      return `<div>${esc(ccText(res.class) || res.class && res.class.display || 'Visit')}${res.period ? `: ${fmtDate(res.period.start)} \u2013 ${fmtDate(res.period.end)}` : ''}${(res.reasonCode || []).length ? ` \u2014 ${esc(res.reasonCode.map(ccText).join(', '))}` : ''}</div>`;
    case 'DocumentReference':
      return `<div class="fw-semibold">${esc(res.description || ccText(res.type) || 'Document')}</div>${(res.content || []).map((c) => attachmentHtml(c.attachment)).join('')}`;
    case 'Bundle':
      return renderBundle(res, depth);
    default:
      return `<div class="text-muted">A ${esc(res.resourceType || 'record')} (not shown in detail)</div>`;
  }
}

/* A document Bundle: the Composition's sections in order, each with the
 * entries it refers to rendered in place. */
function renderBundle(b, depth) {
  const entries = b.entry || [];
  const byUrl = new Map(entries.map((e) => [e.fullUrl, e.resource]));
  const comp = (entries.find((e) => e.resource && e.resource.resourceType === 'Composition') || {}).resource;
  if (!comp || depth > 1) return entries.map((e) => render(e.resource, depth + 1)).join('');
  const enc = comp.encounter && byUrl.get(comp.encounter.reference);
  const out = [`<div class="fw-semibold mb-1">${esc(comp.title || ccText(comp.type))}</div>`];
  if (enc && enc.period) out.push(`<div class="small mb-2">Admitted ${fmtDate(enc.period.start)}, discharged ${fmtDate(enc.period.end)}${enc.hospitalization && enc.hospitalization.dischargeDisposition ? ` \u2014 ${esc(ccText(enc.hospitalization.dischargeDisposition))}` : ''}</div>`);
  for (const s of comp.section || []) {
    const refs = (s.entry || []).map((r) => byUrl.get(r.reference)).filter(Boolean);
    const meds = refs.filter((r) => r.resourceType === 'MedicationRequest').map(medicine);
    const labs = refs.filter((r) => r.resourceType === 'Observation').map(labValue);
    const others = refs.filter((r) => r.resourceType !== 'MedicationRequest' && r.resourceType !== 'Observation');
    out.push(`<div class="section mb-2"><div class="section-title">${esc(s.title || '')}</div>${s.text ? `<div>${narrative(s.text)}</div>` : ''}${medTable(meds)}${labTable(labs)}${others.map((r) => render(r, depth + 1)).join('')}</div>`);
  }
  return out.join('');
}

/* One line for a timeline row before the content is opened. */
export const FHIR_LABELS = {
  MedicationRequest: 'Prescription', Condition: 'Diagnosis', Observation: 'Lab result',
  DiagnosticReport: 'Report', Immunization: 'Immunization', AllergyIntolerance: 'Allergy',
  Encounter: 'Visit', DocumentReference: 'Document', Bundle: 'Document bundle',
};

/* A plain-text summary line (for the printed summary). */
export function summaryLine(res) {
  if (!res) return '';
  switch (res.resourceType) {
    case 'MedicationRequest': {
      const m = medicine(res);
      return [m.name, m.dose, m.frequency, m.duration && 'for ' + m.duration].filter(Boolean).join(', ');
    }
    case 'Condition': return `${ccText(res.code)} (${ccText(res.clinicalStatus) || 'recorded'})`;
    case 'Observation': {
      const l = labValue(res);
      return `${l.name}: ${l.value}${l.flag && l.flag !== 'N' ? ` [${l.flag}]` : ''}${l.range ? ` (ref ${l.range})` : ''}`;
    }
    case 'DiagnosticReport': return `${ccText(res.code)}${res.conclusion ? ': ' + res.conclusion : ''}`;
    case 'Immunization': return ccText(res.vaccineCode);
    case 'AllergyIntolerance': return `Allergy: ${ccText(res.code)}`;
    case 'DocumentReference': return res.description || ccText(res.type) || 'Document';
    case 'Bundle': {
      const comp = ((res.entry || []).find((e) => e.resource && e.resource.resourceType === 'Composition') || {}).resource;
      return comp ? comp.title || ccText(comp.type) : 'Document bundle';
    }
    default: return res.resourceType;
  }
}

/* Medicines, diagnoses and lab values found in a resource (and inside a
 * bundle), for the summary page. */
export function collect(res, into = { meds: [], dx: [], labs: [], allergies: [] }) {
  if (!res) return into;
  if (res.resourceType === 'MedicationRequest') into.meds.push(medicine(res));
  else if (res.resourceType === 'Condition') into.dx.push({ name: ccText(res.code), status: ccText(res.clinicalStatus), when: res.onsetDateTime || res.recordedDate });
  else if (res.resourceType === 'Observation') into.labs.push(Object.assign(labValue(res), { when: res.effectiveDateTime || res.issued }));
  else if (res.resourceType === 'AllergyIntolerance') into.allergies.push(ccText(res.code));
  else if (res.resourceType === 'Bundle') (res.entry || []).forEach((e) => collect(e.resource, into));
  return into;
}

/* ---- writing (the add-record forms) ----------------------------------- */

const UCUM = 'http://unitsofmeasure.org';

function subject(hid, name) {
  return { reference: `Patient/${hid}`, display: name || hid };
}

/* A MedicationRequest from the prescription form. */
export function prescription(f) {
  const days = Number(f.days);
  const per = Number(f.frequency);
  const text = `${f.dose} ${f.unit} ${TIMES[per] || per + ' times'} a day for ${days} days${f.advice ? ', ' + f.advice : ''}`;
  const r = {
    resourceType: 'MedicationRequest', status: 'active', intent: 'order',
    medicationCodeableConcept: { text: f.medicine },
    subject: subject(f.hid, f.patientName),
    authoredOn: f.date,
    requester: { display: f.author },
    dosageInstruction: [{
      sequence: 1, text,
      timing: { repeat: { frequency: per, period: 1, periodUnit: 'd', boundsDuration: { value: days, unit: 'days', system: UCUM, code: 'd' } } },
      route: { text: f.route || 'Oral' },
      doseAndRate: [{ doseQuantity: { value: Number(f.dose), unit: f.unit } }],
    }],
    dispenseRequest: { expectedSupplyDuration: { value: days, unit: 'days', system: UCUM, code: 'd' } },
  };
  if (f.advice) r.dosageInstruction[0].additionalInstruction = [{ text: f.advice }];
  return r;
}

/* A Condition from the diagnosis form. */
export function diagnosis(f) {
  const code = { text: f.diagnosis };
  if (f.icd) code.coding = [{ system: 'http://hl7.org/fhir/sid/icd-10', code: f.icd, display: f.diagnosis }];
  const r = {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: f.status || 'active' }], text: f.status === 'resolved' ? 'Resolved' : 'Active' },
    verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
    code,
    subject: subject(f.hid, f.patientName),
    onsetDateTime: f.date,
    recordedDate: f.date,
    recorder: { display: f.author },
  };
  if (f.note) r.note = [{ text: f.note }];
  return r;
}

/* An Observation from the lab form; value is a number (integral values
 * stay integers; decimals are fine: the node encrypts text, not signed JSON). */
export function labResult(f) {
  const value = Number(f.value);
  const lo = f.low === '' || f.low === undefined ? null : Number(f.low);
  const hi = f.high === '' || f.high === undefined ? null : Number(f.high);
  let flag = 'N';
  if (lo !== null && value < lo) flag = 'L';
  if (hi !== null && value > hi) flag = 'H';
  const rr = {};
  if (lo !== null) rr.low = { value: lo, unit: f.unit, system: UCUM, code: f.unit };
  if (hi !== null) rr.high = { value: hi, unit: f.unit, system: UCUM, code: f.unit };
  if (lo !== null && hi !== null) rr.text = `${lo}\u2013${hi} ${f.unit}`;
  else if (hi !== null) rr.text = `below ${hi} ${f.unit}`;
  else if (lo !== null) rr.text = `above ${lo} ${f.unit}`;
  const r = {
    resourceType: 'Observation', status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }] }],
    code: { text: f.test },
    subject: subject(f.hid, f.patientName),
    effectiveDateTime: f.date,
    issued: f.date,
    valueQuantity: { value, unit: f.unit, system: UCUM, code: f.unit },
    interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag }], text: { N: 'Normal', H: 'High', L: 'Low' }[flag] }],
  };
  if (Object.keys(rr).length) r.referenceRange = [rr];
  return r;
}

function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function div(text) {
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${esc(text)}</div>` };
}

/* A discharge summary document Bundle (Composition, Encounter, diagnosis,
 * discharge medicines). */
export function dischargeSummary(f) {
  const u = { comp: uuid(), enc: uuid(), dx: uuid() };
  const meds = (f.meds || []).filter((m) => m.medicine);
  const medUrls = meds.map(() => uuid());
  const entries = [];
  const comp = {
    resourceType: 'Composition', status: 'final',
    type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }], text: 'Discharge summary' },
    subject: subject(f.hid, f.patientName),
    encounter: { reference: u.enc },
    date: f.discharged,
    author: [{ display: f.author }],
    title: `Discharge summary - ${f.hospitalName}`,
    section: [
      { title: 'Diagnosis', text: div(f.diagnosis), entry: [{ reference: u.dx }] },
      { title: 'Hospital course', text: div(f.course || '') },
      { title: 'Medications on discharge', text: div(meds.length ? 'Continue the medicines below.' : 'None.'), entry: medUrls.map((x) => ({ reference: x })) },
      { title: 'Advice on discharge', text: div(f.advice || '') },
    ],
  };
  entries.push({ fullUrl: u.comp, resource: comp });
  entries.push({ fullUrl: u.enc, resource: {
    resourceType: 'Encounter', status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' },
    subject: subject(f.hid, f.patientName),
    period: { start: f.admitted, end: f.discharged },
    reasonCode: [{ text: f.diagnosis }],
    hospitalization: { dischargeDisposition: { text: 'Discharged home' } },
  } });
  entries.push({ fullUrl: u.dx, resource: diagnosis({ hid: f.hid, patientName: f.patientName, diagnosis: f.diagnosis, icd: f.icd, status: 'resolved', date: f.discharged, author: f.author }) });
  meds.forEach((m, i) => entries.push({ fullUrl: medUrls[i], resource: prescription(Object.assign({ hid: f.hid, patientName: f.patientName, date: f.discharged, author: f.author }, m)) }));
  return { resourceType: 'Bundle', identifier: { system: 'urn:ietf:rfc:3986', value: uuid() }, type: 'document', timestamp: f.discharged, entry: entries };
}

/* A DocumentReference carrying an uploaded file (base64 inline). */
export function documentUpload(f) {
  return {
    resourceType: 'DocumentReference', status: 'current',
    type: { text: f.kind || 'Clinical document' },
    subject: subject(f.hid, f.patientName),
    date: f.date + 'T00:00:00Z',
    description: f.description || f.fileName,
    author: [{ display: f.author }],
    content: [{ attachment: { contentType: f.contentType || 'application/octet-stream', title: f.fileName, data: f.data, size: f.size } }],
  };
}

/* ---- the access rule (DESIGN §5, src/ledger/access.c) ------------------- */

/* Predict whether a staff reader may open a record, from the chain facts the
 * API gives (consents and emergencies of the patient). The node decides for
 * real; this only marks records as locked before anyone tries. Returns
 * {ok, basis, reason}. now is ms. */
export function accessDecide(reader, rec, consents, emergencies, now) {
  if (reader.hospital === rec.custodian) return { ok: true, basis: 'custodian' };
  let nearest = null;
  const order = ['revoked', 'expired', 'type', 'date'];
  for (const g of consents || []) {
    const names = g.grantee && (g.grantee.staff ? g.grantee.staff === reader.key : g.grantee.hospital === reader.hospital);
    if (!names) continue;
    let miss = null;
    if (g.revoked) miss = 'revoked';
    else if (now >= g.expires) miss = 'expired';
    else if (!(g.hi_types || []).includes('*') && !(g.hi_types || []).includes(rec.hi_type)) miss = 'type';
    else if ((g.from && rec.date < g.from) || (g.to && rec.date > g.to)) miss = 'date';
    if (!miss) return { ok: true, basis: 'consent', ref: g.txid };
    if (nearest === null || order.indexOf(miss) > order.indexOf(nearest)) nearest = miss;
  }
  for (const e of emergencies || []) {
    if (e.doctor !== reader.key) continue;
    if (now >= e.opened && now < e.expires) return { ok: true, basis: 'emergency', ref: e.txid };
  }
  const why = { revoked: 'consent revoked', expired: 'consent expired', type: 'consent does not cover this record type', date: 'consent does not cover this date' };
  return { ok: false, basis: 'denied', reason: nearest ? why[nearest] : 'no consent covers this record' };
}
