/* Doctor view: find a patient (typed Health ID with typo detection, camera
 * or photo of the card's QR code), see the whole timeline across hospitals
 * in one click (every readable record opened through the node with the
 * doctor's session key; the others locked with what to do), filter it, add
 * records through forms that produce FHIR R4, open emergency access, print
 * the summary. */
import * as P from './parcha.js';
import { $, $$, api, busy, clearMessages, esc, fmtTime, friendly, guardPage, hospitalName, nodeBadge, readBytes, requireStaff, say, show, ApiError } from './app.js';
import * as F from './fhir.js';
import { scanCamera, scanFile, QR_PREFIX } from './qr.js';
import { applyFilter, custodianDown, fillTypeSelect, pool, printSummary, timelineHtml } from './timeline.js';

guardPage();
nodeBadge();
const user = await requireStaff(['doctor', 'nurse']);
// libsodium (0.5 MB) is loaded only when a QR code or an upload needs it:
// typing a Health ID and reading the timeline do not.
const myHospitalName = await hospitalName(user.hospital);

let current = null; // {hid, patient, records, consents, emergencies}
const states = new Map();

/* ---- finding the patient --------------------------------------------- */

function checkTyped() {
  const input = $('#hid-input');
  const v = input.value.trim();
  if (!v) {
    input.classList.remove('is-invalid', 'is-valid');
    return null;
  }
  const r = P.parseHealthId(v);
  const complete = v.replace(/[-\s]/g, '').length >= 13;
  if (r.ok) {
    input.classList.remove('is-invalid');
    input.classList.add('is-valid');
    return r.id;
  }
  input.classList.remove('is-valid');
  input.classList.toggle('is-invalid', complete || /not used/.test(r.error));
  $('#hid-feedback').textContent = r.error;
  return null;
}

$('#hid-input').addEventListener('input', checkTyped);
$('#find-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const r = P.parseHealthId($('#hid-input').value);
  if (!r.ok) {
    $('#hid-input').classList.add('is-invalid');
    $('#hid-feedback').textContent = r.error;
    say('warning', r.error);
    return;
  }
  busy($('#find-btn'), () => openPatient(r.id));
});

/* A scanned QR text -> Health ID, or an error in words. */
async function hidFromQr(text) {
  if (!text) throw new Error('No QR code was found in the picture. Hold the card flat and fill the frame, or type the Health ID.');
  await P.ready();
  if (!text.startsWith(QR_PREFIX)) throw new Error('This QR code is not a parcha patient card.');
  const pk = P.fromB64u(text.slice(QR_PREFIX.length), 32);
  return P.healthId(pk);
}

let camera = null;
$('#scan-btn').addEventListener('click', async () => {
  show('#scan-box', true);
  camera = scanCamera($('#scan-video'));
  try {
    const text = await camera.promise;
    show('#scan-box', false);
    if (text === null) return;
    const hid = await hidFromQr(text);
    $('#hid-input').value = hid;
    checkTyped();
    await openPatient(hid);
  } catch (e) {
    show('#scan-box', false);
    say('danger', e.message || friendly(e));
  }
});
$('#scan-stop').addEventListener('click', () => {
  if (camera) camera.stop();
  show('#scan-box', false);
});
$('#qr-file').addEventListener('change', async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = '';
  if (!file) return;
  try {
    const hid = await hidFromQr(await scanFile(file));
    $('#hid-input').value = hid;
    checkTyped();
    say('success', `Card read: Health ID ${hid}.`);
    await openPatient(hid);
  } catch (e) {
    say('danger', e instanceof ApiError ? friendly(e) : e.message);
  }
});

/* ---- the timeline ---------------------------------------------------- */

/* Find a patient and open the timeline; body[data-loads] counts finished
 * loads (the browser tests wait on it). */
async function openPatient(hid) {
  try {
    await loadPatient(hid);
  } finally {
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }
}

async function loadPatient(hid) {
  clearMessages();
  let patient;
  try {
    patient = await api(`v1/patients/${encodeURIComponent(hid)}`);
  } catch (e) {
    if (e.status === 404) {
      say('warning', `No patient is registered with Health ID ${hid}. Check the card, or register the patient at the registration desk.`);
      return;
    }
    throw e;
  }
  const [tl, consents, emergencies] = await Promise.all([
    api(`v1/patients/${encodeURIComponent(hid)}/timeline`),
    api(`v1/patients/${encodeURIComponent(hid)}/consents`),
    api(`v1/patients/${encodeURIComponent(hid)}/emergencies`),
  ]);
  current = { hid, patient, records: tl.records || [], consents, emergencies };
  states.clear();
  $('#pv-hid').textContent = hid;
  $('#pv-facts').textContent = `Registered at ${await hospitalName(patient.hospital)} on ${fmtTime(patient.time)} \u00b7 ${current.records.length} record(s) on the ledger`;
  show('#patient-view', true);
  renderBanner();
  await openAll();
}

function myOpenEmergency() {
  const now = Date.now();
  return (current.emergencies || []).find((e) => e.doctor === user.key && now >= e.opened && now < e.expires);
}

function renderBanner() {
  const e = myOpenEmergency();
  const banner = $('#emergency-banner');
  if (e) {
    banner.innerHTML = `\u26a0 EMERGENCY ACCESS OPEN until ${esc(fmtTime(e.expires))} <div class="small">Opened by ${esc(e.doctor_name || 'you')} (${esc(e.reason)}). Every record you open is logged and the patient will see it.</div>`;
    show(banner, true);
  } else {
    const others = (current.emergencies || []).filter((x) => x.open);
    if (others.length) {
      banner.innerHTML = `Emergency access is open for this patient by ${esc(others.map((x) => x.doctor_name || 'another doctor').join(', '))} until ${esc(fmtTime(others[0].expires))}.`;
      show(banner, true);
    } else {
      show(banner, false);
    }
  }
}

function lockHint(rec, st) {
  if (user.role !== 'doctor')
    return `Ask the patient to grant ${myHospitalName} access in the patient portal.`;
  return `To request access, ask the patient to grant ${myHospitalName} access in the patient portal${st.reason === 'consent expired' ? ' again' : ''}; if the patient cannot consent, use Emergency access.`;
}

function filterNow() {
  return { type: $('#f-type').value, from: $('#f-from').value, to: $('#f-to').value };
}

function draw() {
  if (!current) return;
  const shown = applyFilter(current.records, filterNow());
  const open = current.records.filter((r) => (states.get(r.id) || {}).state === 'open').length;
  const locked = current.records.filter((r) => (states.get(r.id) || {}).state === 'locked').length;
  $('#timeline-count').textContent = `Showing ${shown.length} of ${current.records.length} records, newest first \u00b7 ${open} open, ${locked} locked`;
  $('#timeline').innerHTML = timelineHtml(shown, states, lockHint);
}

/* Open every record the access rule lets this reader see; mark the rest. */
async function openAll() {
  const now = Date.now();
  const reader = { key: user.key, hospital: user.hospital };
  const toOpen = [];
  for (const r of current.records) {
    const d = F.accessDecide(reader, r, current.consents, current.emergencies, now);
    if (d.ok) {
      states.set(r.id, { state: 'loading' });
      toOpen.push(r);
    } else {
      states.set(r.id, { state: 'locked', reason: d.reason });
    }
  }
  draw();
  let downHospitals = new Set();
  await pool(toOpen, 4, async (r) => {
    try {
      const c = await api(`v1/ui/records/${encodeURIComponent(r.id)}/content`);
      states.set(r.id, { state: 'open', fhir: c.fhir, basis: c.basis });
    } catch (e) {
      if (e instanceof ApiError && e.status === 403 && e.code === 'denied') {
        states.set(r.id, { state: 'locked', reason: e.message });
      } else {
        if (e instanceof ApiError && e.status === 503) {
          downHospitals.add(r.custodian_name || r.custodian);
          states.set(r.id, { state: 'error', message: custodianDown(r) });
        } else {
          states.set(r.id, { state: 'error', message: friendly(e) });
        }
      }
    }
    draw();
  });
  if (downHospitals.size) say('warning', `Records kept by ${[...downHospitals].join(', ')} cannot be opened right now because that hospital\u2019s node is not reachable. The other records are shown.`);
}

fillTypeSelect($('#f-type'));
['#f-type', '#f-from', '#f-to'].forEach((s) => $(s).addEventListener('change', draw));
$('#f-clear').addEventListener('click', () => {
  $('#f-type').value = '';
  $('#f-from').value = '';
  $('#f-to').value = '';
  draw();
});

/* ---- emergency -------------------------------------------------------- */

$('#emg-toggle').addEventListener('click', () => {
  if (user.role !== 'doctor') {
    say('warning', 'Only a doctor can open emergency access.');
    return;
  }
  show('#emg-box', $('#emg-box').classList.contains('d-none'));
});
$('#emg-btn').addEventListener('click', () => busy($('#emg-btn'), async () => {
  const reason = $('#emg-reason').value.trim();
  if (reason.length < 5) {
    say('warning', 'Write why emergency access is needed (a few words).');
    return;
  }
  const r = await api('v1/ui/emergency', { method: 'POST', body: { patient: current.hid, reason, hours: Number($('#emg-hours').value) } });
  if (r.verdict && r.verdict !== 'ok') {
    say('danger', r.verdict === 'too_long' ? 'That is longer than the consortium allows for emergency access. Choose fewer hours.' : `The ledger refused the emergency opening (${r.verdict.replace(/_/g, ' ')}).`);
    return;
  }
  show('#emg-box', false);
  $('#emg-reason').value = '';
  await openPatient(current.hid);
  say('danger', 'Emergency access is open. Every record you read is recorded and shown to the patient.');
}));

/* ---- print ------------------------------------------------------------ */

$('#print-btn').addEventListener('click', async () => {
  await printSummary($('#print-area'), {
    hid: current.hid, key: current.patient.key, records: current.records, states,
    registeredAt: await hospitalName(current.patient.hospital), printedBy: `${user.name}, ${myHospitalName}`,
  });
});

/* ---- add records ---------------------------------------------------------- */

$('#add-toggle').addEventListener('click', () => show('#add-box', $('#add-box').classList.contains('d-none')));
$$('[data-form]').forEach((b) => b.addEventListener('click', () => {
  $$('[data-form]').forEach((x) => x.classList.toggle('active', x === b));
  $$('.rec-form').forEach((f) => show(f, f.id === 'form-' + b.dataset.form));
}));
const today = P.today();
['#dx-date', '#lab-date', '#ds-discharged', '#doc-date'].forEach((s) => { $(s).value = today; });

function addMedRow() {
  const row = document.createElement('div');
  row.className = 'row g-1 mb-1 ds-med';
  row.innerHTML = `<div class="col-md-4"><input class="form-control form-control-sm" placeholder="Medicine" data-k="medicine"></div>
    <div class="col-3 col-md-1"><input class="form-control form-control-sm" type="number" min="0.25" step="0.25" value="1" data-k="dose" aria-label="dose"></div>
    <div class="col-4 col-md-2"><select class="form-select form-select-sm" data-k="unit" aria-label="unit"><option>tablet</option><option>capsule</option><option>mL</option><option>puff</option></select></div>
    <div class="col-5 col-md-3"><select class="form-select form-select-sm" data-k="frequency" aria-label="how often"><option value="1">once a day</option><option value="2" selected>twice a day</option><option value="3">three times a day</option></select></div>
    <div class="col-md-2"><input class="form-control form-control-sm" type="number" min="1" value="7" data-k="days" aria-label="days"></div>`;
  $('#ds-meds').appendChild(row);
}
addMedRow();
$('#ds-add-med').addEventListener('click', addMedRow);

function base() {
  return { hid: current.hid, author: user.name, hospitalName: myHospitalName };
}
function need(sel, what) {
  const v = $(sel).value.trim();
  if (!v) throw new Error(`Fill in ${what}.`);
  return v;
}

async function addRecord(button, build) {
  if (!current) return;
  let fhir;
  let extra = {};
  try {
    const b = await build();
    fhir = b.fhir;
    extra = b.extra || {};
  } catch (e) {
    say('warning', e.message);
    return;
  }
  await busy(button, async () => {
    const r = await api('v1/ui/records', { method: 'POST', body: Object.assign({ patient: current.hid, fhir }, extra) });
    if (r.verdict && r.verdict !== 'ok') {
      say('danger', `The ledger refused the record (${r.verdict.replace(/_/g, ' ')}).`);
      return;
    }
    say('success', `${P.HI_LABELS[r.hi_type] || 'Record'} added for ${current.hid} (block ${r.height}). It is encrypted; only the patient, ${myHospitalName} and those the patient allows can read it.`);
    await openPatient(current.hid).catch((e) => say('danger', friendly(e)));
  });
}

$('#form-rx').addEventListener('submit', (ev) => {
  ev.preventDefault();
  addRecord(ev.submitter, () => ({ fhir: F.prescription(Object.assign(base(), {
    medicine: need('#rx-medicine', 'the medicine'), dose: need('#rx-dose', 'the dose'), unit: $('#rx-unit').value,
    frequency: $('#rx-frequency').value, days: need('#rx-days', 'the number of days'), route: $('#rx-route').value,
    advice: $('#rx-advice').value.trim(), date: today,
  })), extra: { hi_type: 'Prescription', date: today } }));
});
$('#form-dx').addEventListener('submit', (ev) => {
  ev.preventDefault();
  addRecord(ev.submitter, () => {
    const date = need('#dx-date', 'the date');
    return { fhir: F.diagnosis(Object.assign(base(), { diagnosis: need('#dx-diagnosis', 'the diagnosis'), icd: $('#dx-icd').value.trim(), status: $('#dx-status').value, note: $('#dx-note').value.trim(), date })), extra: { hi_type: 'OPConsultation', date } };
  });
});
$('#form-lab').addEventListener('submit', (ev) => {
  ev.preventDefault();
  addRecord(ev.submitter, () => {
    const date = need('#lab-date', 'the date');
    const value = need('#lab-value', 'the result');
    if (Number.isNaN(Number(value))) throw new Error('The result must be a number.');
    return { fhir: F.labResult(Object.assign(base(), { test: need('#lab-test', 'the test'), value, unit: need('#lab-unit', 'the unit'), low: $('#lab-low').value, high: $('#lab-high').value, date })), extra: { hi_type: 'DiagnosticReport', date } };
  });
});
$('#form-ds').addEventListener('submit', (ev) => {
  ev.preventDefault();
  addRecord(ev.submitter, () => {
    const admitted = need('#ds-admitted', 'the admission date');
    const discharged = need('#ds-discharged', 'the discharge date');
    if (discharged < admitted) throw new Error('The discharge date is before the admission date.');
    const meds = $$('.ds-med').map((row) => Object.fromEntries($$('[data-k]', row).map((i) => [i.dataset.k, i.value.trim()])));
    return { fhir: F.dischargeSummary(Object.assign(base(), { admitted, discharged, diagnosis: need('#ds-diagnosis', 'the diagnosis'), icd: $('#ds-icd').value.trim(), course: $('#ds-course').value.trim(), advice: $('#ds-advice').value.trim(), meds })), extra: { hi_type: 'DischargeSummary', date: discharged } };
  });
});
$('#form-doc').addEventListener('submit', (ev) => {
  ev.preventDefault();
  addRecord(ev.submitter, async () => {
    const file = $('#doc-file').files[0];
    if (!file) throw new Error('Choose the file to upload.');
    if (file.size > 500 * 1024) throw new Error('This file is larger than 500 KB. Scan it at a lower resolution or as a PDF.');
    const date = need('#doc-date', 'the date');
    await P.ready();
    const data = P.b64std(await readBytes(file));
    return { fhir: F.documentUpload(Object.assign(base(), { kind: $('#doc-kind').value, description: $('#doc-description').value.trim(), date, fileName: file.name, contentType: file.type, data, size: file.size })), extra: { hi_type: 'HealthDocumentRecord', date } };
  });
});

/* Deep link: doctor.html#hid=XXXX-XXXX-XXXX-C */
const m = /hid=([0-9A-Za-z-]+)/.exec(location.hash);
if (m) {
  $('#hid-input').value = m[1];
  if (checkTyped()) await openPatient(P.parseHealthId(m[1]).id);
}
