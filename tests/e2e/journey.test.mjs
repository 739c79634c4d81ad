// The whole journey through the web UI, in Debian's Chromium driven by
// playwright-core, against a real parchad serving a fresh `parcha demo`
// folder on 127.0.0.1 with a free port:
//   register a patient (key made in the browser) -> doctor A adds records
//   through the forms -> doctor B (another hospital) is refused -> the
//   patient grants access in the portal -> B sees the timeline -> the patient
//   revokes -> B is refused again -> B opens an emergency -> it shows in the
//   patient's access log, highlighted; plus the admin page (status, staff
//   enrolment, a Merkle proof checked in the browser), the printable summary,
//   QR from the C tool's card, a record sealed by `parcha record add` opened in
//   the browser, a browser-signed consent accepted by the C node, and the
//   error shown when the node is unreachable.
// Screenshots (and the summary as an A4 PDF) go to $E2E_OUT/screenshots.
//   env: PARCHAD, PARCHA (binaries), E2E_OUT (output folder)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '../../web');
const { chromium } = await import(path.join(web, 'node_modules/playwright-core/index.mjs'));
const P = await import(path.join(web, 'js/parcha.js'));
await P.ready(() => import(path.join(web, 'vendor/libsodium-wrappers-sumo.js')));

const PARCHAD = process.env.PARCHAD;
const PARCHA = process.env.PARCHA;
const OUT = process.env.E2E_OUT || path.join(tmpdir(), 'parcha-e2e');
const SHOTS = path.join(OUT, 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let work, dir, node, base, browser, index;
let nodeLog = [];
const S = {}; // state passed between steps

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function startNode(env = {}) {
  rmSync(path.join(dir, 'parchad.port'), { force: true });
  const log = [];
  nodeLog = log;
  node = spawn(PARCHAD, ['--data', dir, '--listen', '127.0.0.1:0', '--web', web], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  node.stderr.on('data', (d) => log.push(String(d)));
  node.stdout.on('data', (d) => log.push(String(d)));
  const t0 = Date.now();
  while (Date.now() - t0 < 30000) {
    if (node.exitCode !== null) throw new Error('parchad exited early:\n' + log.join(''));
    if (existsSync(path.join(dir, 'parchad.port')) && /parchad ready on (http:\/\/\S+)/.test(log.join(''))) {
      base = /parchad ready on (http:\/\/\S+)/.exec(log.join(''))[1];
      return;
    }
    await sleep(50);
  }
  throw new Error('parchad did not become ready in 30 s:\n' + log.join(''));
}

async function stopNode() {
  if (!node || node.exitCode !== null) return;
  const done = new Promise((r) => node.once('exit', r));
  node.kill('SIGTERM');
  await Promise.race([done, sleep(15000)]);
  if (node.exitCode === null) node.kill('SIGKILL');
}

async function getJson(p) {
  const r = await fetch(base + p);
  return r.json();
}

function staff(role, hospital) {
  const s = index.staff.find((x) => x.role === role && x.hospital === hospital);
  assert.ok(s, `demo has a ${role} at ${hospital}`);
  return { username: s.username, password: readFileSync(s.pass_file, 'utf8').split('\n')[0], name: s.name, key: s.public };
}

async function newPage(viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  await ctx.addInitScript(() => { window.print = () => {}; });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.errors.push(m.text()); });
  return page;
}

async function login(page, who, next) {
  await page.goto(`${base}/login.html?next=${next}`);
  await page.fill('#username', who.username);
  await page.fill('#password', who.password);
  await page.click('#login-btn');
  await page.waitForURL((u) => u.pathname.endsWith('/' + next));
  await page.waitForSelector('#whoami #logout');
}

async function shot(page, name, full = true) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: full });
}

async function timelineSettled(page) {
  await page.waitForSelector('#timeline .tl-item, #timeline .text-muted');
  await page.waitForFunction(() => !document.querySelector('#timeline [data-state=loading]'), null, { timeout: 60000 });
}

async function counts(page) {
  return page.evaluate(() => ({
    open: document.querySelectorAll('#timeline [data-state=open]').length,
    locked: document.querySelectorAll('#timeline [data-state=locked]').length,
    error: document.querySelectorAll('#timeline [data-state=error]').length,
  }));
}

async function alerts(page) {
  return page.$eval('#alerts', (e) => e.innerText);
}

/* Wait for selector; on time-out fail with what the page says instead. */
async function expectSelector(page, selector, timeout = 30000) {
  try {
    await page.waitForSelector(selector, { timeout });
  } catch (e) {
    const said = await page.$eval('#alerts', (x) => x.innerText).catch(() => '(no message area)');
    throw new Error(`${selector} did not appear within ${timeout} ms; the page says: ${said || '(nothing)'}; page errors: ${JSON.stringify(page.errors)}`);
  }
}

/* Run action on the doctor page and wait until the patient load it starts
 * has finished (doctor.js counts finished loads in body[data-loads]). */
async function afterLoad(page, action) {
  const before = await page.evaluate(() => Number(document.body.dataset.loads || 0));
  await action();
  await page.waitForFunction((b) => Number(document.body.dataset.loads || 0) > b, before, { timeout: 60000 });
}

async function findPatient(page, hid) {
  await page.fill('#hid-input', hid);
  await afterLoad(page, () => page.click('#find-btn'));
  await expectSelector(page, '#patient-view:not(.d-none)');
  await timelineSettled(page);
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'parcha-e2e-'));
  dir = path.join(work, 'demo');
  execFileSync(PARCHA, ['demo', '--data', dir, '--patients', '12', '--listen', '127.0.0.1:0'], { stdio: 'pipe' });
  index = JSON.parse(readFileSync(path.join(dir, 'demo-keys/index.json'), 'utf8'));
  await startNode();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  S.clerk = staff('clerk', 'city-general');
  S.docA = staff('doctor', 'city-general');
  S.docB = staff('doctor', 'sunrise-clinic');
  S.admin = staff('admin', 'city-general');
});

after(async () => {
  if (browser) await browser.close();
  await stopNode();
  if (work && process.exitCode !== 1) rmSync(work, { recursive: true, force: true });
});

test('the web UI journey', async (t) => {
  await t.test('home page; the doctor page is light (libsodium and the QR libraries load only when needed)', async () => {
    const page = await newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#node-facts strong');
    assert.match(await page.textContent('#node-facts'), /City General Hospital/);
    await shot(page, '00-home');
    await login(page, S.docA, 'doctor.html');
    const pending = [];
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (!u.pathname.startsWith('/v1/'))
        pending.push(r.body().then((b) => ({ path: u.pathname, bytes: b.length }), () => ({ path: u.pathname, bytes: 0 })));
    });
    await page.reload();
    await page.waitForSelector('#whoami #logout');
    await page.waitForLoadState('networkidle');
    const files = await Promise.all(pending);
    const total = files.reduce((a, f) => a + f.bytes, 0);
    console.log(`doctor page static files: ${files.length}, ${total} bytes before compression`);
    assert.ok(!files.some((f) => /libsodium|jsQR|qrcode/.test(f.path)), 'no crypto or QR library on first load');
    assert.ok(total < 400 * 1024, `doctor page is ${total} bytes`);
  });

  await t.test('staff log-in: wrong password in words, cookie HttpOnly + SameSite=Strict', async () => {
    const page = await newPage();
    await page.goto(`${base}/login.html`);
    await shot(page, '01-login');
    await page.fill('#username', S.clerk.username);
    await page.fill('#password', 'not the password');
    await page.click('#login-btn');
    await page.waitForSelector('#alerts .alert-danger');
    assert.match(await alerts(page), /Wrong username or password/);
    await login(page, S.clerk, 'register.html');
    const cookies = await page.context().cookies();
    const c = cookies.find((x) => x.name === 'parcha_session');
    assert.ok(c && c.httpOnly && c.sameSite === 'Strict', 'session cookie is HttpOnly and SameSite=Strict');
    assert.equal(await page.evaluate(() => document.cookie.includes('parcha_session')), false, 'page script cannot read the cookie');
    // A state-changing call without the CSRF token is refused.
    const r = await page.evaluate(async () => (await fetch('/v1/ui/emergency', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status);
    assert.equal(r, 403);
    S.clerkPage = page;
  });

  await t.test('registration desk: key made in the browser, key file, card; the node never sees the private key', async () => {
    const page = S.clerkPage;
    const bodies = [];
    page.on('request', (req) => { if (req.postData()) bodies.push(req.postData()); });
    S.patientPass = 'monsoon mango lassi 42';
    await page.fill('#p-name', 'Meera Nair');
    await page.fill('#p-pass', S.patientPass);
    await page.fill('#p-pass2', S.patientPass);
    await page.click('#reg-btn');
    await expectSelector(page, '#reg-done:not(.d-none)', 60000);
    S.hid = (await page.textContent('#done-hid')).trim();
    assert.ok(P.parseHealthId(S.hid).ok, `Health ID ${S.hid} is well formed`);
    assert.ok(await page.$('#card-qr svg'), 'card has a QR code');
    assert.equal((await page.textContent('#card-hid')).trim(), S.hid);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-key')]);
    S.keyPath = path.join(work, 'meera.parcha-key.json');
    await dl.saveAs(S.keyPath);
    const kf = JSON.parse(readFileSync(S.keyPath, 'utf8'));
    assert.equal(kf.kind, 'parcha-key');
    assert.equal(kf.kdf.alg, 'argon2id13');
    const kp = P.keyfileOpen(kf, S.patientPass);
    assert.equal(P.healthId(kp.pk), S.hid);
    const secrets = [P.b64u(kp.sk), P.b64u(kp.sk.slice(0, 32)), P.b64std(kp.sk)];
    for (const b of bodies) for (const s of secrets) assert.ok(!b.includes(s), 'no request carried the private key');
    // The C node accepted the browser-signed registration.
    const pat = await getJson(`/v1/patients/${S.hid}`);
    assert.equal(pat.key, P.b64u(kp.pk));
    assert.equal(pat.hospital, 'city-general');
    await shot(page, '02-registration-desk');
    // A camera's view of this card, as a Y4M video for Chromium's fake camera.
    const y4m = await page.evaluate(async () => {
      const svg = document.querySelector('#card-qr svg').outerHTML;
      const img = new Image();
      img.src = 'data:image/svg+xml;base64,' + btoa(svg);
      await img.decode();
      const W = 640, H = 480;
      const c = document.createElement('canvas');
      c.width = W;
      c.height = H;
      const x = c.getContext('2d');
      x.fillStyle = '#fff';
      x.fillRect(0, 0, W, H);
      x.drawImage(img, 170, 90, 300, 300);
      const d = x.getImageData(0, 0, W, H).data;
      const frame = new Uint8Array(W * H * 3 / 2).fill(128);
      for (let i = 0; i < W * H; i++) frame[i] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]);
      const enc = new TextEncoder();
      const head = enc.encode(`YUV4MPEG2 W${W} H${H} F5:1 Ip A1:1 C420jpeg\n`);
      const fr = enc.encode('FRAME\n');
      const all = new Uint8Array(head.length + 2 * (fr.length + frame.length));
      all.set(head, 0);
      let k = head.length;
      for (let n = 0; n < 2; n++) { all.set(fr, k); k += fr.length; all.set(frame, k); k += frame.length; }
      let bin = '';
      for (let i = 0; i < all.length; i += 0x8000) bin += String.fromCharCode.apply(null, all.subarray(i, i + 0x8000));
      return btoa(bin);
    });
    S.cameraVideo = path.join(work, 'card.y4m');
    writeFileSync(S.cameraVideo, Buffer.from(y4m, 'base64'));
    S.qrPng = path.join(work, 'card-qr.png');
    writeFileSync(S.qrPng, await page.locator('#card-qr').screenshot());
    await page.evaluate(() => { document.body.classList.add('printing-card'); });
    await page.emulateMedia({ media: 'print' });
    assert.ok(await page.isVisible('#patient-card'), 'the card prints');
    assert.ok(!(await page.isVisible('#dl-key')), 'buttons do not print');
    await shot(page, '02b-patient-card-print', false);
    await page.pdf({ path: path.join(SHOTS, '02c-patient-card.pdf'), format: 'A4', printBackground: true });
    await page.evaluate(() => { document.body.classList.remove('printing-card'); });
    await page.emulateMedia({ media: 'screen' });
  });

  await t.test('doctor: typo caught, QR from the C card, records added through forms', async () => {
    const page = await newPage();
    await login(page, S.docA, 'doctor.html');
    // A single mistyped character is caught before asking the node.
    const typo = S.hid.slice(0, 2) + (S.hid[2] === 'A' ? 'B' : 'A') + S.hid.slice(3);
    await page.fill('#hid-input', typo);
    await page.click('#find-btn');
    await page.waitForSelector('#hid-input.is-invalid');
    assert.match(await page.textContent('#hid-feedback'), /typo|mistyped|check character/i);
    // The card the C tool drew (SVG) read by the browser's QR scanner.
    const demoPatient = index.patients[0];
    await page.setInputFiles('#qr-file', demoPatient.card);
    await page.waitForFunction((h) => document.querySelector('#pv-hid') && document.querySelector('#pv-hid').textContent === h, demoPatient.health_id, { timeout: 30000 });
    await timelineSettled(page);
    // Now our new patient: no records yet.
    await findPatient(page, S.hid);
    assert.equal((await counts(page)).open, 0);
    await page.click('#add-toggle');
    await page.fill('#rx-medicine', 'Metformin 500 mg tablet');
    await page.fill('#rx-dose', '1');
    await page.selectOption('#rx-frequency', '2');
    await page.fill('#rx-days', '30');
    await page.fill('#rx-advice', 'after meals');
    await afterLoad(page, () => page.click('#form-rx button[type=submit]'));
    await page.waitForFunction(() => document.querySelectorAll('#timeline [data-state=open]').length === 1, null, { timeout: 30000 });
    await page.click('[data-form=dx]');
    await page.fill('#dx-diagnosis', 'Type 2 diabetes mellitus');
    await page.fill('#dx-icd', 'E11.9');
    await afterLoad(page, () => page.click('#form-dx button[type=submit]'));
    await page.waitForFunction(() => document.querySelectorAll('#timeline [data-state=open]').length === 2, null, { timeout: 30000 });
    await page.click('[data-form=lab]');
    await page.fill('#lab-test', 'HbA1c');
    await page.fill('#lab-value', '8.1');
    await page.fill('#lab-unit', '%');
    await page.fill('#lab-low', '4');
    await page.fill('#lab-high', '5.6');
    await afterLoad(page, () => page.click('#form-lab button[type=submit]'));
    await page.waitForFunction(() => document.querySelectorAll('#timeline [data-state=open]').length === 3, null, { timeout: 30000 });
    await page.click('[data-form=ds]');
    await page.fill('#ds-admitted', '2026-01-10');
    await page.fill('#ds-discharged', '2026-01-14');
    await page.fill('#ds-diagnosis', 'Dengue fever');
    await page.fill('#ds-course', 'Admitted with fever and low platelets; recovered with fluids.');
    await page.fill('.ds-med [data-k=medicine]', 'Paracetamol 650 mg tablet');
    await afterLoad(page, () => page.click('#form-ds button[type=submit]'));
    await page.waitForFunction(() => document.querySelectorAll('#timeline [data-state=open]').length === 4, null, { timeout: 30000 });
    const text = await page.textContent('#timeline');
    assert.match(text, /Metformin 500 mg tablet/);
    assert.match(text, /twice a day/);
    assert.match(text, /30 days/);
    assert.match(text, /Type 2 diabetes mellitus/);
    assert.match(text, /HbA1c/);
    assert.match(text, /4[–-]5\.6 %/);
    assert.match(text, /Hospital course/);
    assert.match(text, /Paracetamol 650 mg tablet/);
    // A document upload (a picture), shown with a preview.
    await page.click('[data-form=doc]');
    await page.fill('#doc-description', 'Photo of the patient card');
    await page.setInputFiles('#doc-file', S.qrPng);
    await afterLoad(page, () => page.click('#form-doc button[type=submit]'));
    await page.waitForFunction(() => document.querySelectorAll('#timeline [data-state=open]').length === 5, null, { timeout: 30000 });
    assert.ok(await page.$('#timeline img.doc-preview'), 'uploaded picture previewed');
    assert.match(await page.textContent('#timeline'), /Photo of the patient card/);
    await page.click('#add-toggle');
    // Filters by record type and by date.
    await page.selectOption('#f-type', 'Prescription');
    assert.equal(await page.$$eval('#timeline .tl-item', (x) => x.length), 1);
    await page.selectOption('#f-type', '');
    await page.fill('#f-from', '2026-01-01');
    await page.fill('#f-to', '2026-01-31');
    await page.dispatchEvent('#f-to', 'change');
    assert.equal(await page.$$eval('#timeline .tl-item', (x) => x.length), 1);
    assert.match(await page.textContent('#timeline'), /Dengue fever/);
    await page.click('#f-clear');
    assert.equal(await page.$$eval('#timeline .tl-item', (x) => x.length), 5);
    await shot(page, '03-doctor-timeline');
    // Tablet portrait.
    await page.setViewportSize({ width: 768, height: 1024 });
    await shot(page, '03b-doctor-tablet', false);
    await page.setViewportSize({ width: 1280, height: 900 });
    // The printable summary on A4.
    await page.click('#print-btn');
    await page.emulateMedia({ media: 'print' });
    await shot(page, '08-summary-print');
    await page.pdf({ path: path.join(SHOTS, '08-summary-A4.pdf'), format: 'A4', printBackground: true });
    assert.match(await page.textContent('#print-area'), /Metformin 500 mg tablet/);
    await page.emulateMedia({ media: 'screen' });
    assert.deepEqual(page.errors, []);
    S.docAPage = page;
  });

  await t.test('a record sealed by the C tool (parcha record add) is added', async () => {
    const fhir = {
      resourceType: 'MedicationRequest', status: 'active', intent: 'order',
      medicationCodeableConcept: { text: 'Amlodipine 5 mg tablet' },
      subject: { reference: `Patient/${S.hid}` }, authoredOn: '2026-02-01',
      dosageInstruction: [{ text: '1 tablet once a day', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } }, doseAndRate: [{ doseQuantity: { value: 1, unit: 'tablet' } }] }],
    };
    const f = path.join(work, 'amlodipine.json');
    writeFileSync(f, JSON.stringify(fhir));
    const s = index.staff.find((x) => x.username === S.docA.username);
    execFileSync(PARCHA, ['record', 'add', '--patient', S.hid, '--fhir', f, '--author', s.key_file, '--pass-file', s.pass_file, '--node', base], { stdio: 'pipe' });
  });

  await t.test('a second hospital is refused (records locked with a request-access hint)', async () => {
    const page = await newPage();
    await login(page, S.docB, 'doctor.html');
    await findPatient(page, S.hid);
    const c = await counts(page);
    assert.equal(c.open, 0);
    assert.equal(c.locked, 6);
    assert.match(await page.textContent('#timeline'), /request access/i);
    // The node refuses too (not only the page's prediction).
    const status = await page.evaluate(async (h) => {
      const tl = await (await fetch(`/v1/patients/${h}/timeline`)).json();
      return (await fetch(`/v1/ui/records/${tl.records[0].id}/content`)).status;
    }, S.hid);
    assert.equal(status, 403);
    await shot(page, '04-doctor-b-refused');
    S.docBPage = page;
  });

  await t.test('patient portal: wrong passphrase in words; own records (incl. the C-sealed one) open in the browser; grant access', async () => {
    const page = await newPage();
    await page.goto(`${base}/portal.html`);
    await page.setInputFiles('#keyfile', S.keyPath);
    await page.fill('#passphrase', 'wrong passphrase');
    await page.click('#unlock-btn');
    await page.waitForSelector('#alerts .alert-danger', { timeout: 30000 });
    assert.match(await alerts(page), /Wrong passphrase/);
    await page.fill('#passphrase', S.patientPass);
    await page.click('#unlock-btn');
    await page.waitForSelector('#me:not(.d-none)', { timeout: 30000 });
    await timelineSettled(page);
    const c = await counts(page);
    assert.equal(c.open, 6, 'all six records open for the patient');
    assert.match(await page.textContent('#timeline'), /Amlodipine 5 mg tablet/, 'record sealed by the C tool decrypted in the browser');
    await shot(page, '05-portal-records');
    await page.click('[data-tab=consents]');
    await page.selectOption('#g-kind', 'hospital');
    await page.selectOption('#g-hospital', 'sunrise-clinic');
    await page.click('#grant-btn');
    await page.waitForSelector('#consent-rows tr[data-grant] .revoke', { timeout: 30000 });
    await shot(page, '06-portal-consents');
    // The consent signed in the browser was accepted by the C node.
    const consents = await getJson(`/v1/patients/${S.hid}/consents`);
    const g = consents.find((x) => x.grantee.hospital === 'sunrise-clinic');
    assert.ok(g && g.active, 'grant is active on the ledger');
    const tx = await getJson(`/v1/tx/${g.txid}`);
    assert.equal(tx.verdict, 'ok');
    assert.equal(tx.type, 'consent.grant');
    S.portal = page;
  });

  await t.test('after the grant the second hospital sees the whole timeline', async () => {
    const page = S.docBPage;
    await findPatient(page, S.hid);
    const c = await counts(page);
    assert.equal(c.open, 6);
    assert.equal(c.locked, 0);
    assert.match(await page.textContent('#timeline'), /with the patient.s consent/);
    await shot(page, '07-doctor-b-with-consent');
  });

  await t.test('the patient revokes; the second hospital is refused again', async () => {
    const page = S.portal;
    await page.click('#consent-rows .revoke');
    await page.waitForFunction(() => !document.querySelector('#consent-rows .revoke'), null, { timeout: 30000 });
    assert.match(await page.textContent('#consent-rows'), /revoked/);
    const b = S.docBPage;
    await findPatient(b, S.hid);
    const c = await counts(b);
    assert.equal(c.open, 0);
    assert.equal(c.locked, 6);
    assert.match(await b.textContent('#timeline'), /consent revoked/);
  });

  await t.test('a grant to one doctor for one kind of record covers only that', async () => {
    const page = S.portal;
    await page.selectOption('#g-kind', 'staff');
    await page.selectOption('#g-staff', S.docB.key);
    await page.uncheck('#g-all');
    await page.check('#gt-Prescription');
    await page.selectOption('#g-purpose', 'CAREMGT');
    await page.click('#grant-btn');
    await page.waitForSelector('#consent-rows .revoke', { timeout: 30000 });
    const b = S.docBPage;
    await findPatient(b, S.hid);
    const c = await counts(b);
    assert.equal(c.open, 2, 'the two prescriptions');
    assert.equal(c.locked, 4);
    assert.match(await b.textContent('#timeline'), /does not cover this kind of record|does not cover this record type/);
    await page.click('#consent-rows .revoke');
    await page.waitForFunction(() => !document.querySelector('#consent-rows .revoke'), null, { timeout: 30000 });
  });

  await t.test('emergency opening: banner with expiry, records open, highlighted in the access log', async () => {
    const b = S.docBPage;
    await b.click('#emg-toggle');
    await b.fill('#emg-reason', 'Unconscious after a road accident, brought to casualty');
    await b.selectOption('#emg-hours', '2');
    await afterLoad(b, () => b.click('#emg-btn'));
    await expectSelector(b, '#emergency-banner:not(.d-none)');
    assert.match(await b.textContent('#emergency-banner'), /EMERGENCY ACCESS OPEN until/);
    await timelineSettled(b);
    const c = await counts(b);
    assert.equal(c.open, 6);
    assert.match(await b.textContent('#timeline'), /opened under emergency access/);
    await shot(b, '09-doctor-b-emergency');
    const p = S.portal;
    await p.click('[data-tab=log]');
    await p.waitForSelector('#log-rows tr.row-emergency', { timeout: 30000 });
    assert.match(await p.textContent('#emg-list'), /Emergency access is open/);
    assert.match(await p.textContent('#log-rows'), /EMERGENCY/);
    assert.match(await p.textContent('#log-rows'), new RegExp(S.docB.name.replace(/\./g, '\\.')));
    await shot(p, '10-portal-access-log');
    assert.deepEqual(p.errors, []);
  });

  await t.test('admin: status, hospitals, staff enrolment, Merkle proof checked in the browser', async () => {
    const page = await newPage();
    await login(page, S.admin, 'admin.html');
    await page.waitForSelector('#hospital-rows tr');
    assert.match(await page.textContent('#hospital-rows'), /Sunrise Multispeciality Clinic/);
    await page.click('#block-list .list-group-item');
    await page.waitForSelector('.tx-open');
    await page.click('.tx-open');
    await page.waitForSelector('#proof-result');
    const proof = await page.textContent('#proof-result');
    assert.match(proof, /✓ Merkle inclusion proof checked in this browser/);
    assert.doesNotMatch(proof, /✗/);
    await page.fill('#e-name', 'Dr. Kiran Rao');
    await page.selectOption('#e-role', 'doctor');
    await page.fill('#e-regno', 'MMC-2020-11111');
    await page.fill('#e-username', 'kiran.rao');
    await page.fill('#e-password', 'a long first password');
    await page.click('#enrol-btn');
    await page.waitForSelector('#alerts .alert-success', { timeout: 60000 });
    assert.match(await page.textContent('#staff-rows'), /Dr\. Kiran Rao/);
    await shot(page, '11-admin');
    const fresh = await newPage();
    await login(fresh, { username: 'kiran.rao', password: 'a long first password' }, 'doctor.html');
    assert.match(await fresh.textContent('#whoami'), /Kiran Rao/);
    assert.deepEqual(page.errors, []);
  });

  await t.test('doctor finds the patient by scanning the card with the camera', async () => {
    const cam = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
      args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${S.cameraVideo}`] });
    try {
      const ctx = await cam.newContext({ viewport: { width: 1280, height: 900 } });
      await ctx.grantPermissions(['camera'], { origin: base });
      const page = await ctx.newPage();
      await login(page, S.docA, 'doctor.html');
      await page.click('#scan-btn');
      await page.waitForFunction((h) => document.querySelector('#pv-hid') && document.querySelector('#pv-hid').textContent === h, S.hid, { timeout: 30000 });
      assert.equal(await page.inputValue('#hid-input'), S.hid);
      await timelineSettled(page);
      await shot(page, '03c-doctor-found-by-camera', false);
    } finally {
      await cam.close();
    }
  });

  await t.test('a record whose custodian is down: words, and the other records still show', async () => {
    const page = S.docBPage; // emergency still open: every record readable
    const tl = await getJson(`/v1/patients/${S.hid}/timeline`);
    const victim = tl.records[0].id;
    await page.route(`**/v1/ui/records/${victim}/content`, (route) => route.fulfill({
      status: 503, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'unavailable', message: 'hospital city-general (the custodian) did not answer' } }),
    }));
    await findPatient(page, S.hid);
    const c = await counts(page);
    assert.equal(c.error, 1);
    assert.equal(c.open, 5);
    assert.match(await page.textContent(`[data-record="${victim}"]`), /cannot be reached right now/);
    assert.match(await alerts(page), /City General Hospital.*not reachable/);
    await shot(page, '12b-custodian-down');
    await page.unroute(`**/v1/ui/records/${victim}/content`);
  });

  await t.test('errors in words: consent expired, node unreachable', async () => {
    // A demo consent that expired seconds after it was made: its grantee
    // sees "consent expired" on the records it no longer covers.
    let checked = false;
    for (const p of index.patients) {
      if (checked) break;
      const list = await getJson(`/v1/patients/${p.health_id}/consents`);
      for (const g of list) {
        if (g.revoked || g.active) continue;
        const reader = g.grantee.staff
          ? index.staff.find((x) => x.public === g.grantee.staff)
          : index.staff.find((x) => x.role === 'doctor' && x.hospital === g.grantee.hospital);
        if (!reader || !['doctor', 'nurse'].includes(reader.role)) continue;
        const tl = await getJson(`/v1/patients/${p.health_id}/timeline`);
        if (!tl.records.some((r) => r.custodian !== reader.hospital)) continue;
        const page = await newPage();
        await login(page, { username: reader.username, password: readFileSync(reader.pass_file, 'utf8').split('\n')[0] }, 'doctor.html');
        await findPatient(page, p.health_id);
        assert.match(await page.textContent('#timeline'), /consent expired/);
        assert.match(await page.textContent('#timeline'), /grant .* access in the patient portal again/);
        await shot(page, '12-consent-expired');
        checked = true;
        break;
      }
    }
    assert.ok(checked, 'the demo has an expired consent to show');
    const page = S.docAPage;
    await stopNode();
    assert.equal(node.exitCode, 0, 'parchad stopped cleanly on SIGTERM');
    assert.doesNotMatch(nodeLog.join(''), /Sanitizer|runtime error/, 'no sanitizer report from parchad');
    await page.fill('#hid-input', S.hid);
    await page.click('#find-btn');
    await page.waitForSelector('#alerts .alert-danger', { timeout: 30000 });
    assert.match(await alerts(page), /cannot be reached/);
    await shot(page, '13-node-unreachable', false);
  });

  await t.test('idle log-out: the page goes back to log-in and says why; the node dropped the session', async () => {
    await startNode({ PARCHA_UI_IDLE_S: '3' });
    const page = await newPage();
    await login(page, S.docA, 'doctor.html');
    await page.waitForURL((u) => u.pathname.endsWith('/login.html'), { timeout: 30000 });
    await page.waitForSelector('#alerts .alert-info');
    assert.match(await alerts(page), /logged out after 3 seconds without activity/);
    const st = await page.evaluate(async () => (await fetch('/v1/ui/session')).status);
    assert.equal(st, 401);
    await shot(page, '14-idle-logged-out', false);
  });
});
