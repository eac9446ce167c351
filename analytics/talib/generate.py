#!/usr/bin/env python3
"""Reference values from TA-Lib itself for the `talib` integration test (tests/it/talib.rs).

Generates deterministic per-symbol series of one-minute bars (trends, oscillations, random
walks, flat stretches, gaps of 1 to 50 intervals), the trades that make exactly those bars,
and for every bar the TA-Lib values of the indicators the Spark query computes, over the
lookback window of L bars ending at that bar, exactly as the query defines it:

- the series is forward-filled: an interval with no trade is a flat bar at the previous close
  with volume 0 (including intervals at the start of a window: their close is the last close
  before the window);
- the window is the last L bars of that series ending at the bar (fewer at the start of a
  symbol's history: a window never reaches before the symbol's first trade);
- each indicator is TA-Lib called on the window's closes, its last value taken (NaN -> null).

A bar whose window starts with empty intervals (and has a close before the window) is marked
`gap_start`: the query today starts such a window at its first real bar instead (`query_bars`
is what it holds then), a defect issue 9 point 5 fixes. The test reports those bars apart.

Run with a Python that has TA-Lib (PyPI `TA-Lib` 0.8.2, binary wheel; see analytics/README.md):

    python3 analytics/talib/generate.py            # rewrites analytics/tests/data/talib/
    python3 analytics/talib/generate.py --check    # exit 1 if the committed data differ

The output depends only on this file and TA-Lib's version: prices are rounded to cents (or
1e-5 for the low-priced symbol), so libm differences cannot change them.
"""

import argparse
import datetime as dt
import json
import math
import os
import random
import sys

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "tests", "data", "talib"))
TALIB_VERSION = "0.8.2"

# The strategy the test runs (tests/it/talib.rs reads these from expected.json).
PARAMS = {
    "interval_s": 60,
    "lookback": 40,
    "sma_fast": 5,
    "sma_slow": 12,
    "ema": 8,
    "rsi": 6,
    "macd_fast": 6,
    "macd_slow": 13,
    "macd_signal": 5,
    "bb_period": 10,
    "bb_k": 2.5,
}
# First bar's start: a Monday in the past (trades ahead of the processing time are refused).
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
T0_MS = int(T0.timestamp() * 1000)
INDICATORS = [
    "sma_fast",
    "sma_slow",
    "ema",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
]


def without(indices, *ranges):
    """The indices not in any of the half-open `ranges`."""
    return [i for i in indices if not any(a <= i < b for a, b in ranges)]


def series():
    """{symbol: (decimals, {bar index: close})}: the designed closes, gaps = missing indices."""
    out = {}
    rng = random.Random(9)

    # Up, down, up again, with noise; no gap: every window is full (L bars) from bar 39 on.
    closes = {}
    for i in range(150):
        x = float(i)
        if i < 60:
            base = 20000.0 + 45.0 * x
        elif i < 110:
            base = 22700.0 - 60.0 * (x - 60.0)
        else:
            base = 19700.0 + 30.0 * (x - 110.0)
        closes[i] = base + 25.0 * math.sin(x * 1.3) + rng.uniform(-20.0, 20.0)
    out["TREND/USD"] = (2, closes)

    # Oscillation in and out of the RSI zones and Bollinger bands, with short gaps of 1, 1, 2
    # and 3 intervals: each reaches the start of a window L-1 bars later (gap-start windows of
    # one and of several empty intervals).
    closes = {}
    for i in without(range(150), (30, 31), (55, 56), (80, 82), (100, 103)):
        x = float(i)
        closes[i] = 6000.0 + 300.0 * math.sin(x / 4.0) + 80.0 * math.sin(x * 1.7) + rng.uniform(-15.0, 15.0)
    out["OSC/USD"] = (2, closes)

    # Near 43,000: a 5-interval gap, a 50-interval gap (longer than L: after it a window holds
    # one real bar and L-1 flat bars at the close before the gap), a rise, a flat stretch at
    # 43,000.1, a rise out of it, and (once the long gap left the window, from bar 150) a flat
    # stretch at 43,000.1 after moving prices: running sums must not leave float noise in the
    # Bollinger width or the SMAs; then a fall.
    closes = {}
    for i in without(range(200), (31, 36), (61, 111)):
        x = float(i)
        if i <= 60:
            c = 43000.0 + 120.0 * math.sin(x / 3.0) - 4.0 * x + rng.uniform(-10.0, 10.0)
        elif i <= 114:
            c = 42950.0 + 50.0 * (x - 111.0)
        elif i <= 139 or 165 <= i <= 189:
            c = 43000.1
        elif i < 165:
            c = 43000.1 + 35.0 * (x - 139.0) + 20.0 * math.sin(x * 0.9)
        else:
            c = 43000.1 - 45.0 * (x - 189.0)
        closes[i] = c
    out["GAPS/USD"] = (2, closes)

    # Flat from the start with a 3-interval gap: RSI exactly 0, no band width, and gap-start
    # windows whose values are the same either way.
    out["FLAT/USD"] = (2, {i: 43000.1 for i in without(range(66), (20, 23))})

    # Warm-up only: fewer bars than the slower periods (nulls), one gap inside the window.
    out["WARM/USD"] = (2, {i: 65000.0 + 10.0 * i + (i % 3) * 7.5 for i in without(range(11), (4, 5))})

    # A low price: tolerances scale with the price. Random walk, one 1-interval gap.
    closes, p = {}, 0.35
    for i in range(130):
        p *= 1.0 + rng.gauss(0.0, 0.012)
        if i != 60:
            closes[i] = p
    out["ALT/USD"] = (5, closes)

    # A volatile random walk near 65,000 with gaps of L-2 (its window still starts at the bar
    # before the gap), L (the window after it starts with L-1 empty intervals) and L+5.
    closes, p = {}, 65000.0
    for i in range(200):
        p *= 1.0 + rng.gauss(0.0, 0.01)
        if not (30 <= i < 68 or 90 <= i < 130 or 150 <= i < 195):
            closes[i] = p
    out["BIG/USD"] = (2, closes)

    return {s: (d, {i: round(c, d) for i, c in cs.items()}) for s, (d, cs) in out.items()}


def trades_of_bar(rng, symbol, i, close, prev_close, decimals, next_id):
    """1 to 4 trades in bar `i` whose last by (ts, trade_id) is at `close`; sometimes the last
    two share a timestamp, so the trade id decides the close."""
    n = rng.randint(1, 4)
    start_ms = T0_MS + i * 60_000
    times = sorted(rng.sample(range(0, 60_000, 250), n))
    if n >= 2 and rng.random() < 0.3:
        times[-2] = times[-1]
    ref = prev_close if prev_close is not None else close
    out = []
    for j, t in enumerate(times):
        if j == n - 1:
            price = close
        else:
            price = round((ref + close) / 2.0 * (1.0 + rng.uniform(-0.002, 0.002)), decimals)
        qty = round(rng.uniform(0.001, 2.0), 6)
        out.append((symbol, next_id + j, start_ms + t, price, qty))
    return out


def window_values(closes):
    """TA-Lib's value of every indicator at the last of `closes` (None where it has none)."""
    x = np.array(closes, dtype=np.float64)
    p = PARAMS
    macd, signal, hist = talib.MACD(x, p["macd_fast"], p["macd_slow"], p["macd_signal"])
    upper, middle, lower = talib.BBANDS(x, p["bb_period"], p["bb_k"], p["bb_k"], 0)
    values = {
        "sma_fast": talib.SMA(x, p["sma_fast"]),
        "sma_slow": talib.SMA(x, p["sma_slow"]),
        "ema": talib.EMA(x, p["ema"]),
        "rsi": talib.RSI(x, p["rsi"]),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
    }
    return {k: (None if math.isnan(v[-1]) else float(v[-1])) for k, v in values.items()}


def generate():
    rng = random.Random(20260302)
    L = PARAMS["lookback"]
    trades, bars = [], []
    next_id = 1
    for symbol, (decimals, closes) in series().items():
        first, last = min(closes), max(closes)
        # The forward-filled series from the symbol's first bar: (close, real).
        filled, prev = [], None
        for i in range(first, last + 1):
            if i in closes:
                prev = closes[i]
                filled.append((prev, True))
            else:
                filled.append((prev, False))
        prev_close = None
        for i in range(first, last + 1):
            if i not in closes:
                continue
            k = i - first
            bar_trades = trades_of_bar(rng, symbol, i, closes[i], prev_close, decimals, next_id)
            next_id += len(bar_trades)
            trades.extend(bar_trades)
            prev_close = closes[i]
            lo = max(0, k - L + 1)
            window = filled[lo : k + 1]
            # The query today: from the first real bar inside the window.
            first_real = next(j for j, (_, real) in enumerate(window) if real)
            bar = {
                "symbol": symbol,
                "bar_start": (T0 + dt.timedelta(seconds=60 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "close": closes[i],
                "volume": round(sum(t[4] for t in bar_trades), 9),
                "trades": len(bar_trades),
                "bars": len(window),
                "gap_start": first_real > 0,
                "query_bars": len(window) - first_real,
            }
            bar.update(window_values([c for c, _ in window]))
            bars.append(bar)
    return trades, bars


def render(trades, bars):
    csv = ["symbol,trade_id,ts_ms,price,qty"]
    csv += [f"{s},{tid},{ts},{price!r},{qty!r}" for s, tid, ts, price, qty in trades]
    header = {
        "generator": "analytics/talib/generate.py",
        "talib": talib.__version__,
        "talib_c_core": talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else str(talib.__ta_version__),
        "numpy": np.__version__,
        "compatibility": int(talib.get_compatibility()),
        "params": PARAMS,
        "first_bar_start": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fields": "per bar: the bar (close, volume, trades), bars = the gap-exact window's length, "
        "gap_start = its oldest interval is empty, query_bars = what the query holds today, "
        "then TA-Lib's value of each indicator (null: none yet)",
    }
    lines = ["{", f'"header": {json.dumps(header)},', '"bars": [']
    lines += [json.dumps(b) + ("," if n + 1 < len(bars) else "") for n, b in enumerate(bars)]
    lines += ["]", "}"]
    return "\n".join(csv) + "\n", "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ap.add_argument("--out", default=OUT, help=f"output directory (default {OUT})")
    args = ap.parse_args()
    if talib.__version__ != TALIB_VERSION:
        sys.exit(f"TA-Lib {talib.__version__} found; the committed data are from {TALIB_VERSION}")
    trades, bars = generate()
    files = dict(zip(["trades.csv", "expected.json"], render(trades, bars)))
    if args.check:
        stale = []
        for name, text in files.items():
            path = os.path.join(args.out, name)
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(path)
        if stale:
            sys.exit("differs from a fresh run: " + ", ".join(stale))
        print("up to date")
        return
    os.makedirs(args.out, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(args.out, name), "w") as f:
            f.write(text)
    gap = sum(b["gap_start"] for b in bars)
    print(f"{len(trades)} trades, {len(bars)} bars ({gap} gap-start) -> {args.out}")


if __name__ == "__main__":
    main()
