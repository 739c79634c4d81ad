/* parcha's protocol in the browser: the same bytes the C code signs and
 * checks (docs/protocol.md). Canonical JSON (RFC 8785, integers only),
 * transactions signed under the "parcha/tx/v1" domain tag, Health IDs with
 * their check symbol, key files (Argon2id + XChaCha20-Poly1305, the format
 * of include/parcha/keyfile.h), record decryption (XChaCha20-Poly1305 with
 * AD = record id || 0x00 || patient key; record keys sealed with
 * crypto_box_seal to the X25519 twin), RFC 9421 signed reads and RFC 9162
 * Merkle inclusion proofs.
 *
 * Everything here is pure apart from libsodium's randomness: no DOM, no
 * network, so Node runs the same module in the unit tests. Private keys are
 * Uint8Arrays that callers wipe with wipe() when done. */

let sodium = null;

/* Load libsodium (the sumo build: the standard one lacks crypto_pwhash) once.
 * In the browser it comes from /vendor/; Node passes its own import. */
export async function ready(loader) {
  if (sodium) return sodium;
  let s;
  try {
    const mod = loader ? await loader() : await import('../vendor/libsodium-wrappers-sumo.js');
    s = mod.default || mod;
    await s.ready;
  } catch (e) {
    throw new ParchaError('load_failed', 'This page could not load its encryption library. Reload the page; if it keeps happening, tell the hospital IT team (the node\u2019s web files may be incomplete: run web/build.sh).');
  }
  sodium = s;
  return sodium;
}

function need() {
  if (!sodium) throw new Error('libsodium is not loaded yet (call ready() first)');
  return sodium;
}

/* ---- encodings ---------------------------------------------------------- */

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function utf8(s) { return enc.encode(s); }
export function fromUtf8(b) { return dec.decode(b); }

export function b64u(bytes) {
  const s = need();
  return s.to_base64(bytes, s.base64_variants.URLSAFE_NO_PADDING);
}

/* Decode base64url (no padding) into exactly n bytes when n is given. */
export function fromB64u(text, n) {
  const s = need();
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text))
    throw new ParchaError('bad_encoding', 'The data is not in the expected format (base64url).');
  const out = s.from_base64(text, s.base64_variants.URLSAFE_NO_PADDING);
  if (n !== undefined && out.length !== n)
    throw new ParchaError('bad_encoding', `Expected ${n} bytes, got ${out.length}.`);
  return out;
}

export function b64std(bytes) {
  const s = need();
  return s.to_base64(bytes, s.base64_variants.ORIGINAL);
}

export function hex(bytes) { return need().to_hex(bytes); }
export function fromHex(text, n) {
  if (typeof text !== 'string' || !/^[0-9a-f]*$/.test(text) || text.length % 2)
    throw new ParchaError('bad_encoding', 'Not a lowercase hex string.');
  const out = need().from_hex(text);
  if (n !== undefined && out.length !== n)
    throw new ParchaError('bad_encoding', `Expected ${n} bytes, got ${out.length}.`);
  return out;
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}

export function wipe(bytes) {
  if (bytes && bytes.fill) bytes.fill(0);
}

export function sha256(bytes) { return need().crypto_hash_sha256(bytes); }

export function randomB64u(nbytes) { return b64u(need().randombytes_buf(nbytes)); }

/* Errors with a stable code and a sentence for a person. */
export class ParchaError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/* ---- RFC 8785 canonical JSON, integers only ------------------------------ */

export const JCS_MAX_INT = 2 ** 53;

/* Canonical text of a JSON value. Numbers must be integral and within
 * ±2^53 (as src/core/jcs.c); a non-integral number is refused with an error
 * that names it and where it is. Object keys sort by UTF-16 code units (the
 * default JS string order); strings use ECMAScript's JSON escaping, which is
 * RFC 8785's. */
export function canonicalize(value) {
  scanNonIntegral(value, '$');
  return jcs(value, '$');
}

/* First pass, as src/core/jcs.c: a non-integral number anywhere is reported
 * before any out-of-range integer, naming the number and its place. */
function scanNonIntegral(value, where) {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value))
      throw new ParchaError('non_integral', `${where}: non-integral number ${value} is not allowed in signed JSON`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanNonIntegral(v, `${where}[${i}]`));
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) scanNonIntegral(value[k], `${where}.${k}`);
  }
}

function jcs(value, where) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean': return value ? 'true' : 'false';
    case 'string': return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new ParchaError('non_integral', `${where}: ${value} is not a JSON number`);
      if (!Number.isInteger(value))
        throw new ParchaError('non_integral', `${where}: non-integral number ${value} is not allowed in signed JSON`);
      if (Math.abs(value) > JCS_MAX_INT)
        throw new ParchaError('non_integral', `${where}: integer ${value} is beyond ±2^53`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value))
        return '[' + value.map((v, i) => jcs(v, `${where}[${i}]`)).join(',') + ']';
      const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs(value[k], `${where}.${k}`)).join(',') + '}';
    }
    default:
      throw new ParchaError('bad_json', `${where}: ${typeof value} cannot be put in JSON`);
  }
}

/* ---- keys ----------------------------------------------------------------- */

/* A fresh Ed25519 key pair {pk, sk} (sk is libsodium's 64-byte form). */
export function keyGenerate() {
  const kp = need().crypto_sign_keypair();
  return { pk: kp.publicKey, sk: kp.privateKey };
}

export function keyFromSeed(seed) {
  const kp = need().crypto_sign_seed_keypair(seed);
  return { pk: kp.publicKey, sk: kp.privateKey };
}

export function keyWipe(kp) {
  if (kp) wipe(kp.sk);
}

/* ---- Health IDs (src/core/healthid.c) ------------------------------------ */

const HID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U';

function hidValue(ch) {
  const c = ch.toUpperCase();
  if (c === 'O') return 0;
  if (c === 'I' || c === 'L') return 1;
  return HID_ALPHABET.indexOf(c);
}

function hidFormat(v) {
  let digits = '';
  for (let i = 0; i < 12; i++) {
    digits = HID_ALPHABET[Number(v & 31n)] + digits;
    v >>= 5n;
  }
  return digits;
}

function hidCanonical(v) {
  const d = hidFormat(v);
  return `${d.slice(0, 4)}-${d.slice(4, 8)}-${d.slice(8, 12)}-${HID_ALPHABET[Number(v % 37n)]}`;
}

/* Health ID of a 32-byte public key: top 60 bits of SHA-256(pk) as 12
 * Crockford base32 digits and a mod-37 check symbol, XXXX-XXXX-XXXX-C. */
export function healthId(pk) {
  const h = sha256(pk);
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i]);
  v >>= 4n;
  return hidCanonical(v);
}

/* Check what a person typed. Returns {ok:true, id} with the canonical form or
 * {ok:false, error} with a sentence a clerk can act on (same checks, same
 * order as pc_healthid_parse). */
export function parseHealthId(typed) {
  if (typeof typed !== 'string' || typed.trim() === '')
    return { ok: false, error: 'Type the Health ID from the patient\u2019s card (XXXX-XXXX-XXXX-C).' };
  const vals = [];
  for (const ch of typed) {
    if (ch === '-' || ch === ' ') continue;
    const v = hidValue(ch);
    if (v < 0)
      return { ok: false, error: `The Health ID contains \u201c${ch}\u201d, which is not used in Health IDs (only 0\u20139 and A\u2013Z, without U).` };
    vals.push(v);
  }
  if (vals.length !== 13)
    return { ok: false, error: `A Health ID has 13 characters (12 and a check character, like XXXX-XXXX-XXXX-C); ${vals.length} were typed.` };
  let v = 0n;
  for (let i = 0; i < 12; i++) {
    if (vals[i] >= 32)
      return { ok: false, error: `Character ${i + 1} (\u201c${HID_ALPHABET[vals[i]]}\u201d) can only be the last character: a character was mistyped.` };
    v = (v << 5n) | BigInt(vals[i]);
  }
  if (BigInt(vals[12]) !== v % 37n)
    return { ok: false, error: 'This Health ID has a typo: the check character does not match. Please compare it with the card again.' };
  return { ok: true, id: hidCanonical(v) };
}

/* ---- transactions (docs/protocol.md) ------------------------------------- */

export const TX_DOMAIN = 'parcha/tx/v1';

function tagged(domain, bytes) {
  return concat(utf8(domain), new Uint8Array([0]), bytes);
}

/* A new unsigned transaction {v, net, type, time, nonce, body}. */
export function txBuild(net, type, body, opts = {}) {
  return {
    v: 1,
    net,
    type,
    time: opts.time !== undefined ? opts.time : Date.now(),
    nonce: opts.nonce || randomB64u(16),
    body,
  };
}

function withoutSigs(tx) {
  const o = {};
  for (const k of Object.keys(tx)) if (k !== 'sigs') o[k] = tx[k];
  return o;
}

/* The bytes every signature covers: "parcha/tx/v1" 0x00 JCS(tx without sigs). */
export function txSignedBytes(tx) {
  return tagged(TX_DOMAIN, utf8(canonicalize(withoutSigs(tx))));
}

/* txid: lowercase hex SHA-256 of the signed bytes. */
export function txId(tx) {
  return hex(sha256(txSignedBytes(tx)));
}

/* Add kp's signature to tx.sigs (in place; returns tx). */
export function txSign(tx, kp) {
  const sig = need().crypto_sign_detached(txSignedBytes(tx), kp.sk);
  if (!tx.sigs) tx.sigs = [];
  tx.sigs.push({ key: b64u(kp.pk), sig: b64u(sig) });
  return tx;
}

/* Check every signature of a client-form tx. */
export function txVerify(tx) {
  if (!Array.isArray(tx.sigs) || tx.sigs.length === 0) return false;
  const bytes = txSignedBytes(tx);
  return tx.sigs.every((s) => {
    try {
      return need().crypto_sign_verify_detached(fromB64u(s.sig, 64), bytes, fromB64u(s.key, 32));
    } catch (_) {
      return false;
    }
  });
}

/* ---- key files (include/parcha/keyfile.h) -------------------------------- */

export const KDF_INTERACTIVE = { ops: 2, mem: 67108864 };
const KF_OPS_MAX = 16;
const KF_MEM_MAX = 1 << 30;

function kdf(pass, salt, ops, mem) {
  const s = need();
  return s.crypto_pwhash(32, utf8(pass), salt, ops, mem, s.crypto_pwhash_ALG_ARGON2ID13);
}

/* Encrypt kp under pass into a key file object (new files use libsodium's
 * INTERACTIVE limits, as the C tool's default). */
export function keyfileSeal(kp, label, pass, cost = null) {
  const s = need();
  if (typeof pass !== 'string' || pass.length === 0)
    throw new ParchaError('bad_passphrase', 'Choose a passphrase.');
  const ops = cost ? cost.ops : s.crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const mem = cost ? cost.mem : s.crypto_pwhash_MEMLIMIT_INTERACTIVE;
  const salt = s.randombytes_buf(s.crypto_pwhash_SALTBYTES);
  const nonce = s.randombytes_buf(s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const key = kdf(pass, salt, ops, mem);
  const secret = s.crypto_aead_xchacha20poly1305_ietf_encrypt(kp.sk, kp.pk, null, nonce, key);
  wipe(key);
  return {
    v: 1,
    kind: 'parcha-key',
    label,
    public: b64u(kp.pk),
    kdf: { alg: 'argon2id13', ops, mem, salt: b64u(salt) },
    nonce: b64u(nonce),
    secret: b64u(secret),
  };
}

/* Public key and label of a key file, without the passphrase. */
export function keyfilePublic(file) {
  if (!file || typeof file !== 'object' || file.v !== 1 || file.kind !== 'parcha-key')
    throw new ParchaError('bad_keyfile', 'This is not a parcha key file.');
  return { pk: fromB64u(file.public, 32), label: String(file.label || '') };
}

/* Decrypt a key file. Wrong passphrase -> ParchaError('wrong_passphrase'). */
export function keyfileOpen(file, pass) {
  const s = need();
  let pk;
  try {
    pk = keyfilePublic(file).pk;
  } catch (e) {
    throw new ParchaError('bad_keyfile', 'This is not a parcha key file, or it is damaged.');
  }
  const k = file.kdf;
  if (!k || k.alg !== 'argon2id13' || !Number.isInteger(k.ops) || !Number.isInteger(k.mem) ||
      k.ops < 1 || k.ops > KF_OPS_MAX || k.mem < 8192 || k.mem > KF_MEM_MAX)
    throw new ParchaError('bad_keyfile', 'This key file asks for settings parcha does not accept; it may be damaged.');
  let salt, nonce, secret;
  try {
    salt = fromB64u(k.salt, 16);
    nonce = fromB64u(file.nonce, 24);
    secret = fromB64u(file.secret, 80);
  } catch (e) {
    throw new ParchaError('bad_keyfile', 'This key file is damaged.');
  }
  const key = kdf(pass, salt, k.ops, k.mem);
  let sk;
  try {
    sk = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, secret, pk, nonce, key);
  } catch (e) {
    throw new ParchaError('wrong_passphrase', 'Wrong passphrase for this key file. Please try again.');
  } finally {
    wipe(key);
  }
  const again = s.crypto_sign_seed_keypair(s.crypto_sign_ed25519_sk_to_seed(sk));
  const good = s.memcmp(again.publicKey, pk);
  wipe(again.privateKey);
  if (!good) {
    wipe(sk);
    throw new ParchaError('bad_keyfile', 'This key file is damaged (its two halves do not match).');
  }
  return { pk, sk, label: String(file.label || '') };
}

/* ---- records (include/parcha/crypto.h) ------------------------------------ */

function recordAd(recordId, patientPk) {
  return concat(utf8(recordId), new Uint8Array([0]), patientPk);
}

/* Open a record key sealed (crypto_box_seal) to kp's X25519 twin. */
export function unsealKey(sealed, kp) {
  const s = need();
  const xpk = s.crypto_sign_ed25519_pk_to_curve25519(kp.pk);
  const xsk = s.crypto_sign_ed25519_sk_to_curve25519(kp.sk);
  try {
    return s.crypto_box_seal_open(sealed, xpk, xsk);
  } catch (e) {
    throw new ParchaError('not_for_you', 'This record key was not sealed to your key.');
  } finally {
    wipe(xsk);
  }
}

/* Seal a 32-byte record key to an Ed25519 public key's X25519 twin. */
export function sealKey(key, edPk) {
  const s = need();
  return s.crypto_box_seal(key, s.crypto_sign_ed25519_pk_to_curve25519(edPk));
}

/* Encrypt content for a record: {key, blob} with blob = nonce || ct. */
export function recordEncrypt(plain, recordId, patientPk) {
  const s = need();
  const key = s.crypto_aead_xchacha20poly1305_ietf_keygen();
  const nonce = s.randombytes_buf(24);
  const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, recordAd(recordId, patientPk), null, nonce, key);
  return { key, blob: concat(nonce, ct) };
}

/* Decrypt a blob; ParchaError('tampered') if it does not open. */
export function recordDecrypt(blob, recordId, patientPk, key) {
  const s = need();
  if (blob.length < 24 + 16)
    throw new ParchaError('tampered', 'The record content is damaged (too short).');
  try {
    return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, blob.subarray(24), recordAd(recordId, patientPk), blob.subarray(0, 24), key);
  } catch (e) {
    throw new ParchaError('tampered', 'The record content could not be opened: it was changed or belongs to another record.');
  }
}

/* The whole read: the node's content answer {blob, sealed_key, record} opened
 * with the reader's key pair, parsed as the FHIR resource inside. */
export function openContent(answer, kp) {
  const rec = answer.record;
  const key = unsealKey(fromB64u(answer.sealed_key, 80), kp);
  try {
    const blob = fromB64u(answer.blob);
    if (rec.hash && hex(sha256(blob)) !== rec.hash)
      throw new ParchaError('tampered', 'The record content does not match the hash on the ledger.');
    const plain = recordDecrypt(blob, rec.id, fromB64u(rec.patient, 32), key);
    return JSON.parse(fromUtf8(plain));
  } finally {
    wipe(key);
  }
}

/* ---- RFC 9421 signed reads (include/parcha/httpsig.h) -------------------- */

export function httpsigBase(method, path, query, params) {
  const q = !query ? '?' : (query[0] === '?' ? query : '?' + query);
  return `"@method": ${method}\n"@path": ${path}\n"@query": ${q}\n"@signature-params": ${params}`;
}

/* Headers {Signature-Input, Signature} for a request signed with kp. */
export function httpsigSign(kp, method, path, query, createdS, nonce) {
  const created = createdS !== undefined ? createdS : Math.floor(Date.now() / 1000);
  const n = nonce || randomB64u(16);
  const params = `("@method" "@path" "@query");created=${created};nonce="${n}";keyid="${b64u(kp.pk)}";alg="ed25519"`;
  const sig = need().crypto_sign_detached(utf8(httpsigBase(method, path, query, params)), kp.sk);
  return {
    'Signature-Input': `sig1=${params}`,
    Signature: `sig1=:${b64std(sig)}:`,
  };
}

/* ---- RFC 9162 Merkle inclusion proofs ------------------------------------ */

function nodeHash(l, r) { return sha256(concat(new Uint8Array([1]), l, r)); }

/* Verify that leaf (32 bytes, a txid) is at index in a tree of size n with
 * the given root, following RFC 9162 §2.1.3.2. path is an array of 32-byte
 * hashes. Returns true or false. */
export function merkleVerify(leaf, index, n, path, root) {
  if (!Number.isInteger(index) || !Number.isInteger(n) || index < 0 || index >= n) return false;
  let fn = BigInt(index);
  let sn = BigInt(n - 1);
  let r = sha256(concat(new Uint8Array([0]), leaf));
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && need().memcmp(r, root);
}

/* Verify the proof object the node returns for a tx
 * ({txid, proof:{root, index, size, path:[hex]}}). */
export function txProofVerify(txJson) {
  const p = txJson && txJson.proof;
  if (!p) return false;
  try {
    return merkleVerify(fromHex(txJson.txid, 32), p.index, p.size, p.path.map((h) => fromHex(h, 32)), fromHex(p.root, 32));
  } catch (_) {
    return false;
  }
}

/* ---- vocabularies ----------------------------------------------------------- */

export const HI_TYPES = ['OPConsultation', 'Prescription', 'DischargeSummary', 'DiagnosticReport',
  'ImmunizationRecord', 'HealthDocumentRecord', 'WellnessRecord'];

export const HI_LABELS = {
  OPConsultation: 'Consultation',
  Prescription: 'Prescription',
  DischargeSummary: 'Discharge summary',
  DiagnosticReport: 'Lab / diagnostic report',
  ImmunizationRecord: 'Immunization',
  HealthDocumentRecord: 'Document',
  WellnessRecord: 'Wellness',
};

export const PURPOSES = {
  CAREMGT: 'Care management (treatment)',
  BTG: 'Break the glass (emergency)',
  PUBHLTH: 'Public health',
  HPAYMT: 'Healthcare payment',
  DSRCH: 'Disease-specific research',
  PATRQT: 'Self-requested',
};

/* Date helpers: clinical dates are YYYY-MM-DD, times are ms since the epoch. */
export function today() { return new Date().toISOString().slice(0, 10); }
export function isDate(s) { return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s + 'T00:00:00Z')); }
