//! ADX(p), Wilder's average directional index, as TA-Lib computes it in one pass over
//! consecutive bars:
//! - the first `p - 1` pairs sum the directional movements (+DM, -DM) and true ranges;
//! - from then on each is smoothed (`x - x/p + new`), and with them +DI, -DI and
//!   DX = 100·|−DI − +DI| / (−DI + +DI);
//! - the next `p` DX are summed, their mean is the first ADX (after `2p - 1` pairs), and each
//!   later DX smooths it: `(adx·(p − 1) + dx) / p`.
//!
//! A DX is skipped (the ADX held, or nothing added to the sum) when the smoothed true range is
//! not positive or the sum of the DIs is within TA-Lib 0.8's epsilon (1e-14) of zero.

use super::{bind, consecutive, true_range, EPSILON};

/// Null with fewer than `2p` bars.
pub fn sql(bars: &str, p: u32) -> String {
    let pm1 = p - 1;
    let first_adx = 2 * p - 1;
    // +DM and -DM of a pair: only the larger move counts, and only when positive.
    let moves = format!(
        "transform({}, x -> {})",
        consecutive(bars),
        bind(
            "named_struct('up', x.b.high - x.p.high, 'down', x.p.low - x.b.low)",
            "m",
            &format!(
                "named_struct('pdm', IF(m.down > 0D AND m.up < m.down, 0D, \
                 IF(m.up > 0D AND m.up > m.down, m.up, 0D)), \
                 'mdm', IF(m.down > 0D AND m.up < m.down, m.down, 0D), 'tr', {})",
                true_range("x.p", "x.b")
            ),
        )
    );
    let smooth = |f: &str| format!("IF(s.n < {pm1}, s.{f} + t.{f}, s.{f} - s.{f} / {p} + t.{f})");
    let smoothed = format!(
        "named_struct('n', s.n + 1, 'pdm', {}, 'mdm', {}, 'tr', {}, 'sdx', s.sdx, 'adx', s.adx)",
        smooth("pdm"),
        smooth("mdm"),
        smooth("tr")
    );
    let dx = format!(
        "IF(u.tr > 0D, {}, CAST(NULL AS DOUBLE))",
        bind(
            "named_struct('m', 100D * (u.mdm / u.tr), 'p', 100D * (u.pdm / u.tr))",
            "d",
            &format!(
                "IF(abs(d.m + d.p) < {EPSILON}, CAST(NULL AS DOUBLE), \
                 100D * (abs(d.m - d.p) / (d.m + d.p)))"
            )
        )
    );
    let next = format!(
        "named_struct('n', u.n, 'pdm', u.pdm, 'mdm', u.mdm, 'tr', u.tr, \
         'sdx', IF(u.n > {pm1}, u.sdx + coalesce(dx, 0D), u.sdx), \
         'adx', CASE WHEN u.n = {first_adx} THEN (u.sdx + coalesce(dx, 0D)) / {p} \
         WHEN u.n > {first_adx} THEN IF(dx IS NULL, u.adx, (u.adx * {pm1} + dx) / {p}) \
         ELSE u.adx END)"
    );
    format!(
        "aggregate({moves}, named_struct('n', 0, 'pdm', 0D, 'mdm', 0D, 'tr', 0D, 'sdx', 0D, \
         'adx', 0D), (s, t) -> {}, s -> IF(s.n >= {first_adx}, s.adx, NULL))",
        bind(&smoothed, "u", &bind(&dx, "dx", &next))
    )
}
