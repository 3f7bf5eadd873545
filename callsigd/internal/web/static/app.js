// callsig's browser app: a client of callsigd's WebSocket protocol
// (PROTOCOL.md), in plain JavaScript with no build step.
//
// State lives in S. Calls are keyed by call_id; each member's state is
// kept with the seq of the event that set it, so that events, replies and
// call snapshots can arrive in any order and the newest wins. Events are
// deduplicated by (call_id, seq).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const PENDING = new Set(['Inviting', 'Received', 'NotYetReceived']);
  const STATE_LABEL = {
    Inviting: 'Calling…', Received: 'Ringing', NotYetReceived: 'Not reached yet', Accepted: 'In call',
    Rejected: 'Declined', Cancelled: 'Cancelled', Timeout: 'No answer', Quit: 'Left',
  };
  const VERB = {
    Inviting: 'invited', Received: 'ringing', NotYetReceived: 'not reached yet', Accepted: 'joined',
    Rejected: 'declined', Cancelled: 'cancelled', Timeout: 'did not answer', Quit: 'left',
  };
  const ERROR_TEXT = {
    not_pending: 'That invitation is no longer ringing.',
    call_not_found: 'That call is over.',
    invalid_user: 'That is not a valid name.',
    no_invitees: 'Name someone to call.',
    already_accepted: 'You already answered.',
    wrong_mode: 'Only rooms (advanced calls) can do that.',
    not_invitee: 'You were not invited to that call.',
    too_many_invitees: 'Too many people for one call.',
    invalid_timeout: 'That ring time is not allowed.',
    data_too_large: 'The note is too long.',
    not_inviter: 'Only the caller can cancel.',
    not_accepted: 'You need to be in the call for that.',
    self_invite: 'You cannot call yourself.',
    duplicate_invitee: 'Already in that call.',
    rate_limited: 'Slow down a little and try again.',
    overloaded: 'The server is busy; try again.',
    not_connected: 'Not connected; reconnecting…',
  };
  const HEARTBEAT_MS = 15000;
  const REQUEST_TIMEOUT_MS = 10000;

  const S = {
    user: '', device: 'web', pastedToken: '',
    ws: null, conn: 'signed-out', attempt: 0, retryTimer: null, retryAt: 0, heartbeat: null,
    skewMs: 0, nextId: 1, pending: new Map(),
    seen: new Set(), calls: new Map(), order: [],
    history: [], historyNext: '', people: new Set(),
    ringing: null, // the call_id the incoming dialog shows
  };

  // ---- helpers ----
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
    return e;
  }
  function hue(name) { let h = 0; for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360; return h; }
  function avatar(name) {
    const a = el('span', { class: 'avatar', 'aria-hidden': 'true', text: (name || '?').slice(0, 1) });
    a.style.background = `hsl(${hue(name || '?')} 55% 48%)`;
    return a;
  }
  function serverNow() { return Date.now() + S.skewMs; }
  function secondsLeft(deadline) { return Math.max(0, Math.ceil((Date.parse(deadline) - serverNow()) / 1000)); }
  function fmtTime(t) {
    const d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  function names(list) {
    if (list.length <= 2) return list.join(' and ');
    return list.slice(0, -1).join(', ') + ' and ' + list[list.length - 1];
  }
  function toast(text, bad) {
    const t = el('div', { class: 'toast' + (bad ? ' bad' : ''), text });
    $('toasts').append(t);
    setTimeout(() => t.remove(), bad ? 7000 : 4500);
  }
  function errText(err) {
    return ERROR_TEXT[err.code] || err.message || String(err.code || err);
  }
  function remember(...users) {
    let changed = false;
    for (const u of users) if (u && u !== S.user && !S.people.has(u)) { S.people.add(u); changed = true; }
    if (changed) $('people').replaceChildren(...[...S.people].sort().map((u) => el('option', { value: u })));
  }

  // ---- connection ----
  function setConn(state, text, showRetry) {
    S.conn = state;
    $('conn').dataset.state = state;
    $('conn-text').textContent = text;
    $('reconnect-now').hidden = !showRetry;
  }

  async function getToken() {
    if (S.pastedToken) return S.pastedToken;
    const r = await fetch('/v1/dev/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: S.user, device: S.device }),
    });
    if (r.status === 404) throw Object.assign(new Error('This server does not hand out dev tokens: paste a token.'), { fatal: true });
    if (r.status === 400) throw Object.assign(new Error('That name or device is not a valid ID.'), { fatal: true });
    if (!r.ok) throw new Error('token: HTTP ' + r.status);
    return (await r.json()).token;
  }

  async function connect() {
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    if (S.ws) return;
    setConn('connecting', S.attempt ? 'Reconnecting…' : 'Connecting…');
    let token;
    try {
      token = await getToken();
    } catch (e) {
      if (e.fatal) { signOut(e.message); return; }
      scheduleReconnect('Server unreachable');
      return;
    }
    if (!S.user && !S.pastedToken) return; // signed out meanwhile
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws?token=${encodeURIComponent(token)}`);
    S.ws = ws;
    let helloSeen = false;
    ws.onmessage = (m) => {
      if (S.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'hello') { helloSeen = true; onHello(msg); } else if (msg.type === 'event') onEvent(msg);
      else if (msg.type === 'reply') onReply(msg);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      S.ws = null;
      clearInterval(S.heartbeat);
      for (const [, p] of S.pending) p.reject({ code: 'not_connected', message: 'connection closed' });
      S.pending.clear();
      if (ws.signingOut) return;
      if (ev.code === 4000) {
        setConn('replaced', 'Signed in elsewhere (same user and device): not reconnecting', true);
        $('reconnect-now').textContent = 'Use this tab';
        return;
      }
      if (S.pastedToken && !helloSeen && S.attempt >= 2) {
        setConn('failed', 'The token was refused (expired or invalid)', false);
        return;
      }
      const why = { 1001: 'Server restarting', 1008: 'Closed by the server (rate limit)', 1009: 'Message too big', 4001: 'Heartbeat missed' }[ev.code] || 'Connection lost';
      scheduleReconnect(why, ws.retryInMs);
    };
  }

  function scheduleReconnect(why, forcedMs) {
    const base = Math.min(15000, 500 * 2 ** S.attempt);
    const ms = forcedMs ?? Math.round(base * (0.8 + Math.random() * 0.4));
    S.attempt++;
    S.retryAt = Date.now() + ms;
    const tick = () => {
      if (S.conn !== 'waiting') return;
      const s = Math.max(0, Math.ceil((S.retryAt - Date.now()) / 1000));
      $('conn-text').textContent = `${why} · retrying in ${s} s`;
    };
    setConn('waiting', '', true);
    $('reconnect-now').textContent = 'Reconnect now';
    tick();
    S.retryTimer = setTimeout(connect, ms);
  }

  function onHello(h) {
    S.attempt = 0;
    S.user = h.user; S.device = h.device;
    const st = Date.parse(h.server_time);
    if (!isNaN(st)) S.skewMs = st - Date.now();
    showApp();
    setConn('online', 'Online');
    clearInterval(S.heartbeat);
    S.heartbeat = setInterval(() => request('heartbeat').catch(() => {}), HEARTBEAT_MS);
    // What happened while away: refresh every call still shown as live
    // (the replays that follow the hello cover what is ringing).
    for (const c of S.calls.values()) if (!c.over) refreshCall(c.id);
    loadHistory(false);
  }

  function request(op, args) {
    return new Promise((resolve, reject) => {
      const ws = S.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) { reject({ code: 'not_connected', message: 'not connected' }); return; }
      const id = String(S.nextId++);
      const timer = setTimeout(() => { S.pending.delete(id); reject({ code: 'timeout', message: 'no reply from the server' }); }, REQUEST_TIMEOUT_MS);
      S.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      ws.send(JSON.stringify({ type: 'request', id, op, ...args }));
    });
  }

  function onReply(r) {
    const p = S.pending.get(r.id);
    if (!p) return;
    S.pending.delete(r.id);
    if (r.error) p.reject(r.error); else p.resolve(r.result || {});
  }

  // ---- calls: the model ----
  function ensureCall(id) {
    let c = S.calls.get(id);
    if (!c) {
      c = { id, caller: '', mode: 'General', data: '', members: new Map(), maxSeq: 0, over: false, endText: '', failed: [], log: [], created: Date.now() };
      S.calls.set(id, c);
      S.order.unshift(id);
    }
    return c;
  }
  // setMember records m as of seq: an older seq never overwrites a newer one.
  function setMember(c, m, seq) {
    const old = c.members.get(m.user);
    if (old && old.seq > seq) return;
    c.members.set(m.user, { ...m, seq });
    remember(m.user);
  }
  function mine(c) { return c.members.get(S.user); }
  function isPending(m) { return !!m && PENDING.has(m.state); }
  function invitees(c) { return [...c.members.values()].filter((m) => m.user !== c.caller); }
  function addLog(c, text) { c.log.push(text); if (c.log.length > 4) c.log.shift(); }

  // settle marks a general call over: for its caller once no invitee is
  // pending (G6); for an invitee once it has answered, after which no
  // event of the call comes to it.
  function settle(c) {
    if (c.over || c.mode !== 'General' || c.members.size < 2) return;
    const done = c.caller === S.user ? !invitees(c).some(isPending) : mine(c) && !isPending(mine(c));
    if (done) {
      c.over = true;
      const me = mine(c);
      const acc = invitees(c).filter((m) => m.state === 'Accepted').map((m) => m.user);
      if (c.caller === S.user) c.endText = acc.length ? `Answered by ${names(acc)}` : outcome(invitees(c));
      else c.endText = { Accepted: `Connected with ${c.caller}`, Rejected: 'You declined' }[me && me.state] || 'Over';
      loadHistory(false);
    }
  }

  // outcome sums up invitees of whom nobody accepted.
  function outcome(ms) {
    const states = new Set(ms.map((m) => m.state));
    if (states.size === 1) return { Rejected: 'Declined', Timeout: 'No answer', Cancelled: 'Cancelled', Quit: 'Left' }[[...states][0]] || 'Nobody answered';
    return 'Nobody answered';
  }

  function applySnapshot(c, info) {
    c.caller = info.caller || c.caller;
    c.mode = info.mode || c.mode;
    if (info.data !== undefined) c.data = info.data;
    for (const m of info.members || []) setMember(c, m, c.maxSeq);
  }

  function onEvent(ev) {
    const key = ev.call_id + '#' + ev.seq;
    if (S.seen.has(key)) return;
    S.seen.add(key);
    const c = ensureCall(ev.call_id);
    if (ev.caller) c.caller = ev.caller;
    if (ev.mode) c.mode = ev.mode;
    const seq = ev.seq || 0;
    // Deadlines are in the server's clock: keep the offset to it fresh.
    const at = Date.parse(ev.at);
    if (!isNaN(at)) S.skewMs = at - Date.now();
    for (const m of ev.members || []) setMember(c, m, seq);
    c.maxSeq = Math.max(c.maxSeq, seq);
    remember(ev.caller, ev.from);
    const who = ev.from || 'Someone';
    const them = (ev.members || []).map((m) => m.user).filter((u) => u !== S.user);
    switch (ev.kind) {
      case 'InvitationCreated':
        if (ev.data !== undefined) c.data = ev.data;
        c.over = false;
        addLog(c, 'Calling ' + names(them));
        break;
      case 'InvitationReceived':
        if (ev.data !== undefined) c.data = ev.data;
        c.inviter = ev.from;
        c.over = false;
        c.endText = '';
        addLog(c, `${ev.from} is calling you`);
        break;
      case 'InvitationCancelled':
        addLog(c, ev.reason === 'CallerOffline' ? `${c.caller} went offline` : `${who} cancelled`);
        if (c.mode === 'Advanced' || c.caller !== S.user) { c.over = true; c.endText = ev.reason === 'CallerOffline' ? `Missed: ${c.caller} went offline` : `Missed: ${who} cancelled`; }
        if (S.ringing === c.id) toast(c.endText.replace('Missed: ', ''));
        break;
      case 'InvitationAccepted': addLog(c, `${who} accepted`); break;
      case 'InvitationRejected': addLog(c, `${who} ${ev.reason === 'Busy' ? 'is busy' : 'declined'}`); break;
      case 'InvitationTimeout':
        addLog(c, 'You did not answer in time');
        if (c.mode === 'Advanced' || c.caller !== S.user) { c.over = true; c.endText = `Missed call from ${c.caller}`; }
        break;
      case 'InviteesAnsweredTimeout': addLog(c, `No answer from ${names(them)}`); break;
      case 'UserStateChanged':
        if (ev.from) addLog(c, (ev.members || []).map((m) => `${m.user === S.user ? 'you' : m.user} ${m.state === 'Accepted' && c.mode === 'General' ? 'accepted' : VERB[m.state] || m.state}`).join(', ').replace(/^./, (x) => x.toUpperCase()));
        if (c.mode === 'Advanced' && !isPending(mine(c))) c.over = false;
        break;
      case 'InvitationEnded':
        c.over = true;
        c.endText = ev.reason === 'Empty' ? 'Ended: everyone left' : `Ended by ${ev.from === S.user ? 'you' : who}`;
        addLog(c, c.endText);
        loadHistory(false);
        break;
    }
    settle(c);
    render();
  }

  async function refreshCall(id) {
    try {
      const info = await request('call', { call_id: id });
      const c = ensureCall(id);
      applySnapshot(c, info);
      settle(c);
    } catch (e) {
      if (e.code !== 'call_not_found') return;
      const c = S.calls.get(id);
      if (c && !c.over) { c.over = true; c.endText = 'Ended while you were away'; }
    }
    render();
  }

  // ---- commands ----
  async function act(btn, fn) {
    if (btn) btn.disabled = true;
    try { return await fn(); } catch (e) { toast(errText(e), true); return undefined; } finally { if (btn) btn.disabled = false; render(); }
  }

  async function invite(ev) {
    ev.preventDefault();
    const f = ev.target;
    const list = [...new Set(f.to.value.split(/[\s,;]+/).filter(Boolean))];
    if (!list.length) return;
    const mode = f.mode.value;
    const timeout = Math.round(Number(f.timeout.value) * 1000);
    const note = f.note.value.trim();
    await act($('compose-submit'), async () => {
      const res = await request('invite', { invitees: list, timeout_ms: timeout, mode, data: note || undefined });
      remember(...list);
      if (res.merged) { toast(`${list[0]} was calling you: you are now in their call`); return; }
      const c = ensureCall(res.call_id);
      c.caller = c.caller || S.user;
      c.mode = mode;
      if (!c.data) c.data = note;
      setMember(c, { user: S.user, state: 'Accepted' }, -1);
      const failed = new Set((res.failed || []).map((x) => x.user));
      for (const u of list) if (!failed.has(u)) setMember(c, { user: u, state: 'Inviting', inviter: S.user, deadline: res.deadline }, -1);
      c.failed = (res.failed || []).map((x) => `${x.user}: ${errText(x)}`);
      if (failed.size === list.length) { c.over = true; c.endText = 'Nobody could be called'; }
      f.to.value = ''; f.note.value = '';
    });
  }

  function callAction(op, c, extra, btn) {
    return act(btn, async () => {
      const res = await request(op, { call_id: c.id, ...extra });
      const me = mine(c);
      if (op === 'accept' || op === 'join') setMember(c, { ...(me || { user: S.user }), state: 'Accepted', deadline: undefined }, c.maxSeq);
      if (op === 'reject') setMember(c, { ...(me || { user: S.user }), state: 'Rejected', deadline: undefined }, c.maxSeq);
      if (op === 'quit') setMember(c, { ...(me || { user: S.user }), state: 'Quit' }, c.maxSeq);
      if (op === 'join') applySnapshot(c, res);
      if (op === 'calling_invite') {
        for (const x of res.failed || []) toast(`${x.user}: ${errText(x)}`, true);
        const failed = new Set((res.failed || []).map((x) => x.user));
        for (const u of extra.invitees) if (!failed.has(u)) setMember(c, { user: u, state: 'Inviting', inviter: S.user, deadline: res.deadline }, c.maxSeq);
      }
      if (op === 'cancel') {
        // The caller of a general call gets no event of its cancel (G4):
        // the reply says who was cancelled.
        const failed = new Set(res.failed || []);
        for (const m of invitees(c)) {
          if (isPending(m) && !failed.has(m.user) && (!extra.invitees || extra.invitees.includes(m.user))) {
            setMember(c, { user: m.user, state: 'Cancelled', inviter: m.inviter }, c.maxSeq);
          }
        }
        if (failed.size) toast(`Could not cancel: ${names([...failed])}`, true);
        settle(c);
      }
      if (op === 'end') { c.over = true; c.endText = 'Ended by you'; }
      if (op === 'reject' || op === 'accept') settle(c);
      if ((op === 'reject' || op === 'quit') && c.mode === 'Advanced') c.endText = op === 'reject' ? 'You declined' : 'You left';
      return res;
    });
  }

  // ---- rendering ----
  function render() {
    renderCalls();
    renderIncoming();
  }

  function memberRow(c, m) {
    let label = STATE_LABEL[m.state] || m.state;
    let shown = m.state;
    if (c.over && m.state === 'Accepted') label = m.user === c.caller ? 'Called' : 'Answered';
    // An invitee hears nothing of a general call once it has answered,
    // so the other invitees' last known states may be stale: say so.
    if (c.over && isPending(m)) { label = 'No news'; shown = 'Unknown'; }
    const you = m.user === S.user;
    return el('li', { 'data-member': m.user, 'data-state': m.state },
      avatar(m.user),
      el('span', { class: 'name', text: you ? `${m.user} (you)` : m.user }),
      m.user === c.caller ? el('span', { class: 'tag', text: 'caller' }) : null,
      m.user === c.caller && c.mode === 'General' ? null : el('span', { class: 'state', 'data-s': shown, text: label },
        !c.over && isPending(m) && m.deadline ? el('span', { class: 'left', 'data-deadline': m.deadline, text: ` · ${secondsLeft(m.deadline)} s` }) : null));
  }

  function callCard(c) {
    const me = mine(c);
    const adv = c.mode === 'Advanced';
    const incoming = c.caller !== S.user;
    const others = [...c.members.keys()].filter((u) => u !== S.user);
    const title = incoming ? `${adv ? 'Room' : 'Call'} from ${c.caller || '…'}` : `${adv ? 'Room' : 'Call'} with ${others.length ? names(others) : '…'}`;
    const pendingInvitees = invitees(c).filter(isPending).map((m) => m.user);
    const iAmIn = me && me.state === 'Accepted';
    let status = c.over ? c.endText || 'Over' : '';
    if (!c.over) {
      if (isPending(me)) status = 'Ringing you';
      else if (adv) status = iAmIn ? 'You are in' : c.endText || 'You are not in';
      else status = pendingInvitees.length ? 'Ringing…' : '';
    }
    const actions = [];
    if (!c.over) {
      if (c.caller === S.user && pendingInvitees.length) {
        actions.push(el('button', { type: 'button', class: 'danger', 'data-key': `cancel:${c.id}`, 'data-act': 'cancel',
          onclick: (e) => callAction('cancel', c, {}, e.currentTarget) }, pendingInvitees.length > 1 ? 'Cancel all' : 'Cancel'));
      }
      if (isPending(me)) {
        actions.push(el('button', { type: 'button', class: 'accept', 'data-key': `accept:${c.id}`, 'data-act': 'accept', onclick: (e) => callAction('accept', c, {}, e.currentTarget) }, 'Accept'));
        actions.push(el('button', { type: 'button', class: 'ghost', 'data-key': `reject:${c.id}`, 'data-act': 'reject', onclick: (e) => callAction('reject', c, {}, e.currentTarget) }, 'Decline'));
      }
      if (adv && me && !iAmIn && !isPending(me)) {
        actions.push(el('button', { type: 'button', class: 'accept', 'data-key': `join:${c.id}`, 'data-act': 'join', onclick: (e) => callAction('join', c, {}, e.currentTarget) }, 'Join'));
      }
      if (adv && iAmIn) {
        const inputId = `more-${c.id}`;
        actions.push(el('form', {
          'data-act': 'invite-more',
          onsubmit: (e) => {
            e.preventDefault();
            const input = e.currentTarget.querySelector('input');
            const list = [...new Set(input.value.split(/[\s,;]+/).filter(Boolean))];
            if (!list.length) return;
            callAction('calling_invite', c, { invitees: list }, e.currentTarget.querySelector('button')).then((r) => { if (r) input.value = ''; });
          },
        },
        el('label', { for: inputId, class: 'sr', style: 'position:absolute;left:-999px', text: 'Invite more people' }),
        el('input', { id: inputId, 'data-key': `more:${c.id}`, placeholder: 'Invite more…', list: 'people', autocomplete: 'off' }),
        el('button', { type: 'submit', class: 'ghost', 'data-key': `moreb:${c.id}` }, 'Invite')));
        actions.push(el('button', { type: 'button', class: 'ghost', 'data-key': `quit:${c.id}`, 'data-act': 'quit', onclick: (e) => callAction('quit', c, {}, e.currentTarget) }, 'Leave'));
        actions.push(el('button', { type: 'button', class: 'danger', 'data-key': `end:${c.id}`, 'data-act': 'end', onclick: (e) => callAction('end', c, {}, e.currentTarget) }, 'End for all'));
      }
    }
    if (c.over || (!adv && !pendingInvitees.length && !isPending(me))) {
      actions.push(el('button', { type: 'button', class: 'ghost small', 'data-key': `dismiss:${c.id}`, 'data-act': 'dismiss',
        onclick: () => { S.calls.delete(c.id); S.order = S.order.filter((x) => x !== c.id); render(); $('compose-to').focus(); } }, 'Dismiss'));
    }
    const ms = [...c.members.values()];
    ms.sort((a, b) => (a.user === c.caller ? -1 : b.user === c.caller ? 1 : 0));
    return el('article', { class: 'call', 'data-call': c.id, 'data-over': String(c.over), 'aria-label': title },
      el('header', {},
        el('h3', { text: title }),
        el('span', { class: 'tag' + (adv ? ' adv' : ''), text: adv ? 'Room' : 'Ring' }),
        el('span', { class: 'status', 'data-status': '', text: status })),
      c.data ? el('p', { class: 'note', text: `“${c.data}”` }) : null,
      el('ul', { class: 'members', 'aria-label': 'People' }, ms.map((m) => memberRow(c, m))),
      c.failed.length ? el('p', { class: 'failed', text: 'Not called: ' + c.failed.join('; ') }) : null,
      actions.length ? el('div', { class: 'actions' }, actions) : null,
      c.log.length ? el('ul', { class: 'log', 'aria-label': 'What happened' }, c.log.map((l) => el('li', { text: l }))) : null);
  }

  function renderCalls() {
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.key : null;
    const sel = active && key && active.tagName === 'INPUT' ? [active.value, active.selectionStart] : null;
    // Calls that are over stay a while, the three newest; the history
    // keeps them all.
    let over = 0;
    for (const id of S.order.slice()) {
      const c = S.calls.get(id);
      if (c && c.over && ++over > 3) { S.calls.delete(id); S.order = S.order.filter((x) => x !== id); }
    }
    const cards = S.order.filter((id) => S.calls.has(id)).map((id) => callCard(S.calls.get(id)));
    $('calls').replaceChildren(...cards);
    $('calls-empty').hidden = cards.length > 0;
    if (key) {
      const again = $('calls').querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) {
        if (sel) { again.value = sel[0]; try { again.setSelectionRange(sel[1], sel[1]); } catch { /* not a text input */ } }
        again.focus();
      } else if (!document.activeElement || document.activeElement === document.body) {
        $('compose-to').focus();
      }
    }
  }

  // The incoming-call dialog shows the oldest call ringing this user.
  function ringingCalls() {
    return S.order.slice().reverse().map((id) => S.calls.get(id)).filter((c) => c && !c.over && isPending(mine(c)));
  }
  let returnFocus = null;
  function renderIncoming() {
    const dlg = $('incoming');
    const ringing = ringingCalls();
    const c = ringing[0];
    if (!c) {
      if (dlg.open) {
        dlg.close();
        S.ringing = null;
        document.title = 'callsig';
        if (returnFocus && document.contains(returnFocus)) returnFocus.focus(); else $('compose-to').focus();
      }
      return;
    }
    const me = mine(c);
    const others = [...c.members.keys()].filter((u) => u !== S.user && u !== c.caller);
    $('incoming-kind').textContent = c.mode === 'Advanced' ? 'Incoming room invitation' : 'Incoming call';
    $('incoming-title').textContent = c.inviter && c.inviter !== c.caller ? `${c.inviter} (in ${c.caller}'s room)` : c.caller;
    $('incoming-desc').textContent = others.length ? `with ${names(others)}` : c.mode === 'Advanced' ? 'invites you to a room' : 'is calling you';
    $('incoming-note').hidden = !c.data;
    $('incoming-note').textContent = c.data || '';
    $('incoming-more').hidden = ringing.length < 2;
    $('incoming-more').textContent = `${ringing.length - 1} more call${ringing.length > 2 ? 's' : ''} waiting`;
    dlg.dataset.call = c.id;
    dlg.dataset.deadline = (me && me.deadline) || '';
    if (!c.total && me && me.deadline) c.total = Math.max(1, secondsLeft(me.deadline));
    document.title = `📞 ${c.caller} is calling`;
    if (!dlg.open) {
      returnFocus = document.activeElement;
      dlg.showModal();
      $('incoming-accept').focus();
    }
    tickCountdown();
    if (S.ringing !== c.id) { S.ringing = c.id; $('incoming-accept').focus(); }
  }

  function tickCountdown() {
    for (const n of document.querySelectorAll('[data-deadline]')) {
      if (n.id === 'incoming') continue;
      n.textContent = ` · ${secondsLeft(n.dataset.deadline)} s`;
    }
    const dlg = $('incoming');
    if (!dlg.open || !dlg.dataset.deadline) { $('incoming-left').textContent = ''; return; }
    const left = secondsLeft(dlg.dataset.deadline);
    const c = S.calls.get(dlg.dataset.call);
    const total = (c && c.total) || left || 1;
    $('incoming-left').textContent = left > 0 ? `${left} s left` : 'Time is up';
    const bar = $('incoming-meter');
    bar.style.width = `${Math.min(100, (left / total) * 100)}%`;
    bar.classList.toggle('low', left <= 5);
  }

  // ---- history ----
  async function loadHistory(more) {
    if (S.conn !== 'online' && !(S.ws && S.ws.readyState === WebSocket.OPEN)) return;
    try {
      const res = await request('history', { count: 10, cursor: more ? S.historyNext : undefined });
      S.history = more ? S.history.concat(res.calls || []) : res.calls || [];
      S.historyNext = res.next || '';
      renderHistory();
    } catch (e) {
      if (e.code !== 'not_connected') toast('History: ' + errText(e), true);
    }
  }
  function renderHistory() {
    const items = S.history.map((h) => {
      const members = h.members || [];
      const me = members.find((m) => m.user === S.user);
      const out = h.caller === S.user;
      const others = members.map((m) => m.user).filter((u) => u !== S.user);
      remember(...others);
      let dir = out ? 'out' : 'in';
      let what;
      if (out) {
        const acc = members.filter((m) => m.user !== S.user && m.state === 'Accepted').map((m) => m.user);
        what = acc.length ? `answered by ${names(acc)}` : outcome(members.filter((m) => m.user !== S.user)).toLowerCase();
      } else {
        const st = me ? me.state : '';
        if (st !== 'Accepted' && st !== 'Quit') dir = 'missed';
        what = { Accepted: 'you answered', Quit: 'you answered', Rejected: 'you declined', Timeout: 'missed', Cancelled: 'cancelled' }[st] || (st || '').toLowerCase();
      }
      const secs = h.ended_at && h.created_at ? Math.round((Date.parse(h.ended_at) - Date.parse(h.created_at)) / 1000) : null;
      return el('li', { 'data-history': h.call_id },
        el('span', { class: `dir ${dir}`, 'aria-hidden': 'true', text: dir === 'out' ? '↗' : dir === 'in' ? '↙' : '✕' }),
        el('span', { class: 'who-line' }, el('strong', { text: out ? names(others) || '—' : h.caller }), h.mode === 'Advanced' ? el('span', { class: 'tag adv', style: 'margin-left:.4rem', text: 'Room' }) : null),
        el('span', { class: 'when', text: fmtTime(h.created_at) }),
        el('span', { class: 'what', text: `${out ? 'Outgoing' : 'Incoming'}, ${what}${secs !== null ? ` · ${secs} s` : ''}${h.data ? ` · “${h.data}”` : ''}` }));
    });
    $('history').replaceChildren(...items);
    $('history-empty').hidden = items.length > 0;
    $('history-more').hidden = !S.historyNext;
  }

  // ---- sign in / out ----
  function showApp() {
    $('signin').hidden = true;
    $('app').hidden = false;
    $('who').hidden = false;
    $('sign-out').hidden = false;
    $('me-user').textContent = S.user;
    $('me-device').textContent = S.device || 'default device';
    $('me-avatar').replaceWith(Object.assign(avatar(S.user), { id: 'me-avatar' }));
    const focusNow = document.activeElement;
    if (!focusNow || focusNow === document.body || $('signin').contains(focusNow)) $('compose-to').focus();
  }

  function signOut(message) {
    sessionStorage.removeItem('callsig.user');
    sessionStorage.removeItem('callsig.device');
    clearTimeout(S.retryTimer);
    clearInterval(S.heartbeat);
    if (S.ws) { S.ws.signingOut = true; S.ws.close(1000, 'signed out'); S.ws = null; }
    Object.assign(S, { user: '', pastedToken: '', attempt: 0, seen: new Set(), calls: new Map(), order: [], history: [], historyNext: '' });
    render();
    renderHistory();
    setConn('signed-out', 'Signed out');
    $('app').hidden = true; $('who').hidden = true; $('sign-out').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('signin-user').focus();
  }

  function signIn(ev) {
    ev.preventDefault();
    const user = $('signin-user').value.trim();
    const device = $('signin-device').value.trim();
    S.pastedToken = $('signin-token').value.trim();
    if (!user && !S.pastedToken) { $('signin-error').textContent = 'Enter your name.'; return; }
    S.user = user; S.device = device;
    if (!S.pastedToken) { sessionStorage.setItem('callsig.user', user); sessionStorage.setItem('callsig.device', device); }
    $('signin-error').textContent = '';
    connect();
  }

  // ---- wiring ----
  $('signin-form').addEventListener('submit', signIn);
  $('signin-token').addEventListener('input', () => { $('signin-user').required = !$('signin-token').value.trim(); });
  $('sign-out').addEventListener('click', () => signOut());
  $('reconnect-now').addEventListener('click', () => { S.attempt = 0; connect(); });
  $('compose').addEventListener('submit', invite);
  $('history-refresh').addEventListener('click', () => loadHistory(false));
  $('history-more').addEventListener('click', () => loadHistory(true));
  $('incoming-accept').addEventListener('click', (e) => { const c = S.calls.get($('incoming').dataset.call); if (c) callAction('accept', c, {}, e.currentTarget); });
  $('incoming-reject').addEventListener('click', (e) => { const c = S.calls.get($('incoming').dataset.call); if (c) callAction('reject', c, {}, e.currentTarget); });
  $('incoming').addEventListener('cancel', (e) => { e.preventDefault(); $('incoming-reject').click(); }); // Escape declines
  setInterval(tickCountdown, 250);

  // window.callsig is for tests and the curious: the model, and a way to
  // lose the connection as a network would.
  window.callsig = {
    state: S,
    dropConnection(retryInMs) { if (S.ws) { S.ws.retryInMs = retryInMs; S.ws.close(3000, 'dropped'); } },
  };

  const saved = sessionStorage.getItem('callsig.user');
  if (saved) {
    $('signin-user').value = saved;
    $('signin-device').value = sessionStorage.getItem('callsig.device') ?? 'web';
    S.user = saved; S.device = $('signin-device').value;
    connect();
  } else {
    $('signin-user').focus();
  }
})();
