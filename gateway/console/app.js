/*
 * gateway/console/app.js - the admin console: a sign-in form, the users list (search,
 * paging), one user (flags, roles, sessions, delete) and the audit log, over the admin
 * API of CONTRACT.md section 13 with the session cookies that POST ../login sets.
 *
 * Owns:     the screens of index.html and the hash route (#/users, #/users/ID, #/audit).
 * Entry:    start(), at DOMContentLoaded.
 * Not here: who may do what (the API answers 401/403; this page only shows it), the
 *           security headers (gateway/ep/ep_console.c).
 * Spec:     CONTRACT.md sections 7 and 13; docs/admin.md "Console".
 *
 * Rules kept here: text from the API reaches the page only through textContent and
 * createTextNode (never innerHTML: the CSP's Trusted Types refuse it anyway); every URL
 * is relative to <auth-prefix>/admin/, so the page works under any auth-prefix; no
 * eval, no inline handler, nothing from another origin.
 */
'use strict';

(function () {
  const PAGE_SIZES = [10, 25, 50, 100];
  const DEBOUNCE_MS = 300;

  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------ DOM helpers */

  /* A new element <tag> with attributes <attrs> and children (strings become text). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /* A table cell whose label shows on narrow screens (app.css turns rows into cards). */
  function cell(label, ...children) {
    return el('td', { 'data-label': label }, ...children);
  }

  function yesno(b) {
    return b ? 'yes' : 'no';
  }

  /* "2026-12-07T03:20:06Z", seconds since 1970 or milliseconds, as "2026-12-07 03:20:06 UTC". */
  function when(v) {
    if (v === undefined || v === null || v === '') return '';
    let d = null;
    if (typeof v === 'number') d = new Date(v < 1e12 ? v * 1000 : v);
    else if (/^\d+(\.\d+)?$/.test(String(v))) d = new Date(Number(v) * 1000);
    else d = new Date(String(v));
    if (Number.isNaN(d.getTime())) return String(v);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  /* ------------------------------------------------------------ messages */

  function showError(msg) {
    const e = $('error');
    e.textContent = msg;
    e.hidden = false;
  }

  function clearError() {
    const e = $('error');
    e.textContent = '';
    e.hidden = true;
  }

  function say(msg) {
    $('status').textContent = msg || '';
  }

  /* ------------------------------------------------------------ the API */

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /* The words of an error body: {"detail": "..."}, or FastAPI's 422 list naming the field. */
  function detailOf(status, body) {
    const d = body && body.detail;
    if (typeof d === 'string') return d;
    if (Array.isArray(d) && d.length > 0) {
      return d.map((x) => {
        const loc = Array.isArray(x.loc) ? x.loc.filter((p) => p !== 'body' && p !== 'query').join('.') : '';
        return (loc ? loc + ': ' : '') + (x.msg || 'invalid');
      }).join('; ');
    }
    return 'The gateway answered ' + status;
  }

  let refreshing = null; /* the refresh in flight, shared by concurrent 401s */

  /*
   * POST ../refresh with the refresh_token cookie (Path <auth-prefix>): new cookies when
   * the session still lives. Resolves to whether it worked.
   */
  function refreshSession() {
    if (refreshing === null) {
      refreshing = fetch('../refresh', { method: 'POST', credentials: 'same-origin', cache: 'no-store' })
        .then((r) => r.ok, () => false)
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  /*
   * <method> <path> (relative to <auth-prefix>/admin/) with the JSON <body>, if any.
   * Resolves to the parsed JSON (null for 204); rejects with an ApiError. A 401 is tried
   * once more after a refresh; if it stays 401 the sign-in form is shown.
   */
  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
      if (r.status === 401 && await refreshSession()) r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'The gateway could not be reached');
    }
    if (r.status === 204) return null;
    let data = null;
    const ctype = r.headers.get('Content-Type') || '';
    if (ctype.startsWith('application/json')) {
      try { data = await r.json(); } catch (e) { data = null; }
    }
    if (r.status === 401) {
      signedOut(signedIn ? 'Your session ended: sign in again.' : '');
      throw new ApiError(401, detailOf(401, data));
    }
    if (!r.ok) throw new ApiError(r.status, detailOf(r.status, data) + ' (' + r.status + ')');
    return data;
  }

  /* Shows an API failure, unless it was a 401 (the sign-in form already shows). */
  function failed(e) {
    if (e instanceof ApiError && e.status === 401) return;
    showError(e instanceof ApiError ? e.message : 'Something went wrong: ' + e);
  }

  /* ------------------------------------------------------------ screens */

  const SCREENS = ['signin', 'users', 'user', 'audit'];

  function show(name) {
    for (const s of SCREENS) $('screen-' + s).hidden = s !== name;
    const mark = (id, on) => (on ? $(id).setAttribute('aria-current', 'page') : $(id).removeAttribute('aria-current'));
    mark('nav-users', name === 'users' || name === 'user');
    mark('nav-audit', name === 'audit');
  }

  /* A screen's load: only the latest one per screen may render (a slow answer to an
   * earlier search must not overwrite a later one). */
  const seq = { users: 0, user: 0, audit: 0 };

  /* A screen's state: 'loading', 'ready', or 'failed' (app.css then hides its data parts,
   * so that an empty table never reads as "no user" when the list could not be read). */
  function state(name, st) {
    $('screen-' + name).setAttribute('aria-busy', st === 'loading' ? 'true' : 'false');
    $('screen-' + name).dataset.state = st;
  }

  /* ---------------- sign-in */

  let signedIn = false;

  function signedOut(msg) {
    signedIn = false;
    $('nav').hidden = true;
    $('signout').hidden = true;
    $('whoami').textContent = '';
    clearError();
    if (msg) showError(msg);
    say('');
    show('signin');
    $('login-username').focus();
  }

  async function whoami() {
    const me = await api('GET', '../me');
    signedIn = true;
    $('nav').hidden = false;
    $('signout').hidden = false;
    $('whoami').textContent = 'Signed in as ' + (me && me.username ? me.username : '?');
  }

  async function onSignin(ev) {
    ev.preventDefault();
    clearError();
    const button = $('login-submit');
    button.disabled = true;
    try {
      const r = await fetch('../login', {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ username_or_email: $('login-username').value, password: $('login-password').value }),
      });
      let data = null;
      try { data = await r.json(); } catch (e) { data = null; }
      if (!r.ok) {
        showError(detailOf(r.status, data) + ' (' + r.status + ')');
        return;
      }
      /* The tokens of the answer are not kept: the HttpOnly cookies carry the session. */
      $('login-password').value = '';
      await whoami();
      route();
    } catch (e) {
      failed(e instanceof ApiError ? e : new ApiError(0, 'The gateway could not be reached'));
    } finally {
      button.disabled = false;
    }
  }

  async function onSignout() {
    try {
      await fetch('../logout', { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
    } catch (e) { /* signed out here either way */ }
    signedOut('');
  }

  /* ---------------- the route: #/users?q=&offset=&limit=, #/users/ID, #/audit?event=&user= */

  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/users';
    const i = h.indexOf('?');
    const path = i < 0 ? h : h.slice(0, i);
    const params = new URLSearchParams(i < 0 ? '' : h.slice(i + 1));
    return { parts: path.split('/').filter((p) => p !== '').map(decodeURIComponent), params };
  }

  function hashOf(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
    const s = q.toString();
    return '#' + path + (s ? '?' + s : '');
  }

  /* Goes to <hash>: a new history entry, or (<replace>) the current one rewritten. */
  function go(hash, replace) {
    if (replace) {
      history.replaceState(null, '', hash);
      route();
    } else if (location.hash === hash) {
      route();
    } else {
      location.hash = hash;
    }
  }

  let flash = ''; /* what the next route() says, set by an action that navigates */

  function route() {
    if (!signedIn) return;
    clearError();
    say(flash);
    flash = '';
    resetDelete();
    const { parts, params } = parseHash();
    if (parts[0] === 'users' && parts.length === 2) return loadUser(parts[1]);
    if (parts[0] === 'audit') return loadAudit(params);
    return loadUsers(params);
  }

  /* ---------------- users */

  /* The page size of the route: 1 to 500 (the API's range), else 50. */
  function pageSize(params) {
    const n = Number(params.get('limit'));
    return Number.isInteger(n) && n >= 1 && n <= 500 ? n : 50;
  }

  let usersView = { q: '', offset: 0, limit: 50, total: 0 };

  async function loadUsers(params) {
    show('users');
    const q = params.get('q') || '';
    const offset = Math.max(0, Number(params.get('offset')) || 0);
    const limit = pageSize(params);
    if (document.activeElement !== $('user-search')) $('user-search').value = q;
    const sel = $('page-size');
    if (!PAGE_SIZES.includes(limit) && ![...sel.options].some((o) => Number(o.value) === limit)) sel.append(el('option', {}, String(limit)));
    sel.value = String(limit);
    const my = ++seq.users;
    state('users', 'loading');
    try {
      const qs = new URLSearchParams({ offset: String(offset), limit: String(limit) });
      if (q) qs.set('q', q);
      const data = await api('GET', 'users?' + qs.toString());
      if (my !== seq.users) return;
      usersView = { q, offset, limit, total: data.total };
      renderUsers(data.users || [], data.total || 0);
      state('users', 'ready');
    } catch (e) {
      if (my !== seq.users) return;
      state('users', 'failed');
      failed(e);
    }
  }

  function renderUsers(users, total) {
    const body = $('user-rows');
    clear(body);
    for (const u of users) {
      const link = el('a', { href: '#/users/' + encodeURIComponent(u.id) }, u.username);
      body.append(el('tr', { 'data-test': 'user-row', 'data-id': u.id },
        cell('Username', link),
        cell('Email', u.email),
        cell('Active', yesno(u.is_active)),
        cell('Staff', yesno(u.is_staff)),
        cell('Superuser', yesno(u.is_superuser)),
        cell('Roles', (u.roles || []).join(', ')),
        cell('Created', when(u.created_at))));
    }
    $('users-empty').hidden = users.length > 0;
    const { offset } = usersView;
    $('page-range').textContent = users.length ? (offset + 1) + '–' + (offset + users.length) + ' of ' + total : '0 of ' + total;
    $('page-prev').disabled = offset === 0;
    $('page-next').disabled = offset + users.length >= total;
  }

  function usersHash(over) {
    const v = Object.assign({}, usersView, over);
    return hashOf('/users', { q: v.q, offset: v.offset || '', limit: v.limit === 50 ? '' : v.limit });
  }

  let searchTimer = null;

  function searchNow(replace) {
    clearTimeout(searchTimer);
    go(usersHash({ q: $('user-search').value.trim(), offset: 0, limit: Number($('page-size').value) }), replace);
  }

  /* ---------------- one user */

  let current = null; /* the user shown */

  async function loadUser(id) {
    show('user');
    const my = ++seq.user;
    state('user', 'loading');
    try {
      const [u, s] = await Promise.all([
        api('GET', 'users/' + encodeURIComponent(id)),
        api('GET', 'users/' + encodeURIComponent(id) + '/sessions'),
      ]);
      if (my !== seq.user) return;
      renderUser(u);
      renderSessions(s.sessions || []);
      state('user', 'ready');
    } catch (e) {
      if (my !== seq.user) return;
      current = null;
      $('user-h').textContent = 'User';
      state('user', 'failed');
      failed(e);
    }
  }

  function renderUser(u) {
    current = u;
    $('user-h').textContent = u.username;
    $('user-id').textContent = u.id;
    $('user-email').textContent = u.email;
    $('user-created').textContent = when(u.created_at);
    $('user-active').checked = !!u.is_active;
    $('user-staff').checked = !!u.is_staff;
    $('user-superuser').checked = !!u.is_superuser;
    $('user-roles').value = (u.roles || []).join(', ');
  }

  function renderSessions(list) {
    const body = $('session-rows');
    clear(body);
    for (const s of list) {
      const b = el('button', { type: 'button', 'data-test': 'session-revoke', class: 'small' }, 'Revoke');
      b.addEventListener('click', () => revokeSession(s.id, b));
      body.append(el('tr', { 'data-test': 'session-row', 'data-id': s.id },
        cell('Session', el('span', { class: 'mono', title: s.id }, String(s.id).slice(0, 8) + '…')),
        cell('Started', when(s.created_at)),
        cell('Last seen', when(s.last_seen)),
        cell('Address', s.ip || ''),
        cell('Browser', s.user_agent || ''),
        cell('Action', b)));
    }
    $('sessions-empty').hidden = list.length > 0;
    $('sessions-revoke-all').disabled = list.length === 0;
  }

  async function reloadSessions() {
    const s = await api('GET', 'users/' + encodeURIComponent(current.id) + '/sessions');
    renderSessions(s.sessions || []);
  }

  async function revokeSession(sid, button) {
    if (!current) return;
    clearError();
    button.disabled = true;
    try {
      await api('DELETE', 'users/' + encodeURIComponent(current.id) + '/sessions/' + encodeURIComponent(sid));
      say('Session revoked.');
      await reloadSessions();
    } catch (e) {
      button.disabled = false;
      failed(e);
    }
  }

  async function revokeAll() {
    if (!current) return;
    clearError();
    try {
      await api('DELETE', 'users/' + encodeURIComponent(current.id) + '/sessions');
      say('Every session of ' + current.username + ' revoked.');
      await reloadSessions();
    } catch (e) {
      failed(e);
    }
  }

  /* The roles input as a list: split at commas, trimmed, empty ones dropped. */
  function rolesOf(text) {
    return text.split(',').map((r) => r.trim()).filter((r) => r !== '');
  }

  async function onSave(ev) {
    ev.preventDefault();
    if (!current) return;
    clearError();
    const change = {};
    const flags = { is_active: 'user-active', is_staff: 'user-staff', is_superuser: 'user-superuser' };
    for (const [k, id] of Object.entries(flags)) if ($(id).checked !== !!current[k]) change[k] = $(id).checked;
    const roles = rolesOf($('user-roles').value);
    if (roles.join(',') !== (current.roles || []).join(',')) change.roles = roles;
    if (Object.keys(change).length === 0) {
      say('Nothing to save.');
      return;
    }
    $('user-save').disabled = true;
    try {
      const u = await api('PATCH', 'users/' + encodeURIComponent(current.id), change);
      renderUser(u);
      say('Saved ' + u.username + '.');
      await reloadSessions(); /* deactivating ends them */
    } catch (e) {
      failed(e);
    } finally {
      $('user-save').disabled = false;
    }
  }

  /* Delete takes two clicks on the same button: the first arms it, the second deletes. */
  function resetDelete() {
    const b = $('user-delete');
    delete b.dataset.state;
    b.textContent = 'Delete user';
    $('user-delete-cancel').hidden = true;
  }

  async function onDelete() {
    if (!current) return;
    const b = $('user-delete');
    if (b.dataset.state !== 'confirm') {
      b.dataset.state = 'confirm';
      b.textContent = 'Really delete ' + current.username + '? Click again';
      $('user-delete-cancel').hidden = false;
      return;
    }
    clearError();
    b.disabled = true;
    try {
      const name = current.username;
      await api('DELETE', 'users/' + encodeURIComponent(current.id));
      current = null;
      resetDelete();
      flash = 'Deleted ' + name + '.';
      go(usersHash({}));
    } catch (e) {
      failed(e);
    } finally {
      b.disabled = false;
    }
  }

  /* ---------------- audit: #/audit?event=&user=&since=&before=&limit= */

  let auditView = { event: '', user: '', since: '', before: '', limit: '', next: null };

  async function loadAudit(params) {
    show('audit');
    const v = { event: params.get('event') || '', user: params.get('user') || '',
                since: params.get('since') || '', before: params.get('before') || '',
                limit: params.get('limit') || '', next: null };
    if (document.activeElement !== $('audit-event')) $('audit-event').value = v.event;
    if (document.activeElement !== $('audit-user')) $('audit-user').value = v.user;
    if (document.activeElement !== $('audit-since')) $('audit-since').value = localInput(v.since);
    const my = ++seq.audit;
    state('audit', 'loading');
    try {
      const qs = new URLSearchParams();
      for (const k of ['event', 'user', 'since', 'before', 'limit']) if (v[k]) qs.set(k, v[k]);
      const s = qs.toString();
      const data = await api('GET', 'audit' + (s ? '?' + s : ''));
      if (my !== seq.audit) return;
      v.next = data.next || null;
      auditView = v;
      renderAudit(data);
      state('audit', 'ready');
    } catch (e) {
      if (my !== seq.audit) return;
      state('audit', 'failed');
      failed(e);
    }
  }

  /* The ISO UTC time <iso> as a datetime-local value in the browser's zone, and back. */
  function localInput(iso) {
    const d = iso ? new Date(iso) : null;
    if (!d || Number.isNaN(d.getTime())) return '';
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }

  function isoOf(local) {
    const d = local ? new Date(local) : null;
    return d && !Number.isNaN(d.getTime()) ? d.toISOString().replace(/\.\d+Z$/, 'Z') : '';
  }

  /* Members shown in their own column, or saying nothing (the gateway's own source, a
   * user_id equal to the sub). */
  function auditDetails(e) {
    const out = [];
    for (const [k, v] of Object.entries(e)) {
      if (['id', 'time', 'event', 'sub', 'ip', 'user_agent'].includes(k)) continue;
      if (v === null || v === '' || (k === 'source' && v === 'gateway') || (k === 'user_id' && v === e.sub)) continue;
      out.push(k + '=' + (typeof v === 'object' ? JSON.stringify(v) : String(v)));
    }
    return out.join(' ');
  }

  function renderAudit(data) {
    const body = $('audit-rows');
    clear(body);
    const events = (data && data.events) || [];
    for (const e of events) {
      const sub = e.sub ? el('a', { href: hashOf('/audit', { user: e.sub }), title: 'Only this user' }, e.sub) : '';
      body.append(el('tr', { 'data-test': 'audit-row', 'data-id': e.id },
        cell('Time', when(e.time)),
        cell('Event', el('span', { class: 'event' }, e.event)),
        cell('User', sub),
        cell('Address', e.ip || ''),
        cell('Browser', e.user_agent || ''),
        cell('Details', el('span', { class: 'details' }, auditDetails(e)))));
    }
    $('audit-empty').hidden = events.length > 0;
    $('audit-note').textContent = data && data.truncated
      ? 'The filter examined the most entries one request may without filling the page: Older goes on from there.'
      : '';
    $('audit-older').disabled = !auditView.next;
    $('audit-newest').disabled = !auditView.before;
  }

  function auditHash(over) {
    const v = Object.assign({}, auditView, over);
    return hashOf('/audit', { event: v.event, user: v.user, since: v.since, before: v.before, limit: v.limit });
  }

  let auditTimer = null;

  function auditNow(replace) {
    clearTimeout(auditTimer);
    go(auditHash({ event: $('audit-event').value.trim(), user: $('audit-user').value.trim(),
                   since: isoOf($('audit-since').value), before: '' }), replace);
  }

  /* ------------------------------------------------------------ start */

  async function start() {
    $('signin-form').addEventListener('submit', onSignin);
    $('signout').addEventListener('click', onSignout);
    $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); searchNow(false); });
    $('user-search').addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => searchNow(true), DEBOUNCE_MS);
    });
    $('page-size').addEventListener('change', () => searchNow(false));
    $('page-prev').addEventListener('click', () => go(usersHash({ offset: Math.max(0, usersView.offset - usersView.limit) })));
    $('page-next').addEventListener('click', () => go(usersHash({ offset: usersView.offset + usersView.limit })));
    $('user-form').addEventListener('submit', onSave);
    $('sessions-revoke-all').addEventListener('click', revokeAll);
    $('user-delete').addEventListener('click', onDelete);
    $('user-delete-cancel').addEventListener('click', () => { resetDelete(); $('user-delete').focus(); });
    $('audit-form').addEventListener('submit', (ev) => { ev.preventDefault(); auditNow(false); });
    $('audit-since').addEventListener('change', () => auditNow(false));
    $('audit-older').addEventListener('click', () => go(auditHash({ before: auditView.next })));
    $('audit-newest').addEventListener('click', () => go(auditHash({ before: '' })));
    for (const id of ['audit-event', 'audit-user']) {
      $(id).addEventListener('input', () => {
        clearTimeout(auditTimer);
        auditTimer = setTimeout(() => auditNow(true), DEBOUNCE_MS);
      });
    }
    window.addEventListener('hashchange', route);

    try {
      await whoami();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        signedOut('');
        failed(e);
      }
      return;
    }
    route();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
