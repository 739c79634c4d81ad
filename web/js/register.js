/* Registration desk: the patient's key pair is made here, locked into a key
 * file with the patient's passphrase (Argon2id + XChaCha20-Poly1305, the
 * keyfile.h format), patient.register is signed with it here and co-signed
 * by the node with the clerk's key (POST /v1/ui/register). The private key
 * never leaves the page and is wiped once the key file exists. */
import * as P from './parcha.js';
import { $, api, busy, download, esc, guardPage, hospitalName, nodeBadge, requireStaff, say, show } from './app.js';
import { qrSvg, QR_PREFIX } from './qr.js';

guardPage();
const status = await nodeBadge();
const user = await requireStaff(['clerk', 'admin']);
const sodiumReady = P.ready();
let keyfile = null;
let keyfileName = 'patient.parcha-key.json';

$('#reg-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('#p-name').value.trim();
  const pass = $('#p-pass').value;
  if (!name) return say('warning', 'Type the patient\u2019s name for the card.');
  if (pass.length < 8) return say('warning', 'The passphrase must have at least 8 characters.');
  if (pass !== $('#p-pass2').value) return say('warning', 'The two passphrases are not the same. Please type them again.');
  busy($('#reg-btn'), async () => {
    await sodiumReady;
    const net = status ? status.network : (await api('v1/status')).network;
    const kp = P.keyGenerate();
    let tx;
    try {
      keyfile = P.keyfileSeal(kp, name, pass);
      tx = P.txSign(P.txBuild(net, 'patient.register', { key: P.b64u(kp.pk), hospital: user.hospital }), kp);
    } finally {
      P.keyWipe(kp);
    }
    const r = await api('v1/ui/register', { method: 'POST', body: { tx } });
    if (r.verdict && r.verdict !== 'ok') {
      say('danger', `The ledger refused the registration (${r.verdict.replace(/_/g, ' ')}).`);
      return;
    }
    const pk = P.fromB64u(keyfile.public, 32);
    const hid = r.health_id || P.healthId(pk);
    keyfileName = `${hid}.parcha-key.json`;
    $('#p-pass').value = '';
    $('#p-pass2').value = '';
    $('#done-hid').textContent = hid;
    $('#done-tx').innerHTML = `Recorded on the ledger in block ${esc(r.height)} (transaction <span class="mono">${esc(String(r.txid).slice(0, 16))}\u2026</span>).`;
    $('#card-name').textContent = name;
    $('#card-hid').textContent = hid;
    $('#card-hosp').textContent = `Registered at ${await hospitalName(user.hospital)}`;
    $('#card-qr').innerHTML = await qrSvg(QR_PREFIX + keyfile.public, `public key of ${hid}`);
    show('#reg-step1', false);
    show('#reg-done', true);
    say('success', `${name} is registered. Health ID ${hid}. Now give the patient the key file and the card.`);
  });
});

$('#dl-key').addEventListener('click', () => {
  if (keyfile) download(keyfileName, JSON.stringify(keyfile, null, 2) + '\n');
});
$('#print-card').addEventListener('click', () => {
  document.body.classList.add('printing-card');
  window.print();
  setTimeout(() => document.body.classList.remove('printing-card'), 500);
});
$('#again').addEventListener('click', () => {
  keyfile = null;
  $('#reg-form').reset();
  show('#reg-done', false);
  show('#reg-step1', true);
});
