//! Typed tree to Spark SQL: only known column expressions and re-printed numbers.
//!
//! The result is SQL's three-valued logic over the columns of the rules step (see
//! [`crate::sql::series`]): null when an operand is null; the caller turns null into "did not
//! fire" with `coalesce(..., false)`. Division is `try_divide` (null on a zero divisor, where
//! plain `/` fails the query in ANSI mode); `min`/`max` are null when an operand is (Spark's
//! `least`/`greatest` would skip it).

use super::{Arith, Cmp, Cond, Num};
use crate::indicators::dbl;
use crate::rules::{Series, Tolerance, TIE};
use crate::sql::series;

/// The condition as a boolean SQL expression (null when an operand is null).
pub fn condition(c: &Cond) -> String {
    match c {
        Cond::Compare {
            left,
            op,
            right,
            tolerance,
            back,
        } => {
            let tol = match tolerance {
                Tolerance::Price => {
                    format!("({} * abs({}))", dbl(TIE), series(&Series::CLOSE, *back))
                }
                Tolerance::Absolute => dbl(TIE),
            };
            let d = format!("({} - {})", number(left), number(right));
            match op {
                Cmp::Lt => format!("({d} < -{tol})"),
                Cmp::Le => format!("({d} <= {tol})"),
                Cmp::Gt => format!("({d} > {tol})"),
                Cmp::Ge => format!("({d} >= -{tol})"),
                Cmp::Eq => format!("(abs{d} <= {tol})"),
                Cmp::Ne => format!("(abs{d} > {tol})"),
            }
        }
        Cond::And(a, b) => format!("({} AND {})", condition(a), condition(b)),
        Cond::Or(a, b) => format!("({} OR {})", condition(a), condition(b)),
        Cond::Not(a) => format!("(NOT {})", condition(a)),
    }
}

fn number(n: &Num) -> String {
    match n {
        Num::Literal(x) => dbl(*x),
        Num::Series { series: s, back } => series(s, *back),
        Num::Neg(a) => format!("(-{})", number(a)),
        Num::Arith(Arith::Div, a, b) => format!("try_divide({}, {})", number(a), number(b)),
        Num::Arith(op, a, b) => {
            let op = match op {
                Arith::Add => "+",
                Arith::Sub => "-",
                _ => "*",
            };
            format!("({} {op} {})", number(a), number(b))
        }
        Num::Abs(a) => format!("abs({})", number(a)),
        Num::Min(a, b) => both(a, b, "least"),
        Num::Max(a, b) => both(a, b, "greatest"),
    }
}

/// `f(a, b)`, null when either is.
fn both(a: &Num, b: &Num, f: &str) -> String {
    let (a, b) = (number(a), number(b));
    format!("IF({a} IS NULL OR {b} IS NULL, NULL, {f}({a}, {b}))")
}

#[cfg(test)]
mod tests {
    use super::super::tests::compile;
    use super::*;

    #[test]
    fn comparisons_carry_their_tolerance_and_offsets() {
        let sql = condition(&compile("crosses_above(close, ema) and rsi < 60").unwrap());
        assert_eq!(
            sql,
            "((((try_element_at(w, -2).close - ind_prev.`ema`) <= \
             (1e-9D * abs(try_element_at(w, -2).close))) AND \
             ((bar.close - ind.`ema`) > (1e-9D * abs(bar.close)))) AND \
             ((ind.`rsi` - 6e1D) < -1e-9D))"
        );
        let sql = condition(&compile("volume / prev(trades, 3) != max(-low, 2)").unwrap());
        assert_eq!(
            sql,
            "(abs(try_divide(bar.volume, CAST(try_element_at(w, -4).trades AS DOUBLE)) - IF((-bar.low) IS NULL OR 2e0D IS NULL, \
             NULL, greatest((-bar.low), 2e0D))) > (1e-9D * abs(bar.close)))"
        );
    }

    #[test]
    fn no_user_text_reaches_the_sql() {
        // Only names from the table reach the SQL, as column expressions.
        let sql = condition(&compile("abs(macd_hist - 1e3) >= 0.5 or not (open == 1)").unwrap());
        assert!(sql.contains("ind.`macd_hist`") && sql.contains("1e3D") && sql.contains("5e-1D"));
        assert!(!sql.contains("1e3 ") && !sql.contains("0.5"), "{sql}");
    }
}
