//! Syntax tree to typed tree: names, types, arities and `prev` offsets.
//!
//! Every node is checked at an offset (`back`, bars before the last): `prev(x, n)` checks `x`
//! at `back + n`, and `crosses_above(a, b)` becomes `prev(a <= b) and a > b` (within the
//! tolerance, exactly today's crossings). So the typed tree has no `prev` or `crosses_*`
//! left: each series reference knows its offset, and each comparison where it is evaluated.
//! An unknown name gets the nearest known one suggested (edit distance).

use super::parse::{BinOp, Expr, Kind};
use super::{Arith, Cmp, Cond, LangError, Num};
use crate::rules::{Catalog, Series, Tolerance};

/// The furthest back an expression may look, in bars before the last, `crosses_*` counting
/// one. Each offset used costs the query one more evaluation of every indicator (over the
/// window without its last `n` bars), so it is kept small.
pub const MAX_BACK: u32 = 5;

/// The functions, with their arities.
pub(super) const FUNCTIONS: [(&str, &str); 6] = [
    ("prev", "1 or 2 arguments: prev(x) or prev(x, n)"),
    ("crosses_above", "2 arguments: crosses_above(a, b)"),
    ("crosses_below", "2 arguments: crosses_below(a, b)"),
    ("abs", "1 argument: abs(x)"),
    ("min", "2 arguments: min(a, b)"),
    ("max", "2 arguments: max(a, b)"),
];

enum Typed {
    Num(Num),
    Cond(Cond),
}

fn error(span: &std::ops::Range<usize>, message: String) -> LangError {
    LangError {
        span: span.clone(),
        message,
    }
}

/// Checks a rule's `when`: it must be a condition.
pub fn condition(e: &Expr, cx: &Catalog) -> Result<Cond, LangError> {
    match typed(e, 0, cx)? {
        Typed::Cond(c) => Ok(c),
        Typed::Num(_) => Err(error(
            &e.span,
            "this is a number; a rule needs a condition, e.g. `rsi < 30`".into(),
        )),
    }
}

fn number(e: &Expr, back: u32, what: &str, cx: &Catalog) -> Result<Num, LangError> {
    match typed(e, back, cx)? {
        Typed::Num(n) => Ok(n),
        Typed::Cond(_) => Err(error(
            &e.span,
            format!("{what} needs a number here, this is a condition"),
        )),
    }
}

fn cond(e: &Expr, back: u32, what: &str, cx: &Catalog) -> Result<Cond, LangError> {
    match typed(e, back, cx)? {
        Typed::Cond(c) => Ok(c),
        Typed::Num(_) => Err(error(
            &e.span,
            format!("{what} needs a condition here, this is a number"),
        )),
    }
}

fn typed(e: &Expr, back: u32, cx: &Catalog) -> Result<Typed, LangError> {
    Ok(match &e.kind {
        Kind::Number(x) => Typed::Num(Num::Literal(*x)),
        Kind::Name(name) => match cx.lookup(name) {
            Some(entry) => Typed::Num(Num::Series {
                series: entry.series.clone(),
                back,
            }),
            None if FUNCTIONS.iter().any(|(f, _)| *f == name.as_str()) => {
                return Err(error(
                    &e.span,
                    format!("`{name}` is a function: call it as {name}(...)"),
                ))
            }
            None => {
                let outputs: Vec<&str> = cx
                    .names()
                    .filter(|n| {
                        n.strip_prefix(name.as_str())
                            .is_some_and(|o| o.starts_with('.'))
                    })
                    .collect();
                if !outputs.is_empty() {
                    return Err(error(
                        &e.span,
                        format!(
                            "`{name}` has several outputs; name one: {}",
                            outputs.join(", ")
                        ),
                    ));
                }
                return Err(unknown(name, &e.span, "name", cx.names()));
            }
        },
        Kind::Neg(a) => Typed::Num(Num::Neg(Box::new(number(a, back, "`-`", cx)?))),
        Kind::Not(a) => Typed::Cond(Cond::Not(Box::new(cond(a, back, "`not`", cx)?))),
        Kind::Binary(op, a, b) => {
            let what = format!("`{}`", op.symbol());
            let arith = |op| -> Result<Typed, LangError> {
                Ok(Typed::Num(Num::Arith(
                    op,
                    Box::new(number(a, back, &what, cx)?),
                    Box::new(number(b, back, &what, cx)?),
                )))
            };
            let compare = |op| -> Result<Typed, LangError> {
                Ok(Typed::Cond(comparison(
                    number(a, back, &what, cx)?,
                    op,
                    number(b, back, &what, cx)?,
                    back,
                    cx,
                )))
            };
            match op {
                BinOp::Add => arith(Arith::Add)?,
                BinOp::Sub => arith(Arith::Sub)?,
                BinOp::Mul => arith(Arith::Mul)?,
                BinOp::Div => arith(Arith::Div)?,
                BinOp::Lt => compare(Cmp::Lt)?,
                BinOp::Le => compare(Cmp::Le)?,
                BinOp::Gt => compare(Cmp::Gt)?,
                BinOp::Ge => compare(Cmp::Ge)?,
                BinOp::Eq => compare(Cmp::Eq)?,
                BinOp::Ne => compare(Cmp::Ne)?,
                BinOp::And => Typed::Cond(Cond::And(
                    Box::new(cond(a, back, &what, cx)?),
                    Box::new(cond(b, back, &what, cx)?),
                )),
                BinOp::Or => Typed::Cond(Cond::Or(
                    Box::new(cond(a, back, &what, cx)?),
                    Box::new(cond(b, back, &what, cx)?),
                )),
            }
        }
        Kind::Call {
            name,
            name_span,
            args,
        } => call(e, name, name_span, args, back, cx)?,
    })
}

/// A comparison, with the price tolerance when either side involves a price-like series.
fn comparison(left: Num, op: Cmp, right: Num, back: u32, cx: &Catalog) -> Cond {
    let mut tolerance = Tolerance::Absolute;
    let mut see = |s: &Series, _| {
        if cx.entry(s).tolerance == Tolerance::Price {
            tolerance = Tolerance::Price;
        }
    };
    left.reads(&mut see);
    right.reads(&mut see);
    Cond::Compare {
        left,
        op,
        right,
        tolerance,
        back,
    }
}

fn call(
    e: &Expr,
    name: &str,
    name_span: &std::ops::Range<usize>,
    args: &[Expr],
    back: u32,
    cx: &Catalog,
) -> Result<Typed, LangError> {
    let Some((_, arity)) = FUNCTIONS.iter().find(|(f, _)| *f == name) else {
        if cx.lookup(name).is_some() {
            return Err(error(
                name_span,
                format!("`{name}` is a series, not a function; write `{name}` or prev({name})"),
            ));
        }
        let names = FUNCTIONS.iter().map(|(f, _)| *f);
        return Err(unknown(name, name_span, "function", names));
    };
    let wrong_arity = || {
        error(
            &e.span,
            format!("`{name}` takes {arity}, got {}", args.len()),
        )
    };
    let what = format!("`{name}`");
    let far = |n: u32| {
        error(
            &e.span,
            format!(
                "looks {} bars back; an expression may look at most {MAX_BACK} back",
                back + n
            ),
        )
    };
    let num = |a: &Expr| number(a, back, &what, cx).map(Box::new);
    Ok(match (name, args) {
        ("prev", [x]) | ("prev", [x, _]) => {
            let n = match args.get(1) {
                None => 1,
                Some(arg) => match arg.kind {
                    Kind::Number(n) if n.fract() == 0.0 && (1.0..=MAX_BACK as f64).contains(&n) => {
                        n as u32
                    }
                    _ => return Err(error(&arg.span, prev_offset_message())),
                },
            };
            if back + n > MAX_BACK {
                return Err(far(n));
            }
            typed(x, back + n, cx)?
        }
        ("crosses_above" | "crosses_below", [a, b]) => {
            if back + 1 > MAX_BACK {
                return Err(far(1));
            }
            let (before, now) = if name == "crosses_above" {
                (Cmp::Le, Cmp::Gt)
            } else {
                (Cmp::Ge, Cmp::Lt)
            };
            let at = |back| -> Result<(Num, Num), LangError> {
                Ok((number(a, back, &what, cx)?, number(b, back, &what, cx)?))
            };
            let ((a1, b1), (a0, b0)) = (at(back + 1)?, at(back)?);
            Typed::Cond(Cond::And(
                Box::new(comparison(a1, before, b1, back + 1, cx)),
                Box::new(comparison(a0, now, b0, back, cx)),
            ))
        }
        ("abs", [x]) => Typed::Num(Num::Abs(num(x)?)),
        ("min", [a, b]) => Typed::Num(Num::Min(num(a)?, num(b)?)),
        ("max", [a, b]) => Typed::Num(Num::Max(num(a)?, num(b)?)),
        _ => return Err(wrong_arity()),
    })
}

fn prev_offset_message() -> String {
    format!("the bars back of `prev` must be a whole number from 1 to {MAX_BACK}")
}

/// "unknown name `x`", with the nearest of `known` suggested when it is close enough to be
/// a typo.
fn unknown<'a>(
    name: &str,
    span: &std::ops::Range<usize>,
    what: &str,
    known: impl Iterator<Item = &'a str>,
) -> LangError {
    let nearest = known
        .map(|k| (edit_distance(name, k), k))
        .min()
        .filter(|(d, k)| *d <= 1.max(k.len() / 3));
    let mut message = format!("unknown {what} `{name}`");
    if let Some((_, k)) = nearest {
        message.push_str(&format!("; did you mean `{k}`?"));
    }
    error(span, message)
}

/// Levenshtein distance: insertions, deletions and substitutions of one character.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::tests::compile;
    use super::*;

    fn err(text: &str) -> (std::ops::Range<usize>, String) {
        let e = compile(text).unwrap_err();
        (e.span, e.message)
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("rsi", "rsi"), 0);
        assert_eq!(edit_distance("rsx", "rsi"), 1);
        assert_eq!(edit_distance("sma_fst", "sma_fast"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let (span, message) = err("rsi < 30 and volme > 2");
        assert_eq!(span, 13..18);
        assert_eq!(message, "unknown name `volme`; did you mean `volume`?");
        assert_eq!(err("foo > 1").1, "unknown name `foo`");
        let (span, message) = err("crosses_abve(close, ema)");
        assert_eq!(span, 0..12);
        assert!(
            message.contains("did you mean `crosses_above`?"),
            "{message}"
        );
        assert!(err("abs > 1").1.contains("is a function"));
        assert!(err("rsi(1) > 1").1.contains("is a series, not a function"));
    }

    #[test]
    fn arity_is_checked() {
        let (span, message) = err("rsi > 1 and crosses_above(close)");
        assert_eq!(span, 12..32);
        assert_eq!(
            message,
            "`crosses_above` takes 2 arguments: crosses_above(a, b), got 1"
        );
        assert!(err("abs(rsi, 1) > 1").1.contains("got 2"));
        assert!(err("prev() > 1").1.contains("got 0"));
        assert!(err("prev(close, 1, 2) > 1").1.contains("got 3"));
    }

    #[test]
    fn types_are_checked() {
        let (span, message) = err("rsi and 3");
        assert_eq!(span, 0..3);
        assert_eq!(message, "`and` needs a condition here, this is a number");
        let (span, message) = err("close + (rsi < 3) > 1");
        assert_eq!(span, 8..17);
        assert_eq!(message, "`+` needs a number here, this is a condition");
        let (span, message) = err("close + 1");
        assert_eq!(span, 0..9);
        assert!(message.contains("a rule needs a condition"));
        assert!(err("not close").1.contains("`not` needs a condition"));
        assert!(err("-(rsi < 3) < 1").1.contains("`-` needs a number"));
        assert!(err("abs(rsi < 3) > 1").1.contains("`abs` needs a number"));
    }

    #[test]
    fn prev_offsets_are_literal_and_bounded() {
        let (span, message) = err("prev(close, 1.5) > 1");
        assert_eq!(span, 12..15);
        assert!(message.contains("whole number from 1 to 5"), "{message}");
        assert!(err("prev(close, rsi) > 1").1.contains("whole number"));
        assert!(err("prev(close, 0) > 1").1.contains("whole number"));
        let (span, message) = err("crosses_above(prev(close, 5), ema)");
        assert_eq!(span, 14..28);
        assert!(message.contains("looks 6 bars back"), "{message}");
        assert!(compile("prev(crosses_above(prev(close, 3), ema))").is_ok());
    }

    #[test]
    fn offsets_and_tolerances_resolve() {
        let c = compile("crosses_above(close, prev(ema, 2))").unwrap();
        let mut read = Vec::new();
        c.reads(&mut |s, back| read.push((s.name().to_string(), back)));
        let read: Vec<(&str, u32)> = read.iter().map(|(s, b)| (s.as_str(), *b)).collect();
        assert_eq!(
            read,
            [
                ("close", 1),
                ("ema", 3),
                ("close", 1),
                ("close", 0),
                ("ema", 2),
                ("close", 0)
            ]
        );
        let Cond::Compare { tolerance, .. } = compile("rsi > 3 * volume").unwrap() else {
            panic!()
        };
        assert_eq!(tolerance, Tolerance::Absolute);
        let Cond::Compare { tolerance, .. } = compile("rsi > macd").unwrap() else {
            panic!()
        };
        assert_eq!(tolerance, Tolerance::Price);
    }

    #[test]
    fn rendered_errors_name_line_and_column_with_carets() {
        let text = "rsi < 30\n  and volme > 2";
        let e = compile(text).unwrap_err();
        assert_eq!(
            e.render(text),
            "2:7: unknown name `volme`; did you mean `volume`?\n        and volme > 2\n            ^^^^^"
        );
        let e = compile("rsi <").unwrap_err();
        assert!(
            e.render("rsi <").starts_with("1:6: unexpected end"),
            "{}",
            e.render("rsi <")
        );
    }
}
