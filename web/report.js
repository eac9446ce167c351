/*
 * The backtest report's page script (`analytics backtest --report`): draws each symbol's
 * section from the data inlined in the page as JSON (`#report-data`), with TsChart
 * (chart.js): candles, indicators, BUY/SELL marks (reasons on hover), and the equity curve
 * against buy-and-hold; and fills each symbol's table of signals. Text goes in as text
 * (textContent), never as markup.
 *
 * Data: `{symbols: [{symbol, bars: [{time, open, high, low, close, indicators, action,
 * reasons}], equity: [{time, equity, buy_hold}]}]}`; section i of the page is symbols[i].
 * `window.report` = `{data, charts}` for people poking at the page and for tests.
 */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const charts = [];

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
  }

  data.symbols.forEach((s, i) => {
    const chart = TsChart.create(document.getElementById('chart-' + i), { height: 720 });
    chart.setBars(s.bars);
    chart.setEquity(s.equity);
    chart.fitContent();
    charts.push(chart);
    const body = document.querySelector('#symbol-' + i + ' table.signals tbody');
    for (const b of s.bars) {
      if (!(b.reasons || []).length) continue;
      const row = document.createElement('tr');
      cell(row, new Date(b.time * 1000).toISOString().replace('.000Z', 'Z'));
      cell(row, b.action);
      cell(row, TsChart.formatNumber(b.close));
      cell(row, b.reasons.join(', '));
      row.className = b.action.toLowerCase();
      body.appendChild(row);
    }
  });

  window.report = { data, charts };
})();
