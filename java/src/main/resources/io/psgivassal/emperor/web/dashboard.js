'use strict';
// The Emperor dashboard: polls /api/status (the stats JSON) and /api/dashboard once a second and
// updates the table in place. Every name, path and reason goes into the page as text
// (textContent), never as markup: a vassal name is whatever a config file is called.
(() => {
  const POLL_MS = 1000;
  const TOKEN_KEY = 'emperor-web-token';
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector('#vassals tbody');
  const rows = new Map(); // vassal name -> {tr, cells, values}
  let sortKey = 'name';
  let sortDir = 1;
  let extras = { actions: false, exits: {} };
  let lastStatus = null;

  const UP = new Set(['running', 'ready', 'accepting', 'loyal']);
  const COLUMNS = ['name', 'state', 'pid', 'kind', 'sockets', 'uptime', 'respawns', 'exit', 'throttle'];
  const NUMERIC = new Set(['pid', 'uptime', 'respawns', 'throttle']);

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  function say(text, ok) {
    const m = $('message');
    m.textContent = text;
    m.className = ok ? 'ok' : 'error';
  }

  function duration(secs) {
    if (secs < 0) return '';
    const d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600);
    const m = Math.floor(secs % 3600 / 60), s = Math.floor(secs % 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function kind(v) {
    if (v.generation > 0) return `base, generation ${v.generation}`;
    if (v.adopted) return `adopted from ${v.fork_server}` + (v.base_generation > 0 ? ` (generation ${v.base_generation})` : '');
    if (v.on_demand) return 'on demand';
    return 'spawned';
  }

  /** The row's values: [text, sort key] per column. */
  function values(v, blacklist, now) {
    const up = v.pid > 0 && v.born > 0 ? now - v.born : -1;
    const exit = extras.exits[v.id];
    const bl = blacklist.get(v.id);
    return {
      name: [v.id, v.id],
      state: [v.state + (v.blacklisted ? ' (blacklisted)' : ''), v.state],
      pid: [v.pid > 0 ? String(v.pid) : '', v.pid],
      kind: [kind(v), kind(v)],
      sockets: [[v.http, v.on_demand].filter(Boolean).join(' '), v.http || v.on_demand],
      uptime: [duration(up), up],
      respawns: [String(v.respawns), v.respawns],
      exit: [exit ? `${exit.status}: ${exit.reason}` : '', exit ? exit.at : 0],
      throttle: [bl ? `${(bl.throttle_ms / 1000).toFixed(1)} s (attempt ${bl.attempt})` : '', bl ? bl.throttle_ms : 0],
    };
  }

  function button(action, name) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = action;
    b.dataset.action = action;
    b.dataset.vassal = name;
    return b;
  }

  function newRow(name) {
    const tr = document.createElement('tr');
    tr.dataset.vassal = name;
    const cells = {};
    for (const c of COLUMNS) {
      const td = document.createElement('td');
      td.className = c;
      tr.appendChild(td);
      cells[c] = td;
    }
    const act = document.createElement('td');
    act.className = 'actions';
    for (const a of ['reload', 'stop', 'start']) act.appendChild(button(a, name));
    const deploy = button('deploy', name);
    deploy.hidden = true;
    act.appendChild(deploy);
    tr.appendChild(act);
    cells.deploy = deploy;
    return { tr, cells, values: {} };
  }

  function setCell(row, col, text, v) {
    if (row.values[col] === text) return;
    row.values[col] = text;
    const td = row.cells[col];
    if (col === 'sockets' && /^https?:\/\//.test(v.http)) {
      td.replaceChildren();
      const a = document.createElement('a');
      a.href = v.http;
      a.textContent = v.http;
      td.appendChild(a);
      if (v.on_demand) td.append(' ' + v.on_demand);
    } else {
      td.textContent = text;
    }
  }

  function matches(row, filter) {
    if (!filter) return true;
    return COLUMNS.some((c) => (row.values[c] || '').toLowerCase().includes(filter));
  }

  function render() {
    if (!lastStatus) return;
    const s = lastStatus;
    const now = Date.now() / 1000;
    const blacklist = new Map(s.blacklist.map((b) => [b.id, b]));
    const seen = new Set();
    for (const v of s.vassals) {
      seen.add(v.id);
      let row = rows.get(v.id);
      if (!row) {
        row = newRow(v.id);
        rows.set(v.id, row);
      }
      const vals = values(v, blacklist, now);
      row.sort = {};
      for (const c of COLUMNS) {
        setCell(row, c, vals[c][0], v);
        row.sort[c] = vals[c][1];
      }
      row.tr.classList.toggle('up', UP.has(v.state));
      row.tr.classList.toggle('down', !UP.has(v.state));
      row.cells.deploy.hidden = !(v.generation > 0);
    }
    for (const [name, row] of rows) {
      if (!seen.has(name)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
    const filter = $('filter').value.trim().toLowerCase();
    const ordered = [...rows.values()].sort((a, b) => {
      const x = a.sort[sortKey], y = b.sort[sortKey];
      const c = NUMERIC.has(sortKey) ? x - y : String(x).localeCompare(String(y));
      return sortDir * (c || a.sort.name.localeCompare(b.sort.name));
    });
    let shown = 0;
    ordered.forEach((row, i) => {
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      const visible = matches(row, filter);
      row.tr.classList.toggle('hidden', !visible);
      if (visible) shown++;
    });
    $('count').textContent = `${shown} of ${rows.size} vassals shown`;
    renderEmperor(s);
    renderDeploys(s);
  }

  function renderEmperor(s) {
    const mb = extras.rss > 0 ? (extras.rss / 1048576).toFixed(0) + ' MiB' : '?';
    const up = s.vassals.filter((v) => UP.has(v.state)).length;
    $('emperor').textContent = `${s.version}, pid ${s.pid}: ${s.vassals.length} vassals, ${up} up, `
      + `${s.blacklist.length} blacklisted; ${extras.threads} threads, ${extras.open_fds} fds, ${mb} resident`;
    document.body.classList.toggle('read-only', !extras.actions);
  }

  function renderDeploys(s) {
    const box = $('deploys');
    box.replaceChildren();
    for (const d of s.deploys) {
      const on = s.vassals.filter((v) => v.fork_server === d.fork_server && v.generation === 0);
      const moved = on.filter((v) => v.base_generation >= d.generation).length;
      const div = document.createElement('div');
      div.className = 'deploy';
      const p = document.createElement('progress');
      p.max = Math.max(on.length, 1);
      p.value = moved;
      div.append(`deploy of ${d.base}, generation ${d.generation}${d.rolling ? '' : ' (loading)'}: `, p,
        ` ${moved} / ${on.length} on the new generation` + (d.failed.length ? `, failed: ${d.failed.join(', ')}` : ''));
      box.appendChild(div);
    }
  }

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
    return r.json();
  }

  async function poll() {
    try {
      const [s, d] = await Promise.all([getJson('api/status'), getJson('api/dashboard')]);
      lastStatus = s;
      extras = d;
      render();
      $('live').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      $('live').textContent = 'cannot reach the Emperor (' + e.message + '), retrying';
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function act(action, name) {
    const headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    say(`${action} ${name}…`, true);
    try {
      const r = await fetch(`api/${action}?vassal=${encodeURIComponent(name)}`, { method: 'POST', headers, cache: 'no-store' });
      const text = (await r.text()).trim();
      if (r.ok) {
        say(`${action} ${name}: done`, true);
      } else if (r.status === 403 && !token()) {
        say(`${action} ${name} refused (403): enter the token first. ${text}`, false);
      } else {
        say(`${action} ${name} refused (${r.status}): ${text}`, false);
      }
    } catch (e) {
      say(`${action} ${name} failed: ${e.message}`, false);
    }
  }

  tbody.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (b) act(b.dataset.action, b.dataset.vassal);
  });

  document.querySelectorAll('th[data-sort]').forEach((th) => th.addEventListener('click', () => {
    const key = th.dataset.sort;
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    document.querySelectorAll('th[data-sort]').forEach((o) => o.classList.remove('sorted-asc', 'sorted-desc'));
    th.classList.add(sortDir > 0 ? 'sorted-asc' : 'sorted-desc');
    render();
  }));

  $('filter').addEventListener('input', render);

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    say(t ? 'token set for this tab' : 'no token entered', !!t);
  });
  $('forget-token').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    say('token forgotten', true);
  });

  document.querySelector('th[data-sort="name"]').classList.add('sorted-asc');
  poll();
})();
