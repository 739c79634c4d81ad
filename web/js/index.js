/* Landing page: where to go, and whether this node is up. */
import { $, esc, guardPage, nodeBadge, hospitals } from './app.js';

guardPage();
const st = await nodeBadge();
if (st) {
  const hs = await hospitals().catch(() => []);
  $('#node-facts').innerHTML = `Network <strong>${esc(st.network)}</strong>, ledger height <strong>${esc(st.height)}</strong>, ${esc(st.txs)} transactions.
    Hospitals: ${hs.map((h) => `${esc(h.name)}${h.status !== 'active' ? ` (${esc(h.status)})` : ''}`).join(', ')}.`;
} else {
  $('#node-facts').textContent = 'The node cannot be reached right now.';
}
