/* Staff log-in: username + password unlock the staff key on the node for
 * this session (session.c). Sends the user on to ?next= afterwards. */
import { $, api, busy, guardPage, nodeBadge, say, setCsrf } from './app.js';

guardPage();
nodeBadge();
const params = new URLSearchParams(location.search);
const next = /^[a-z]+\.html$/.test(params.get('next') || '') ? params.get('next') : null;
const reason = sessionStorage.getItem('parcha.logout_reason');
if (reason) {
  say('info', reason);
  sessionStorage.removeItem('parcha.logout_reason');
}

const defaultPage = { doctor: 'doctor.html', nurse: 'doctor.html', clerk: 'register.html', admin: 'admin.html' };

$('#login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const username = $('#username').value.trim();
  const password = $('#password').value;
  if (!username || !password) {
    say('warning', 'Type your username and password.');
    return;
  }
  busy($('#login-btn'), async () => {
    const r = await api('v1/ui/login', { method: 'POST', body: { username, password }, noRedirect: true });
    setCsrf(r.csrf);
    $('#password').value = '';
    location.href = next || defaultPage[r.user.role] || 'index.html';
  });
});
$('#username').focus();
