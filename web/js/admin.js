/* Admin: node and consortium status, member hospitals, staff enrolment
 * (POST /v1/ui/staff, signed by the hospital key on the node), and a block
 * explorer whose transaction view checks the Merkle inclusion proof in the
 * browser (RFC 9162) against the block's tx root. */
import * as P from './parcha.js';
import { $, $$, api, busy, esc, fmtTime, friendly, guardPage, hospitals, nodeBadge, requireStaff, say } from './app.js';

guardPage();
const user = await requireStaff(['admin']);
await P.ready();

async function loadStatus() {
  const st = await nodeBadge();
  if (!st) {
    $('#status-box').textContent = 'The node cannot be reached.';
    return;
  }
  $('#status-box').innerHTML = `<dl class="row mb-0 small">
    <dt class="col-5">Network</dt><dd class="col-7">${esc(st.network)}</dd>
    <dt class="col-5">This node&rsquo;s hospital</dt><dd class="col-7">${esc(st.hospital)}</dd>
    <dt class="col-5">Hosts</dt><dd class="col-7">${esc((st.hosted || []).join(', '))}</dd>
    <dt class="col-5">Ledger height</dt><dd class="col-7">${esc(st.height)}</dd>
    <dt class="col-5">Head block</dt><dd class="col-7 mono">${esc(st.head)}</dd>
    <dt class="col-5">Transactions</dt><dd class="col-7">${esc(st.txs)}</dd>
    <dt class="col-5">Waiting (mempool)</dt><dd class="col-7">${esc(st.mempool)}</dd>
    <dt class="col-5">Ordering</dt><dd class="col-7">${esc(st.orderer)}</dd>
    <dt class="col-5">Version</dt><dd class="col-7">${esc(st.version)}</dd></dl>`;
  const hs = await hospitals();
  $('#hospital-rows').innerHTML = hs.map((h) => `<tr><td>${esc(h.name)}<div class="small text-muted">${esc(h.id)} \u00b7 ${esc(h.endpoint)}</div></td><td>${esc(h.staff ?? '')}</td><td><span class="badge ${h.status === 'active' ? 'text-bg-success' : 'text-bg-warning'}">${esc(h.status)}</span></td></tr>`).join('');
  const mine = hs.find((h) => h.id === user.hospital);
  $('#my-hospital').textContent = mine ? mine.name : user.hospital;
  $$('.my-hospital-name').forEach((e) => { e.textContent = mine ? mine.name : user.hospital; });
}

async function loadStaff() {
  const list = await api(`v1/staff?hospital=${encodeURIComponent(user.hospital)}`);
  $('#staff-rows').innerHTML = list.map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.role)}</td><td>${esc(s.regno)}</td><td>${esc(s.status)}</td></tr>`).join('');
}

$('#enrol-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const body = {
    name: $('#e-name').value.trim(), role: $('#e-role').value, regno: $('#e-regno').value.trim(),
    username: $('#e-username').value.trim(), password: $('#e-password').value,
  };
  if (!body.name || !body.regno || !body.username) return say('warning', 'Fill in the name, registration number and username.');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(body.username)) return say('warning', 'A username may use letters, digits, dots, dashes and underscores only.');
  if (body.password.length < 10) return say('warning', 'The first password must have at least 10 characters.');
  busy($('#enrol-btn'), async () => {
    const r = await api('v1/ui/staff', { method: 'POST', body });
    $('#enrol-form').reset();
    say('success', `${body.name} is enrolled as ${body.role} (block ${r.height}). They can log in as \u201c${body.username}\u201d now.`);
    await loadStaff();
  });
});

/* ---- explorer ------------------------------------------------------------ */

let oldest = null;
async function loadBlocks(from) {
  const q = from !== undefined ? `?from=${from}&limit=15` : '?limit=15';
  const r = await api(`v1/blocks${q}`);
  const list = r.blocks || [];
  if (from === undefined) $('#block-list').innerHTML = '';
  for (const b of list) {
    const a = document.createElement('button');
    a.type = 'button';
    a.className = 'list-group-item list-group-item-action';
    a.dataset.height = b.height;
    a.innerHTML = `<div class="d-flex justify-content-between"><strong>Block ${esc(b.height)}</strong><span class="small">${esc(fmtTime(b.header.time))}</span></div><div class="small text-muted">${esc(b.ntx ?? b.header.count)} transaction(s) \u00b7 proposed by ${esc(b.header.proposer)}</div><div class="mono small text-muted">${esc(b.hash.slice(0, 24))}\u2026</div>`;
    a.addEventListener('click', () => showBlock(b.height).catch((e) => say('danger', friendly(e))));
    $('#block-list').appendChild(a);
  }
  oldest = list.length ? list[list.length - 1].height : oldest;
  $('#blocks-older').disabled = !list.length || oldest === 0;
}

let currentBlock = null;
async function showBlock(h) {
  const b = await api(`v1/blocks/${h}`);
  currentBlock = b;
  $$('#block-list .list-group-item').forEach((x) => x.classList.toggle('active', Number(x.dataset.height) === h));
  $('#tx-detail').innerHTML = '';
  $('#block-detail').innerHTML = `<div class="fw-semibold mb-1">Block ${esc(b.height)}</div>
    <div class="mono">hash ${esc(b.hash)}</div><div class="mono">prev ${esc(b.header.prev)}</div><div class="mono">tx root ${esc(b.header.txroot)}</div>
    <table class="table table-sm mt-2"><thead><tr><th>#</th><th>Type</th><th>Verdict</th><th></th></tr></thead><tbody>${
    (b.txs || []).map((t, i) => `<tr><td>${i}</td><td>${esc(t.type)}</td><td><span class="badge ${t.verdict === 'ok' ? 'text-bg-success' : 'text-bg-warning'}">${esc(t.verdict)}</span></td><td><button class="btn btn-sm btn-outline-secondary tx-open" data-txid="${esc(t.txid)}" type="button">Check proof</button></td></tr>`).join('')}</tbody></table>`;
  $$('.tx-open').forEach((btn) => btn.addEventListener('click', () => busy(btn, () => showTx(btn.dataset.txid))));
}

async function showTx(txid) {
  const [t, raw] = await Promise.all([api(`v1/tx/${txid}`), api(`v1/tx/${txid}/raw`)]);
  const proofOk = P.txProofVerify(t);
  const rootMatches = currentBlock && t.proof && t.proof.root === currentBlock.header.txroot;
  const idOk = P.txId(raw) === txid;
  const sigOk = P.txVerify(raw);
  const line = (ok, yes, no) => `<li class="${ok ? 'text-success' : 'text-danger'}">${ok ? '\u2713' : '\u2717'} ${ok ? yes : no}</li>`;
  $('#tx-detail').innerHTML = `<div class="card"><div class="card-body small">
    <div class="fw-semibold">${esc(t.type)} \u2014 verdict <span class="badge ${t.verdict === 'ok' ? 'text-bg-success' : 'text-bg-warning'}">${esc(t.verdict)}</span></div>
    <div class="mono">txid ${esc(txid)}</div>
    <div>block ${esc(t.height)}, position ${esc(t.index)} of ${esc(t.proof ? t.proof.size : '?')}, ${esc(fmtTime(t.time))}</div>
    <ul class="list-unstyled mt-2 mb-2" id="proof-result">
      ${line(proofOk, `Merkle inclusion proof checked in this browser (RFC 9162, ${t.proof ? t.proof.path.length : 0} hash${t.proof && t.proof.path.length === 1 ? '' : 'es'})`, 'Merkle inclusion proof does NOT check out')}
      ${line(rootMatches, 'proof root equals the block\u2019s tx root', 'proof root differs from the block\u2019s tx root')}
      ${line(idOk, 'txid recomputed here from the canonical JSON', 'txid does not match the transaction bytes')}
      ${line(sigOk, `${(raw.sigs || []).length} signature(s) verified here (Ed25519, domain parcha/tx/v1)`, 'a signature does not verify')}
    </ul>
    <details><summary>Transaction body</summary><pre class="mono small mb-0">${esc(JSON.stringify(raw.body, null, 2))}</pre></details>
  </div></div>`;
}

$('#blocks-refresh').addEventListener('click', () => busy($('#blocks-refresh'), () => loadBlocks()));
$('#blocks-older').addEventListener('click', () => busy($('#blocks-older'), () => loadBlocks(Math.max(0, oldest - 1))));

await loadStatus();
await Promise.all([loadStaff(), loadBlocks()]);
