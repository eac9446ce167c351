/*
 * TsChart: one strategy's bars on one symbol as candles, with the strategy's indicators (the
 * ones on the price scale over the candles, oscillators such as RSI, MACD or stochastics in
 * panes below), its BUY/SELL signals as marks whose reasons show on hover, and optionally an
 * equity curve against buy-and-hold in a pane of its own (the backtest report).
 *
 * The one chart component of the project: the live dashboard (`sink dashboard`) and the
 * backtest's offline HTML report both draw with it. It is a plain script (no import/export), so
 * a self-contained HTML file can inline it in a script element after TradingView's
 * lightweight-charts (v5, standalone build, which defines the global `LightweightCharts`),
 * then call `TsChart.create(element).setBars(BARS)`. (This comment never spells the closing
 * tag of a script element: the file is inlined into one.)
 *
 * A bar is a signal record as the Spark query writes it (contract::Signal in JSON):
 * `{bar_start, open, high, low, close, volume, indicators: {name: value}, action, reasons}`.
 * `bar_start` may be an RFC 3339 string or seconds since the epoch (`time`).
 *
 * API: `const c = TsChart.create(container, {height})`; `c.setBars(bars)` replaces everything;
 * `c.addBar(bar)` adds the next bar (or replaces one with the same time); `c.bars()`;
 * `c.setMaxBars(n)` keeps only the newest n bars from then on (a live chart's memory bound);
 * `c.setEquity(points)` draws `[{time, equity, buy_hold}]` (seconds, account values) as two
 * lines in the lowest pane; `c.markerCount()`; `c.panes()` (the series names in each pane,
 * price pane first); `c.fitContent()`; `c.destroy()`.
 */
(function (global) {
  'use strict';

  /** Indicator names that are oscillators whatever their values (by prefix). */
  const OSCILLATORS = /^(rsi|macd|stoch|st\.|adx|dmi|cci|mfi|willr|williams|roc|mom|atr|obv|aroon|trix|ppo|cmo|uo|kdj|tsi)/i;
  const PALETTE = ['#2962ff', '#ff6d00', '#ab47bc', '#00897b', '#f9a825', '#6d4c41', '#d81b60', '#546e7a'];
  const UP = '#26a69a';
  const DOWN = '#ef5350';
  const EQUITY = '#1e88e5';
  const BUY_HOLD = '#9e9e9e';

  /** Seconds since the epoch of a bar's start. */
  function timeOf(bar) {
    if (typeof bar.time === 'number') return bar.time;
    return Math.floor(Date.parse(bar.bar_start) / 1000);
  }

  /** The pane group of an indicator: `macd`, `macd_signal` and `macd_hist` share one pane. */
  function groupOf(name) {
    return name.split(/[._]/)[0].toLowerCase();
  }

  /**
   * Whether an indicator goes in a pane of its own: by name, else by scale (its values far
   * from the prices, e.g. a volume-based or zero-centred series).
   */
  function isOscillator(name, bars) {
    if (OSCILLATORS.test(name)) return true;
    let lo = Infinity, hi = -Infinity;
    const values = [];
    for (const b of bars) {
      lo = Math.min(lo, b.low);
      hi = Math.max(hi, b.high);
      const v = b.indicators && b.indicators[name];
      if (typeof v === 'number') values.push(v);
    }
    if (!values.length || !isFinite(lo)) return false;
    values.sort((a, b) => a - b);
    const median = values[Math.floor(values.length / 2)];
    const span = Math.max(hi - lo, Math.abs(hi) * 0.01);
    return median < lo - 2 * span || median > hi + 2 * span;
  }

  function formatNumber(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    const a = Math.abs(v);
    return v.toLocaleString('en-US', { maximumFractionDigits: a >= 1000 ? 2 : a >= 1 ? 4 : 8 });
  }

  function create(container, options) {
    const LWC = global.LightweightCharts;
    if (!LWC) throw new Error('TsChart needs lightweight-charts (the global LightweightCharts) loaded first');
    const opts = Object.assign({ height: 560 }, options || {});
    container.style.position = container.style.position || 'relative';
    const chart = LWC.createChart(container, {
      autoSize: true,
      height: opts.height,
      layout: { background: { color: '#ffffff' }, textColor: '#222', panes: { separatorColor: '#ccc' } },
      grid: { vertLines: { color: '#f0f0f0' }, horzLines: { color: '#f0f0f0' } },
      timeScale: { timeVisible: true, secondsVisible: true },
      crosshair: { mode: LWC.CrosshairMode.Normal },
    });
    const candles = chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
    });
    const markers = LWC.createSeriesMarkers(candles, []);
    const tooltip = document.createElement('div');
    tooltip.className = 'tschart-tooltip';
    tooltip.style.cssText = 'position:absolute;display:none;pointer-events:none;z-index:10;top:8px;left:8px;' +
      'padding:6px 8px;background:rgba(255,255,255,0.94);border:1px solid #bbb;border-radius:4px;' +
      'font:12px/1.4 system-ui,sans-serif;color:#222;max-width:360px;white-space:normal';
    container.appendChild(tooltip);

    let bars = [];              // sorted by time
    let maxBars = Infinity;
    const lines = new Map();    // indicator name -> {series, pane}
    const paneOf = new Map();   // pane group -> pane index (0: price)
    let panesUsed = 1;          // panes given out, in order of first use
    let equity = null;          // {pane, strategy, buyHold} once setEquity was called
    let colour = 0;

    /** The price pane gets three times the room of each pane below it. */
    function stretch() {
      chart.panes().forEach((p, i) => p.setStretchFactor(i === 0 ? 3 : 1));
    }

    function lineFor(name) {
      let line = lines.get(name);
      if (line) return line;
      let pane = 0;
      if (isOscillator(name, bars)) {
        const group = groupOf(name);
        if (!paneOf.has(group)) paneOf.set(group, panesUsed++);
        pane = paneOf.get(group);
      }
      const series = chart.addSeries(LWC.LineSeries, {
        color: PALETTE[colour++ % PALETTE.length],
        lineWidth: pane === 0 ? 2 : 1,
        title: name,
        priceLineVisible: false,
        lastValueVisible: pane !== 0,
        crosshairMarkerVisible: false,
      }, pane);
      line = { series, pane };
      lines.set(name, line);
      stretch();
      return line;
    }

    function names() {
      const all = new Set();
      for (const b of bars) for (const k in (b.indicators || {})) all.add(k);
      return all;
    }

    function point(b, name) {
      const v = b.indicators && b.indicators[name];
      return typeof v === 'number' ? { time: timeOf(b), value: v } : { time: timeOf(b) };
    }

    function candle(b) {
      return { time: timeOf(b), open: b.open, high: b.high, low: b.low, close: b.close };
    }

    function signalMarks() {
      const out = [];
      for (const b of bars) {
        if (b.action === 'BUY') {
          out.push({ time: timeOf(b), position: 'belowBar', color: UP, shape: 'arrowUp', text: 'BUY' });
        } else if (b.action === 'SELL') {
          out.push({ time: timeOf(b), position: 'aboveBar', color: DOWN, shape: 'arrowDown', text: 'SELL' });
        }
      }
      return out;
    }

    function redraw() {
      candles.setData(bars.map(candle));
      for (const name of names()) {
        lineFor(name).series.setData(bars.map((b) => point(b, name)));
      }
      markers.setMarkers(signalMarks());
    }

    function byTime(t) {
      let lo = 0, hi = bars.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (timeOf(bars[mid]) < t) lo = mid + 1; else hi = mid;
      }
      return lo;
    }

    chart.subscribeCrosshairMove((param) => {
      if (!param || param.time === undefined || !param.point) {
        tooltip.style.display = 'none';
        return;
      }
      const at = byTime(param.time);
      const b = bars[at];
      if (!b || timeOf(b) !== param.time) {
        tooltip.style.display = 'none';
        return;
      }
      const rows = [
        `<b>${escapeHtml(b.symbol || '')}</b> ${new Date(timeOf(b) * 1000).toISOString().replace('.000Z', 'Z')}`,
        `O ${formatNumber(b.open)} H ${formatNumber(b.high)} L ${formatNumber(b.low)} C ${formatNumber(b.close)}`,
      ];
      if (b.action === 'BUY' || b.action === 'SELL') {
        rows.push(`<b style="color:${b.action === 'BUY' ? UP : DOWN}">${b.action}</b>: ${escapeHtml((b.reasons || []).join(', '))}`);
      }
      const ind = Object.entries(b.indicators || {}).map(([k, v]) => `${escapeHtml(k)} ${formatNumber(v)}`);
      if (ind.length) rows.push(ind.join(' · '));
      tooltip.innerHTML = rows.join('<br>');
      tooltip.style.display = 'block';
    });

    return {
      setBars(list) {
        bars = (list || []).slice().sort((a, b) => timeOf(a) - timeOf(b));
        redraw();
      },
      addBar(bar) {
        const t = timeOf(bar);
        const last = bars.length ? timeOf(bars[bars.length - 1]) : -Infinity;
        if (t < last) {
          const at = byTime(t);
          if (bars[at] && timeOf(bars[at]) === t) bars[at] = bar; else bars.splice(at, 0, bar);
          redraw();
          return;
        }
        if (t === last) bars[bars.length - 1] = bar; else bars.push(bar);
        if (bars.length > maxBars) {
          bars.splice(0, bars.length - maxBars);
          redraw();
          return;
        }
        candles.update(candle(bar));
        for (const name of names()) {
          const known = lines.has(name);
          const line = lineFor(name);
          if (known) line.series.update(point(bar, name));
          else line.series.setData(bars.map((b) => point(b, name)));
        }
        if (bar.action === 'BUY' || bar.action === 'SELL' || t === last) markers.setMarkers(signalMarks());
      },
      setMaxBars(n) { maxBars = n > 0 ? n : Infinity; },
      setEquity(points) {
        if (!equity) {
          const pane = panesUsed++;
          const line = (title, color, width) => chart.addSeries(LWC.LineSeries, {
            color, lineWidth: width, title, priceLineVisible: false, crosshairMarkerVisible: false,
          }, pane);
          equity = { pane, strategy: line('equity', EQUITY, 2), buyHold: line('buy & hold', BUY_HOLD, 1) };
          stretch();
        }
        const sorted = (points || []).slice().sort((a, b) => a.time - b.time);
        equity.strategy.setData(sorted.map((p) => ({ time: p.time, value: p.equity })));
        equity.buyHold.setData(sorted.map((p) => ({ time: p.time, value: p.buy_hold })));
      },
      bars() { return bars.slice(); },
      markerCount() { return markers.markers().length; },
      panes() {
        const out = [['candles']];
        for (const [name, line] of lines) (out[line.pane] = out[line.pane] || []).push(name);
        if (equity) out[equity.pane] = ['equity', 'buy & hold'];
        return out;
      },
      fitContent() { chart.timeScale().fitContent(); },
      destroy() { chart.remove(); tooltip.remove(); },
    };
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  global.TsChart = { create, isOscillator, groupOf, escapeHtml, formatNumber };
})(typeof window !== 'undefined' ? window : globalThis);
