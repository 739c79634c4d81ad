// Unit tests of the browser library web/js/parcha.js, run by Node (no
// browser, no node server), and the cross-check against the C core through
// the xcheck program (tests/e2e/xcheck.c): values made in C open in JS and
// values made in JS open in C.
//   node --test tests/e2e/lib.test.mjs   (env XCHECK=<build>/tests/e2e/e2e_xcheck,
//                                         PARCHA_SHARED_DIR=<shared>)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '../../web');
const P = await import(path.join(web, 'js/parcha.js'));
await P.ready(() => import(path.join(web, 'vendor/libsodium-wrappers-sumo.js')));

const shared = process.env.PARCHA_SHARED_DIR || path.resolve(here, '../../../shared');
const xcheck = process.env.XCHECK;

test('JCS: RFC 8785 vectors canonicalise byte-for-byte; values.json is refused', () => {
  const dir = path.join(shared, 'testdata/jcs');
  const names = readdirSync(path.join(dir, 'input'));
  assert.ok(names.length >= 6, 'JCS vectors present');
  for (const name of names) {
    const input = JSON.parse(readFileSync(path.join(dir, 'input', name), 'utf8'));
    if (name === 'values.json') {
      assert.throws(() => P.canonicalize(input), (e) => e.code === 'non_integral' && /non-integral number/.test(e.message));
      continue;
    }
    const want = readFileSync(path.join(dir, 'output', name), 'utf8');
    assert.equal(P.canonicalize(input), want, name);
  }
});

test('JCS: 56.0 is 56, beyond ±2^53 is refused, keys sort by UTF-16 units', () => {
  assert.equal(P.canonicalize(JSON.parse('{"a":56.0}')), '{"a":56}');
  assert.equal(P.canonicalize(2 ** 53), '9007199254740992');
  assert.throws(() => P.canonicalize({ x: [2 ** 53 + 2] }), /\$\.x\[0\].*2\^53/);
  assert.throws(() => P.canonicalize({ t: 1.5 }), /\$\.t: non-integral number 1.5/);
  assert.equal(P.canonicalize({ '\u20ac': 1, '\ud83d\ude00': 2, b: 3, a: 4 }), '{"a":4,"b":3,"\u20ac":1,"\ud83d\ude00":2}');
});

test('Health IDs: every single mistyped character and adjacent swap is caught', () => {
  const kp = P.keyGenerate();
  const id = P.healthId(kp.pk);
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z*~$=U]$/);
  assert.deepEqual(P.parseHealthId(id.toLowerCase().replace(/-/g, ' ')), { ok: true, id });
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U';
  const plain = id.replace(/-/g, '');
  let tried = 0;
  for (let i = 0; i < plain.length; i++) {
    for (const c of alphabet) {
      if (c === plain[i]) continue;
      const typo = plain.slice(0, i) + c + plain.slice(i + 1);
      const r = P.parseHealthId(typo);
      assert.equal(r.ok, false, `typo ${typo} accepted`);
      assert.ok(r.error.length > 10);
      tried++;
    }
  }
  for (let i = 0; i + 1 < plain.length; i++) {
    if (plain[i] === plain[i + 1]) continue;
    const sw = plain.slice(0, i) + plain[i + 1] + plain[i] + plain.slice(i + 2);
    assert.equal(P.parseHealthId(sw).ok, false, `swap ${sw} accepted`);
  }
  assert.ok(tried > 400);
  assert.match(P.parseHealthId('1234').error, /13 characters/);
  assert.match(P.parseHealthId('ABCD-EFGH-JKMN-!').error, /not used in Health IDs/);
});

test('key files: round trip, wrong passphrase in words, tampered file refused', () => {
  const kp = P.keyGenerate();
  const f = P.keyfileSeal(kp, 'Asha', 'open sesame', { ops: 1, mem: 8 << 20 });
  assert.equal(f.kind, 'parcha-key');
  assert.throws(() => P.keyfileOpen(f, 'open sesamE'), (e) => e.code === 'wrong_passphrase' && /Wrong passphrase/.test(e.message));
  const back = P.keyfileOpen(f, 'open sesame');
  assert.deepEqual(Array.from(back.sk), Array.from(kp.sk));
  const bad = { ...f, public: P.b64u(P.keyGenerate().pk) };
  assert.throws(() => P.keyfileOpen(bad, 'open sesame'));
  assert.throws(() => P.keyfileOpen({ v: 1, kind: 'x' }, 'a'), (e) => e.code === 'bad_keyfile');
  const greedy = { ...f, kdf: { ...f.kdf, mem: 2 ** 31 } };
  assert.throws(() => P.keyfileOpen(greedy, 'open sesame'), (e) => e.code === 'bad_keyfile');
});

test('transactions: sign and verify; a changed body breaks the signature', () => {
  const kp = P.keyGenerate();
  const tx = P.txSign(P.txBuild('n', 'consent.revoke', { patient: P.b64u(kp.pk), grant: 'ab'.repeat(32) }), kp);
  assert.ok(P.txVerify(tx));
  assert.match(P.txId(tx), /^[0-9a-f]{64}$/);
  tx.body.grant = 'cd'.repeat(32);
  assert.equal(P.txVerify(tx), false);
});

test('Merkle: a tampered proof fails', () => {
  const leaves = [1, 2, 3].map((i) => P.sha256(new Uint8Array([i])));
  const h = (a, b) => P.sha256(P.concat(new Uint8Array([1]), a, b));
  const lh = (l) => P.sha256(P.concat(new Uint8Array([0]), l));
  const root = h(h(lh(leaves[0]), lh(leaves[1])), lh(leaves[2]));
  assert.ok(P.merkleVerify(leaves[2], 2, 3, [h(lh(leaves[0]), lh(leaves[1]))], root));
  assert.ok(P.merkleVerify(leaves[0], 0, 3, [lh(leaves[1]), lh(leaves[2])], root));
  assert.equal(P.merkleVerify(leaves[0], 1, 3, [lh(leaves[1]), lh(leaves[2])], root), false);
  assert.equal(P.merkleVerify(leaves[0], 0, 3, [lh(leaves[2]), lh(leaves[1])], root), false);
});

test('cross-check with the C core (xcheck)', { skip: !xcheck || !existsSync(xcheck) ? 'XCHECK not built' : false }, () => {
  const c = JSON.parse(execFileSync(xcheck, ['make'], { encoding: 'utf8' }));

  // C -> JS
  const seed = new Uint8Array(32).fill(1);
  const pat = P.keyFromSeed(seed);
  assert.equal(P.b64u(pat.pk), c.patient_pk, 'same key from the same seed');
  assert.equal(P.healthId(pat.pk), c.health_id, 'Health ID as C');
  const opened = P.keyfileOpen(c.keyfile, c.pass);
  assert.equal(P.b64u(opened.pk), c.patient_pk, 'C key file opens in JS');
  assert.throws(() => P.keyfileOpen(c.keyfile, 'nope'), (e) => e.code === 'wrong_passphrase');
  assert.equal(P.txId(c.tx), c.txid, 'txid of a C-signed tx');
  assert.ok(P.txVerify(c.tx), 'C signature verifies in JS');
  const again = P.txSign(Object.fromEntries(Object.entries(c.tx).filter(([k]) => k !== 'sigs')), pat);
  assert.deepEqual(again.sigs, c.tx.sigs, 'JS signs the same bytes');
  const key = P.unsealKey(P.fromB64u(c.record_sealed, 80), pat);
  const plain = P.recordDecrypt(P.fromB64u(c.record_blob), c.record_id, pat.pk, key);
  assert.equal(P.fromUtf8(plain), c.record_plain, 'C-encrypted record opens in JS');
  const doc = P.keyFromSeed(new Uint8Array(32).fill(2));
  const hs = P.httpsigSign(doc, 'GET', '/v1/records/rec-1/content', '', 1800000000, 'xcheck-nonce-1');
  assert.equal(hs['Signature-Input'], c.sig_input);
  assert.equal(hs.Signature, c.signature);
  for (const t of c.merkle) {
    for (const p of t.proofs) {
      const path = p.path.map((x) => P.fromHex(x, 32));
      assert.ok(P.merkleVerify(P.fromHex(p.leaf, 32), p.index, t.size, path, P.fromHex(t.root, 32)), `proof ${p.index}/${t.size}`);
      if (path.length) {
        path[0] = P.sha256(path[0]);
        assert.equal(P.merkleVerify(P.fromHex(p.leaf, 32), p.index, t.size, path, P.fromHex(t.root, 32)), false);
      }
    }
  }

  // JS -> C
  const pass = 'pass phrase from the browser';
  const kf = P.keyfileSeal(pat, 'from JS', pass); // INTERACTIVE, as the UI writes
  assert.equal(kf.kdf.ops, 2);
  assert.equal(kf.kdf.mem, 67108864);
  const txs = [];
  const grant = P.txSign(P.txBuild('xcheck-net', 'consent.grant', {
    patient: P.b64u(pat.pk), grantee: { staff: P.b64u(doc.pk) }, hi_types: ['*'],
    from: null, to: '2030-12-31', expires: Date.now() + 86400000, purpose: 'CAREMGT',
  }), pat);
  txs.push({ tx: grant, txid: P.txId(grant) });
  const reg = P.txSign(P.txSign(P.txBuild('xcheck-net', 'patient.register', { key: P.b64u(pat.pk), hospital: 'city-general' }), pat), doc);
  txs.push({ tx: reg, txid: P.txId(reg) });
  const plainJs = JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'HbA1c \u2013 caf\u00e9' } });
  const enc = P.recordEncrypt(P.utf8(plainJs), 'rec-js-1', pat.pk);
  const created = Math.floor(Date.now() / 1000);
  const sig = P.httpsigSign(pat, 'GET', '/v1/records/rec-js-1/content', '?a=1', created);
  const input = {
    pass, keyfile: kf, health_id: P.healthId(pat.pk), txs,
    record_id: 'rec-js-1', record_plain: plainJs, record_blob: P.b64u(enc.blob),
    record_sealed: P.b64u(P.sealKey(enc.key, pat.pk)),
    httpsig: { path: '/v1/records/rec-js-1/content', query: '?a=1', created, sig_input: sig['Signature-Input'], signature: sig.Signature },
  };
  const outText = execFileSync(xcheck, ['check'], { input: JSON.stringify(input), encoding: 'utf8' });
  process.stdout.write(outText);
  assert.match(outText, /ok signed read made in JS verifies in C/);
});
