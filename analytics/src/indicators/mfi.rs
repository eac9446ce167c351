//! MFI(p), the money flow index: the money flow of a bar is its typical price
//! `(high + low + close) / 3` times its volume, negative when the typical price fell from the
//! bar before, positive when it rose, none when it moved less than TA-Lib 0.8's relative
//! epsilon (1e-14 × the two prices); MFI = 100 · positive / (positive + negative) over the
//! last `p` flows, 0 when there was no flow. (TA-Lib keeps running sums; direct sums differ by
//! float rounding only.)

use super::{bind, consecutive, EPSILON};

/// Null with fewer than `p + 1` bars.
pub fn sql(bars: &str, p: u32) -> String {
    let tp = |b: &str| format!("(({b}.high + {b}.low + {b}.close) / 3D)");
    let flows = format!(
        "transform(slice({pairs}, greatest(size({bars}) - {p}, 1), {p}), x -> {})",
        bind(
            &format!(
                "named_struct('now', {}, 'before', {}, 'v', x.b.volume)",
                tp("x.b"),
                tp("x.p")
            ),
            "m",
            &format!(
                "IF(abs(m.now - m.before) <= {EPSILON} * (abs(m.now) + abs(m.before)), \
                 named_struct('pos', 0D, 'neg', 0D), IF(m.now < m.before, \
                 named_struct('pos', 0D, 'neg', m.now * m.v), \
                 named_struct('pos', m.now * m.v, 'neg', 0D)))"
            )
        ),
        pairs = consecutive(bars)
    );
    let sums = "aggregate(f, named_struct('pos', 0D, 'neg', 0D), (s, x) -> \
         named_struct('pos', s.pos + x.pos, 'neg', s.neg + x.neg), \
         s -> IF(s.pos + s.neg <= 0D, 0D, 100D * (s.pos / (s.pos + s.neg))))";
    format!("IF(size({bars}) > {p}, {}, NULL)", bind(&flows, "f", sums))
}
