//! Which BUY and SELL rules may fire on the same bar, for `submit --check`.
//!
//! Deciding that two conditions can never hold together is impossible in general; this finds
//! the common cases where they cannot, from comparisons both conditions require (their
//! top-level `and` terms): the same two operands compared with disjoint operators
//! (`crosses_above(a, b)` needs `a > b`, `crosses_below(a, b)` needs `a < b`), or the same
//! operand held to disjoint ranges by literals (`rsi > 70` and `rsi < 30`). Any other pair is
//! reported as one that may conflict.

use super::{Cmp, Cond, Num};
use crate::rules::{Tolerance, TIE};

/// Whether `a` and `b` can never both hold on one bar (as far as this module can tell).
pub fn exclusive(a: &Cond, b: &Cond) -> bool {
    let (ta, tb) = (terms(a), terms(b));
    ta.iter().any(|x| tb.iter().any(|y| disjoint(x, y)))
}

/// A comparison a condition requires: `(left, op, right, tolerance, back)`.
type Term<'a> = (&'a Num, Cmp, &'a Num, Tolerance, u32);

/// The comparisons joined by `and` at the top of `c`.
fn terms(c: &Cond) -> Vec<Term<'_>> {
    match c {
        Cond::Compare {
            left,
            op,
            right,
            tolerance,
            back,
        } => vec![(left, *op, right, *tolerance, *back)],
        Cond::And(a, b) => {
            let mut out = terms(a);
            out.extend(terms(b));
            out
        }
        Cond::Or(..) | Cond::Not(_) => Vec::new(),
    }
}

fn disjoint(x: &Term, y: &Term) -> bool {
    let (xl, xo, xr, xt, xb) = *x;
    let (yl, yo, yr, yt, yb) = *y;
    if xl != yl || xb != yb || xt != yt {
        return false;
    }
    if xr == yr {
        use Cmp::*;
        return matches!(
            (xo, yo),
            (Gt, Le | Lt | Eq)
                | (Le | Lt | Eq, Gt)
                | (Lt, Ge | Eq)
                | (Ge | Eq, Lt)
                | (Eq, Ne)
                | (Ne, Eq)
        );
    }
    // Literal bounds with an absolute tolerance: the ranges of the left side.
    match (xr, yr, xt) {
        (Num::Literal(a), Num::Literal(b), Tolerance::Absolute) => {
            let (lo1, hi1) = range(xo, *a);
            let (lo2, hi2) = range(yo, *b);
            hi1 < lo2 || hi2 < lo1
        }
        _ => false,
    }
}

/// The values `x` for which `x op v` can hold (closed bounds, widened by the tolerance).
fn range(op: Cmp, v: f64) -> (f64, f64) {
    match op {
        Cmp::Gt | Cmp::Ge => (v - TIE, f64::INFINITY),
        Cmp::Lt | Cmp::Le => (f64::NEG_INFINITY, v + TIE),
        Cmp::Eq => (v - TIE, v + TIE),
        Cmp::Ne => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::compile;
    use super::*;

    fn excl(a: &str, b: &str) -> bool {
        exclusive(&compile(a).unwrap(), &compile(b).unwrap())
    }

    #[test]
    fn opposite_crossings_and_disjoint_ranges_are_exclusive() {
        assert!(excl(
            "crosses_above(sma_fast, sma_slow)",
            "crosses_below(sma_fast, sma_slow)"
        ));
        assert!(excl("crosses_above(rsi, 30)", "crosses_below(rsi, 70)"));
        assert!(excl("rsi > 70 and volume > 1", "rsi < 30"));
        assert!(!excl(
            "crosses_above(sma_fast, sma_slow)",
            "crosses_below(close, ema)"
        ));
        assert!(!excl("rsi > 30", "rsi < 70"));
        // An `or` can always take the other branch.
        assert!(!excl("rsi > 70 or close > 1", "rsi < 30"));
        // Different bars are different values.
        assert!(!excl("rsi > 70", "prev(rsi) < 30"));
    }
}
