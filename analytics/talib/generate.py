#!/usr/bin/env python3
"""Reference values from TA-Lib itself for the `talib` integration test (tests/it/talib.rs).

Defines the test's strategy once (bars, the classic indicator set and named indicator
instances of 16 kinds) and writes it as `strategy.toml`, which the test loads. Generates
deterministic per-symbol series of one-minute bars (trends, oscillations, random walks, flat
stretches, gaps of 1 to 50 intervals, tiny quantities), the trades that make exactly those
bars, and for every bar the TA-Lib values of every indicator series of the strategy over the
lookback window of L bars ending at that bar, exactly as the query defines it:

- a bar is OHLCV of its trades: open and close are the first and last trade by
  (ts, trade_id), high and low the extreme prices, volume the sum of the quantities added in
  (ts, trade_id) order as doubles (what the query's sum gives; that exact double goes to
  TA-Lib and into expected.json);
- the series is forward-filled: an interval with no trade is a flat bar, open = high = low =
  close = the previous close, volume 0 (including intervals at the start of a window: their
  close is the last close before the window);
- the window is the last L bars of that series ending at the bar (fewer at the start of a
  symbol's history: a window never reaches before the symbol's first trade);
- each indicator is TA-Lib called on the window's arrays (open, high, low, close, volume as
  float64), its last value taken (NaN -> null); VWAP, not in TA-Lib, is defined below.

Series names (the keys of each bar's `indicators` in expected.json): the classic set keeps
its flat names (sma_fast ... bb_lower); a named instance with one output is `NAME`, one with
several is `NAME.OUTPUT` (macd: macd, signal, hist; bbands: upper, middle, lower; stoch: k, d).

A bar whose window starts with empty intervals (and has a close before the window) is marked
`gap_start`: the query without `bars.gap_fill` starts such a window at its first real bar
instead (`query_bars` is what it holds then). The test reports those bars apart.

Run with a Python that has TA-Lib (PyPI `TA-Lib` 0.8.2, binary wheel; see analytics/README.md):

    python3 analytics/talib/generate.py            # rewrites analytics/tests/data/talib/
    python3 analytics/talib/generate.py --check    # exit 1 if the committed data differ

The output depends only on this file and TA-Lib's version: prices are rounded to cents (or
1e-5 and 1e-6 for the low-priced symbols), quantities to 1e-6 (1e-9 for THIN/USD), so libm
differences cannot change them.
"""

import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import tomllib

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "tests", "data", "talib"))
TALIB_VERSION = "0.8.2"
STRATEGY_FILE = "strategy.toml"

# The strategy the test runs, written to strategy.toml. `gap_fill`: the data's longest
# silence is 50 intervals; the window looks that far back (and some) for the close that fills
# its empty oldest intervals.
BARS = {"interval_s": 60, "lookback": 40, "gap_fill": 60}
# The classic indicator set ([indicators] in the strategy).
CLASSIC = {
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
# Indicator kinds: TA-Lib's default parameters (used where an instance leaves one out; None:
# optional, no default) and the output names of multi-output kinds.
KINDS = {
    "sma": ({"period": 30}, None),
    "ema": ({"period": 30}, None),
    "wma": ({"period": 30}, None),
    "rsi": ({"period": 14}, None),
    "roc": ({"period": 10}, None),
    "mom": ({"period": 10}, None),
    "macd": ({"fast": 12, "slow": 26, "signal": 9}, ("macd", "signal", "hist")),
    "bbands": ({"period": 5, "k": 2.0}, ("upper", "middle", "lower")),
    "atr": ({"period": 14}, None),
    "natr": ({"period": 14}, None),
    "adx": ({"period": 14}, None),
    "cci": ({"period": 14}, None),
    "stoch": ({"fastk": 5, "slowk": 3, "slowd": 3}, ("k", "d")),
    "mfi": ({"period": 14}, None),
    "obv": ({}, None),
    "vwap": ({"period": None}, None),
}
# Named instances ([indicators.NAME]): every kind at least once, some twice; periods small
# enough for L = 40 windows (ADX needs 2 x period bars, MACD slow + signal - 1), one ADX, CCI
# and MFI at 14. Params left out take TA-Lib's default (mfi14, st, macd_std).
INSTANCES = {
    "sma20": ("sma", {"period": 20}),
    "ema3": ("ema", {"period": 3}),
    "wma9": ("wma", {"period": 9}),
    "wma30": ("wma", {"period": 30}),
    "rsi14": ("rsi", {"period": 14}),
    "roc5": ("roc", {"period": 5}),
    "roc12": ("roc", {"period": 12}),
    "mom3": ("mom", {"period": 3}),
    "m2": ("macd", {"fast": 3, "slow": 8, "signal": 4}),
    "macd_std": ("macd", {}),
    "bb2": ("bbands", {"period": 20, "k": 1.5}),
    "atr5": ("atr", {"period": 5}),
    "atr14": ("atr", {"period": 14}),
    "natr7": ("natr", {"period": 7}),
    "adx5": ("adx", {"period": 5}),
    "adx14": ("adx", {"period": 14}),
    "cci5": ("cci", {"period": 5}),
    "cci14": ("cci", {"period": 14}),
    "st": ("stoch", {}),
    "st2": ("stoch", {"fastk": 14, "slowk": 1, "slowd": 4}),
    "mfi5": ("mfi", {"period": 5}),
    "mfi14": ("mfi", {}),
    "obv": ("obv", {}),
    "vwap": ("vwap", {}),
    "vwap10": ("vwap", {"period": 10}),
    # Single-input kinds on another series of the bar (`source`).
    "vol20": ("sma", {"period": 20, "source": "volume"}),
    "ema_typ": ("ema", {"period": 6, "source": "hlc3"}),
    "rsi_med": ("rsi", {"period": 5, "source": "hl2"}),
    "bb_avg": ("bbands", {"period": 8, "k": 2.0, "source": "ohlc4"}),
    "mom_high": ("mom", {"period": 2, "source": "high"}),
    "wma_low": ("wma", {"period": 4, "source": "low"}),
    "roc_open": ("roc", {"period": 3, "source": "open"}),
}
# What `source` may say, for the single-input kinds, and TA-Lib's function for each.
SOURCES = {
    "close": lambda w: w["close"],
    "open": lambda w: w["open"],
    "high": lambda w: w["high"],
    "low": lambda w: w["low"],
    "volume": lambda w: w["volume"],
    "hl2": lambda w: talib.MEDPRICE(w["high"], w["low"]),
    "hlc3": lambda w: talib.TYPPRICE(w["high"], w["low"], w["close"]),
    "ohlc4": lambda w: talib.AVGPRICE(w["open"], w["high"], w["low"], w["close"]),
}
SINGLE_INPUT = ("sma", "ema", "wma", "rsi", "roc", "mom", "macd", "bbands")
VWAP_DOC = """vwap {period (optional)}, not in TA-Lib: sum(close * volume) / sum(volume) over the last
`period` bars of the window (all of them without `period`), both sums added oldest bar first
from 0.0; null when the window holds fewer than `period` bars or the volume sum is 0."""
# How the trades of a symbol's bars look (default: prices within 0.2 % of the middle of the
# previous and this close, quantities 0.001 to 2 rounded to 1e-6). `spread` 0: every trade of
# a bar that closes where the previous one did is at that price (flat high and low).
STYLE = {
    "FLAT/USD": {"spread": 0.0},
    "STILL/USD": {"spread": 0.0},
    "THIN/USD": {"qty_scale": 1e-3, "qty_decimals": 9, "zero_qty": range(60, 72)},
}
# First bar's start: a Monday in the past (trades ahead of the processing time are refused).
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
T0_MS = int(T0.timestamp() * 1000)


def params_of(kind, given):
    """An instance's parameters: TA-Lib's defaults, overridden by the given ones."""
    defaults, _ = KINDS[kind]
    if kind in SINGLE_INPUT:
        defaults = {**defaults, "source": "close"}
    unknown = set(given) - set(defaults)
    assert not unknown, f"{kind}: unknown params {unknown}"
    return {**defaults, **given}


def series_specs():
    """[(series name, kind, full params, output or None)]: the classic set, then the instances."""
    c = CLASSIC
    macd = {"fast": c["macd_fast"], "slow": c["macd_slow"], "signal": c["macd_signal"]}
    bb = {"period": c["bb_period"], "k": c["bb_k"]}
    specs = [
        ("sma_fast", "sma", {"period": c["sma_fast"]}, None),
        ("sma_slow", "sma", {"period": c["sma_slow"]}, None),
        ("ema", "ema", {"period": c["ema"]}, None),
        ("rsi", "rsi", {"period": c["rsi"]}, None),
        ("macd", "macd", macd, "macd"),
        ("macd_signal", "macd", macd, "signal"),
        ("macd_hist", "macd", macd, "hist"),
        ("bb_upper", "bbands", bb, "upper"),
        ("bb_middle", "bbands", bb, "middle"),
        ("bb_lower", "bbands", bb, "lower"),
    ]
    for name, (kind, given) in INSTANCES.items():
        p = params_of(kind, given)
        outputs = KINDS[kind][1]
        if outputs is None:
            specs.append((name, kind, p, None))
        else:
            specs += [(f"{name}.{o}", kind, p, o) for o in outputs]
    return specs


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
    # windows whose values are the same either way. Every trade is at the close (STYLE), so
    # the bars are flat in open, high and low too: ADX, CCI, STOCH, MFI and NATR all 0.
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

    # Flat OHLC (every trade at 100.0) for 30 bars, a climb with swings, flat again at 140.0
    # with a 4-interval gap: windows wholly flat in high, low and close (the zero-range and
    # zero-money-flow paths of ADX, CCI, STOCH, MFI, NATR), windows starting flat and then
    # moving (ADX seeded from zero directional movement), and moves that end in a flat stretch.
    closes = {}
    for i in without(range(95), (75, 79)):
        x = float(i)
        if i < 30:
            closes[i] = 100.0
        elif i < 50:
            closes[i] = 100.0 + 2.0 * (x - 29.0) + 3.0 * math.sin(x * 1.1)
        else:
            closes[i] = 140.0
    out["STILL/USD"] = (2, closes)

    # Near 0.02 with tiny quantities (see STYLE): money flows of about 1e-5 per bar, sums far
    # below 1.0 (older TA-Lib returned MFI 0 below 1.0; 0.8.2 does not); bars 60-71 trade with
    # quantity 0 (real bars with volume 0: a VWAP over only them is null).
    closes, p = {}, 0.02
    for i in range(100):
        p *= 1.0 + rng.gauss(0.0, 0.01)
        if i not in (40, 41):
            closes[i] = p
    out["THIN/USD"] = (6, closes)

    return {s: (d, {i: round(c, d) for i, c in cs.items()}) for s, (d, cs) in out.items()}


def trades_of_bar(rng, symbol, i, close, prev_close, decimals, next_id):
    """1 to 4 trades in bar `i` whose last by (ts, trade_id) is at `close`; sometimes the last
    two share a timestamp, so the trade id decides the close. Styled by STYLE[symbol]."""
    style = STYLE.get(symbol, {})
    spread = style.get("spread", 0.002)
    qty_scale, qty_decimals = style.get("qty_scale", 1.0), style.get("qty_decimals", 6)
    zero_qty = i in style.get("zero_qty", ())
    n = rng.randint(1, 4)
    start_ms = T0_MS + i * 60_000
    times = sorted(rng.sample(range(0, 60_000, 250), n))
    if n >= 2 and rng.random() < 0.3:
        times[-2] = times[-1]
    ref = prev_close if prev_close is not None else close
    out = []
    for j, t in enumerate(times):
        # The same draws whatever the style, so a style changes no other symbol's trades.
        if j == n - 1:
            price = close
        else:
            price = round((ref + close) / 2.0 * (1.0 + rng.uniform(-spread, spread)), decimals)
        qty = round(rng.uniform(0.001, 2.0) * qty_scale, qty_decimals)
        if zero_qty:
            qty = 0.0
        out.append((symbol, next_id + j, start_ms + t, price, qty))
    return out


def bar_of(trades):
    """The OHLCV bar of one interval's trades (given in (ts, trade_id) order), as the query
    aggregates them; the volume is the left-to-right double sum of the quantities."""
    prices = [t[3] for t in trades]
    volume = 0.0
    for t in trades:
        volume += t[4]
    return {"open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1], "volume": volume}


def vwap(c, v, period):
    """VWAP_DOC's definition at the last bar of the window."""
    n = len(c) if period is None else period
    if len(c) < n:
        return np.array([math.nan])
    num, den = 0.0, 0.0
    for k in range(len(c) - n, len(c)):
        num += c[k] * v[k]
        den += v[k]
    return np.array([num / den if den != 0.0 else math.nan])


def compute(kind, p, w):
    """The outputs of one indicator over window arrays `w` (o, h, l, c, v): a tuple of arrays
    in KINDS' output order (one array for single-output kinds)."""
    h, l, c, v = w["high"], w["low"], w["close"], w["volume"]
    if kind in SINGLE_INPUT:
        c = SOURCES[p.get("source", "close")](w)
    if kind in ("sma", "ema", "wma", "rsi", "roc", "mom"):
        return (getattr(talib, kind.upper())(c, p["period"]),)
    if kind == "macd":
        return talib.MACD(c, p["fast"], p["slow"], p["signal"])
    if kind == "bbands":
        return talib.BBANDS(c, p["period"], p["k"], p["k"], 0)
    if kind in ("atr", "natr", "adx", "cci"):
        return (getattr(talib, kind.upper())(h, l, c, p["period"]),)
    if kind == "stoch":
        return talib.STOCH(h, l, c, p["fastk"], p["slowk"], 0, p["slowd"], 0)
    if kind == "mfi":
        return (talib.MFI(h, l, c, v, p["period"]),)
    if kind == "obv":
        return (talib.OBV(c, v),)
    if kind == "vwap":
        return (vwap(c, v, p["period"]),)
    raise ValueError(kind)


def window_values(specs, window):
    """TA-Lib's value of every series at the last bar of `window` (None where it has none)."""
    fields = ("open", "high", "low", "close", "volume")
    w = {f: np.array([b[f] for b in window], dtype=np.float64) for f in fields}
    cache, values = {}, {}
    for name, kind, p, output in specs:
        key = (kind, tuple(sorted(p.items())))
        if key not in cache:
            cache[key] = compute(kind, p, w)
        outputs = cache[key]
        x = outputs[0 if output is None else KINDS[kind][1].index(output)][-1]
        values[name] = None if math.isnan(x) else float(x)
    return values


def generate():
    rng = random.Random(20260302)
    L = BARS["lookback"]
    specs = series_specs()
    trades, bars = [], []
    next_id = 1
    for symbol, (decimals, closes) in series().items():
        first, last = min(closes), max(closes)
        prev_close = None
        # The forward-filled series from the symbol's first bar: (bar, real, its trades).
        filled = []
        for i in range(first, last + 1):
            if i in closes:
                bar_trades = trades_of_bar(rng, symbol, i, closes[i], prev_close, decimals, next_id)
                next_id += len(bar_trades)
                trades.extend(bar_trades)
                bar = bar_of(bar_trades)
                assert bar["close"] == closes[i]
                prev_close = closes[i]
                filled.append((bar, True, bar_trades))
            else:
                pc = prev_close
                filled.append(({"open": pc, "high": pc, "low": pc, "close": pc, "volume": 0.0}, False, []))
        for k, (bar, real, bar_trades) in enumerate(filled):
            if not real:
                continue
            lo = max(0, k - L + 1)
            window = filled[lo : k + 1]
            # The query without gap_fill: from the first real bar inside the window.
            first_real = next(j for j, (_, r, _) in enumerate(window) if r)
            bars.append(
                {
                    "symbol": symbol,
                    "bar_start": (T0 + dt.timedelta(seconds=60 * (first + k))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    **bar,
                    "trades": len(bar_trades),
                    "bars": len(window),
                    "gap_start": first_real > 0,
                    "query_bars": len(window) - first_real,
                    "indicators": window_values(specs, [b for b, _, _ in window]),
                }
            )
    return trades, bars


def toml_value(v):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise TypeError(v)
    return json.dumps(v) if isinstance(v, str) else repr(v)


def render_strategy():
    """strategy.toml: the strategy of the test; parsed back to check it says what is meant."""
    lines = [
        "# Written by analytics/talib/generate.py: the strategy of the talib test. Do not edit.",
        "# Source and sink topics are the test's own. TA-Lib's defaults fill left-out params.",
        'name = "talib"',
        "",
        "[bars]",
        *(f"{k} = {toml_value(v)}" for k, v in BARS.items()),
        "",
        "[indicators]",
        *(f"{k} = {toml_value(v)}" for k, v in CLASSIC.items()),
    ]
    first_vwap = next(n for n, (k, _) in INSTANCES.items() if k == "vwap")
    for name, (kind, given) in INSTANCES.items():
        lines += ["", f"[indicators.{name}]"]
        if name == first_vwap:
            lines += ["# " + line for line in VWAP_DOC.split("\n")]
        left_out = {k: v for k, v in KINDS[kind][0].items() if k not in given and v is not None}
        if left_out:
            lines.append("# TA-Lib's defaults: " + ", ".join(f"{k} = {v}" for k, v in left_out.items()))
        lines.append(f"kind = {toml_value(kind)}")
        lines += [f"{k} = {toml_value(v)}" for k, v in given.items()]
    lines += ["", "[rules]", "every_bar = true"]
    text = "\n".join(lines) + "\n"
    parsed = tomllib.loads(text)
    want = {
        "name": "talib",
        "bars": BARS,
        "indicators": {**CLASSIC, **{n: {"kind": k, **g} for n, (k, g) in INSTANCES.items()}},
        "rules": {"every_bar": True},
    }
    assert parsed == want, (parsed, want)
    return text


def render(trades, bars):
    csv = ["symbol,trade_id,ts_ms,price,qty"]
    csv += [f"{s},{tid},{ts},{price!r},{qty!r}" for s, tid, ts, price, qty in trades]
    header = {
        "generator": "analytics/talib/generate.py",
        "talib": talib.__version__,
        "talib_c_core": talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else str(talib.__ta_version__),
        "numpy": np.__version__,
        "compatibility": int(talib.get_compatibility()),
        "strategy": STRATEGY_FILE,
        "params": {**BARS, **CLASSIC},
        "instances": {n: {"kind": k, **params_of(k, g)} for n, (k, g) in INSTANCES.items()},
        "series": [name for name, _, _, _ in series_specs()],
        "vwap": VWAP_DOC.replace("\n", " "),
        "first_bar_start": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fields": "per bar: the bar (open, high, low, close, volume = the exact double sum of its "
        "quantities in (ts, trade_id) order, trades), bars = the gap-exact window's length, "
        "gap_start = its oldest interval is empty, query_bars = what a query without gap_fill "
        "holds, indicators = TA-Lib's value of each series at the bar (null: none yet); "
        "instances list every param, defaults filled in (vwap period null: the whole window)",
    }
    lines = ["{", f'"header": {json.dumps(header)},', '"bars": [']
    lines += [json.dumps(b) + ("," if n + 1 < len(bars) else "") for n, b in enumerate(bars)]
    lines += ["]", "}"]
    return "\n".join(csv) + "\n", "\n".join(lines) + "\n", render_strategy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ap.add_argument("--out", default=OUT, help=f"output directory (default {OUT})")
    args = ap.parse_args()
    if talib.__version__ != TALIB_VERSION:
        sys.exit(f"TA-Lib {talib.__version__} found; the committed data are from {TALIB_VERSION}")
    trades, bars = generate()
    files = dict(zip(["trades.csv", "expected.json", STRATEGY_FILE], render(trades, bars)))
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
