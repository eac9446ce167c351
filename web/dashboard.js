/*
 * The dashboard page: follows the server's event stream (/events), keeps every chart's bars,
 * draws the chosen one with the shared chart component (chart.js), and shows the recent
 * signals, the health strip and a banner when a piece of the pipeline is down or stale.
 *
 * Every event carries a sequence number; the first (`snapshot`) says where the stream starts
 * and each later one must be the next. A gap means an update was lost: the page drops the
 * stream and connects again, starting over from a fresh snapshot, so what it shows is never
 * silently missing a bar. `window.dashboard` exposes the page's state for tests and curious
 * people.
 */
(function () {
  'use strict';
  const HEALTH_STALE_MS = 5000;
  const state = {
    seq: null,          // last sequence number applied
    charts: new Map(),  // chart key -> bars (sorted by time)
    signals: [],        // recent BUY/SELL, oldest first
    health: null,
    healthAt: 0,        // Date.now() of the last health event
    connected: false,
    resyncs: 0,         // streams dropped because of a sequence gap
    events: 0,
    selected: null,
    historyBars: 500,   // the server's --history-bars: this page keeps no more per chart
  };
  const chart = TsChart.create(document.getElementById('chart'));
  const picker = document.getElementById('picker');
  let source = null;
  let connectionProblem = null;

  function strategies() {
    return new Set([...state.charts.keys()].map((k) => k.split(' · ')[0]));
  }

  /** The picker's label: the symbol, with the strategy when there are several. */
  function label(key) {
    return strategies().size > 1 ? key : key.split(' · ').slice(1).join(' · ');
  }

  function renderPicker() {
    const keys = [...state.charts.keys()].sort();
    const current = [...picker.options].map((o) => o.value);
    if (keys.join('\n') !== current.join('\n')) {
      picker.innerHTML = '';
      for (const k of keys) {
        const o = document.createElement('option');
        o.value = k;
        o.textContent = label(k);
        picker.appendChild(o);
      }
    }
    if (!state.selected || !state.charts.has(state.selected)) state.selected = keys[0] || null;
    picker.value = state.selected || '';
  }

  function select(key) {
    state.selected = key;
    chart.setBars(state.charts.get(key) || []);
    chart.fitContent();
  }

  picker.addEventListener('change', () => select(picker.value));

  function insertBar(bars, bar) {
    const t = Date.parse(bar.bar_start);
    let i = bars.length;
    while (i > 0 && Date.parse(bars[i - 1].bar_start) > t) i--;
    if (i > 0 && Date.parse(bars[i - 1].bar_start) === t) bars[i - 1] = bar;
    else bars.splice(i, 0, bar);
    while (bars.length > state.historyBars) bars.shift();
  }

  function renderSignals() {
    const body = document.getElementById('signals');
    const rows = state.signals.slice().reverse().map((s) =>
      `<tr><td>${new Date(s.bar_end).toISOString().slice(0, 19).replace('T', ' ')}</td>` +
      `<td>${TsChart.escapeHtml(s.strategy)}</td><td>${TsChart.escapeHtml(s.symbol)}</td>` +
      `<td class="${s.action}">${s.action}</td><td>${TsChart.formatNumber(s.close)}</td>` +
      `<td>${TsChart.escapeHtml((s.reasons || []).join(', '))}</td></tr>`);
    body.innerHTML = rows.join('');
  }

  function renderHealth() {
    const strip = document.getElementById('health');
    const h = state.health;
    strip.innerHTML = '';
    if (h) {
      for (const p of h.pieces) {
        const div = document.createElement('div');
        div.className = `piece ${p.state}`;
        div.dataset.piece = p.name;
        const values = p.values.map(([k, v]) =>
          `<div class="value">${TsChart.escapeHtml(k)}: <b>${v === null ? '–' : TsChart.formatNumber(v)}</b></div>`);
        div.innerHTML = `<div class="name">${p.name}${p.state === 'off' ? ' (not watched)' : ''}</div>${values.join('')}`;
        if (p.problem) div.title = p.problem;
        strip.appendChild(div);
      }
      const div = document.createElement('div');
      div.className = 'piece ok';
      div.innerHTML = `<div class="name">browsers</div><div class="value">connected: <b>${h.clients}</b></div>`;
      strip.appendChild(div);
    }
    renderBanner();
  }

  function problems() {
    const out = [];
    if (connectionProblem) out.push(connectionProblem);
    else if (state.healthAt && Date.now() - state.healthAt > HEALTH_STALE_MS) {
      out.push(`no health report from the dashboard server for ${Math.round((Date.now() - state.healthAt) / 1000)}s`);
    }
    if (state.health) for (const p of state.health.pieces) if (p.problem) out.push(p.problem);
    return out;
  }

  function renderBanner() {
    const banner = document.getElementById('banner');
    const list = problems();
    banner.classList.toggle('show', list.length > 0);
    banner.innerHTML = list.length
      ? `Attention: ${list.length === 1 ? 'a piece of the pipeline needs a look' : `${list.length} problems`}` +
        list.map((p) => `<div>• ${TsChart.escapeHtml(p)}</div>`).join('')
      : '';
    document.getElementById('status').textContent = state.connected
      ? `live · ${state.charts.size} charts · update #${state.seq}`
      : 'reconnecting…';
  }

  function applySnapshot(data) {
    state.seq = data.seq;
    state.historyBars = data.history_bars;
    chart.setMaxBars(data.history_bars);
    state.charts = new Map(Object.entries(data.charts));
    state.signals = data.signals;
    if (data.health) { state.health = data.health; state.healthAt = Date.now(); }
    renderPicker();
    if (state.selected) select(state.selected);
    renderSignals();
    renderHealth();
  }

  function applyBar(bar) {
    const key = bar.chart;
    const isNew = !state.charts.has(key);
    if (isNew) state.charts.set(key, []);
    insertBar(state.charts.get(key), bar);
    if (bar.action === 'BUY' || bar.action === 'SELL') {
      state.signals.push(bar);
      if (state.signals.length > 200) state.signals.shift();
      renderSignals();
    }
    if (isNew) renderPicker();
    if (key === state.selected) {
      if (isNew) select(key); else chart.addBar(bar);
    }
  }

  /** Applies a numbered event; false when it is not the next one (the stream must restart). */
  function inOrder(data) {
    if (state.seq === null || data.seq !== state.seq + 1) return false;
    state.seq = data.seq;
    state.events++;
    return true;
  }

  function connect() {
    if (source) source.close();
    state.seq = null;
    source = new EventSource('/events');
    source.addEventListener('open', () => {
      state.connected = true;
      connectionProblem = null;
      renderBanner();
    });
    source.addEventListener('error', () => {
      state.connected = false;
      connectionProblem = 'lost the connection to the dashboard server; reconnecting';
      renderBanner();
    });
    source.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
    const follow = (apply) => (e) => {
      const data = JSON.parse(e.data);
      if (!inOrder(data)) {
        state.resyncs++;
        console.warn(`update ${data.seq} after ${state.seq}: starting over from a snapshot`);
        connect();
        return;
      }
      apply(data);
    };
    source.addEventListener('bar', follow((d) => applyBar(d.bar)));
    source.addEventListener('health', follow((d) => {
      state.health = d.health;
      state.healthAt = Date.now();
      renderHealth();
    }));
  }

  // The banner also notices when health reports stop coming.
  setInterval(renderBanner, 1000);
  connect();

  window.dashboard = {
    state,
    chart,
    select(key) { picker.value = key; select(key); },
    problems,
    bars() { return Object.fromEntries([...state.charts].map(([k, v]) => [k, v.length])); },
    signals() { return Object.fromEntries([...state.charts].map(([k, v]) => [k, v.filter((b) => b.action !== 'HOLD').length])); },
  };
})();
