//! Text to syntax tree: the grammar of rule expressions, with winnow.
//!
//! The tree is untyped and keeps every node's byte span, so the checker ([`super::check`]) can
//! point at the part of the text a type or name error is about. Precedence, loosest first:
//! `or`, `and`, `not`, comparisons (one per level: `a < b < c` is refused), `+ -`, `* /`,
//! unary `-`, then atoms (numbers, names, calls, parentheses). A parse error is the byte
//! offset where the text stopped making sense.

use std::ops::Range;

use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{alt, cut_err, not, opt, preceded, separated, terminated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location};
use winnow::token::{one_of, take_while};

use super::LangError;

/// A node of the syntax tree and the bytes of the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: Kind,
    pub span: Range<usize>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Number(f64),
    Name(String),
    /// `name(args)`; `name_span` is the name's bytes.
    Call {
        name: String,
        name_span: Range<usize>,
        args: Vec<Expr>,
    },
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    /// How it is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

type Input<'a> = LocatingSlice<&'a str>;

const KEYWORDS: [&str; 3] = ["and", "or", "not"];

/// Parses a whole expression: anything left over is an error at its first byte.
pub fn parse(text: &str) -> Result<Expr, LangError> {
    if text.trim().is_empty() {
        return Err(LangError {
            span: 0..text.len(),
            message: "empty expression: write a condition such as `rsi < 30`".into(),
        });
    }
    terminated(or_expr, multispace0)
        .parse(LocatingSlice::new(text))
        .map_err(|e| {
            let at = e.offset();
            // The innermost expectation is the most precise one.
            let expected = e.inner().context().find_map(|c| match c {
                StrContext::Expected(v) => Some(v.to_string()),
                _ => None,
            });
            let rest = &text[at..];
            let token: String = match rest.chars().next() {
                None => String::new(),
                Some(c) if c.is_ascii_alphanumeric() || c == '_' => rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                    .collect(),
                Some(c) => c.to_string(),
            };
            let mut message = if token.is_empty() {
                "unexpected end of the expression".to_string()
            } else {
                format!("unexpected `{token}`")
            };
            if let Some(expected) = expected {
                message.push_str(&format!("; expected {expected}"));
            }
            LangError {
                span: at..at + token.len(),
                message,
            }
        })
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A keyword, as a whole word after optional whitespace.
fn keyword<'a>(kw: &'static str) -> impl Parser<Input<'a>, &'a str, ErrMode<ContextError>> {
    preceded(
        multispace0,
        terminated(kw, not(one_of(ident_char))).context(StrContext::Label(kw)),
    )
}

fn binary(op: BinOp, left: Expr, right: Expr) -> Expr {
    Expr {
        span: left.span.start..right.span.end,
        kind: Kind::Binary(op, Box::new(left), Box::new(right)),
    }
}

/// Left-associative chain of `operand (op operand)*`.
fn chain<'a>(
    i: &mut Input<'a>,
    operand: fn(&mut Input<'a>) -> ModalResult<Expr>,
    op: &mut dyn FnMut(&mut Input<'a>) -> ModalResult<BinOp>,
) -> ModalResult<Expr> {
    let mut left = operand(i)?;
    while let Some(op) = opt(&mut *op).parse_next(i)? {
        let right = cut_err(operand)
            .context(expected("an operand"))
            .parse_next(i)?;
        left = binary(op, left, right);
    }
    Ok(left)
}

fn or_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    chain(i, and_expr, &mut |i| {
        keyword("or").value(BinOp::Or).parse_next(i)
    })
}

fn and_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    chain(i, not_expr, &mut |i| {
        keyword("and").value(BinOp::And).parse_next(i)
    })
}

fn not_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let start = {
        multispace0.parse_next(i)?;
        i.current_token_start()
    };
    if opt(keyword("not")).parse_next(i)?.is_some() {
        let inner = cut_err(not_expr)
            .context(expected("an operand"))
            .parse_next(i)?;
        return Ok(Expr {
            span: start..inner.span.end,
            kind: Kind::Not(Box::new(inner)),
        });
    }
    comparison(i)
}

/// At most one comparison: `a < b < c` stops before the second `<` (then an error).
fn comparison(i: &mut Input<'_>) -> ModalResult<Expr> {
    let left = sum(i)?;
    let op = opt(preceded(
        multispace0,
        alt((
            "<=".value(BinOp::Le),
            ">=".value(BinOp::Ge),
            "==".value(BinOp::Eq),
            "!=".value(BinOp::Ne),
            "<".value(BinOp::Lt),
            ">".value(BinOp::Gt),
        )),
    ))
    .parse_next(i)?;
    match op {
        None => Ok(left),
        Some(op) => {
            let right = cut_err(sum).context(expected("an operand")).parse_next(i)?;
            Ok(binary(op, left, right))
        }
    }
}

fn sum(i: &mut Input<'_>) -> ModalResult<Expr> {
    chain(i, product, &mut |i| {
        preceded(
            multispace0,
            alt(('+'.value(BinOp::Add), '-'.value(BinOp::Sub))),
        )
        .parse_next(i)
    })
}

fn product(i: &mut Input<'_>) -> ModalResult<Expr> {
    chain(i, unary, &mut |i| {
        preceded(
            multispace0,
            alt(('*'.value(BinOp::Mul), '/'.value(BinOp::Div))),
        )
        .parse_next(i)
    })
}

fn unary(i: &mut Input<'_>) -> ModalResult<Expr> {
    multispace0.parse_next(i)?;
    let start = i.current_token_start();
    if opt('-').parse_next(i)?.is_some() {
        let inner = cut_err(unary)
            .context(expected("an operand"))
            .parse_next(i)?;
        return Ok(Expr {
            span: start..inner.span.end,
            kind: Kind::Neg(Box::new(inner)),
        });
    }
    atom(i)
}

fn atom(i: &mut Input<'_>) -> ModalResult<Expr> {
    multispace0.parse_next(i)?;
    alt((number, parenthesized, name_or_call))
        .context(expected("a number, a name or `(`"))
        .parse_next(i)
}

/// Digits, an optional fraction and exponent (`42`, `0.5`, `1e-3`); no sign (that is `-`).
fn number(i: &mut Input<'_>) -> ModalResult<Expr> {
    let (text, span) = (
        digit1,
        opt(('.', digit1)),
        opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
    )
        .take()
        .with_span()
        .parse_next(i)?;
    let value: f64 = text.parse().expect("digits, fraction and exponent parse");
    Ok(Expr {
        kind: Kind::Number(value),
        span,
    })
}

fn parenthesized(i: &mut Input<'_>) -> ModalResult<Expr> {
    let start = i.current_token_start();
    '('.parse_next(i)?;
    let mut inner = cut_err(or_expr)
        .context(expected("an expression"))
        .parse_next(i)?;
    cut_err(preceded(multispace0, ')'))
        .context(expected("`)`"))
        .parse_next(i)?;
    inner.span = start..i.previous_token_end();
    Ok(inner)
}

fn name_or_call(i: &mut Input<'_>) -> ModalResult<Expr> {
    let word = || {
        (
            one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
            take_while(0.., ident_char),
        )
    };
    // `name` or `name.output` (an output of a multi-output indicator: `stoch.k`).
    let (name, name_span) = (word(), opt(('.', word())))
        .take()
        .verify(|n: &str| !KEYWORDS.contains(&n))
        .with_span()
        .parse_next(i)?;
    let name = name.to_string();
    if opt(preceded(multispace0, '(')).parse_next(i)?.is_none() {
        return Ok(Expr {
            kind: Kind::Name(name),
            span: name_span,
        });
    }
    let args: Vec<Expr> =
        cut_err(separated(0.., or_expr, preceded(multispace0, ','))).parse_next(i)?;
    cut_err(preceded(multispace0, ')'))
        .context(expected("`,` or `)`"))
        .parse_next(i)?;
    Ok(Expr {
        span: name_span.start..i.previous_token_end(),
        kind: Kind::Call {
            name,
            name_span,
            args,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> LangError {
        parse(text).unwrap_err()
    }

    #[test]
    fn precedence_and_spans() {
        let e = parse("a + b * 2 > 3 and not c or d").unwrap();
        let Kind::Binary(BinOp::Or, left, right) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(right.kind, Kind::Name("d".into()));
        let Kind::Binary(BinOp::And, cmp, not) = &left.kind else {
            panic!("{left:?}")
        };
        assert!(matches!(not.kind, Kind::Not(_)));
        assert_eq!(not.span, 18..23);
        let Kind::Binary(BinOp::Gt, sum, _) = &cmp.kind else {
            panic!("{cmp:?}")
        };
        let Kind::Binary(BinOp::Add, _, product) = &sum.kind else {
            panic!("{sum:?}")
        };
        assert_eq!(product.span, 4..9);
        assert_eq!(e.span, 0..28);
    }

    #[test]
    fn calls_parentheses_numbers_and_minus() {
        let e = parse(" max( (close), -1.5e1 ) ").unwrap();
        assert_eq!(e.span, 1..23);
        let Kind::Call {
            name,
            name_span,
            args,
        } = e.kind
        else {
            panic!()
        };
        assert_eq!((name.as_str(), name_span), ("max", 1..4));
        assert_eq!(args[0].span, 6..13);
        assert_eq!(args[1].span, 15..21);
        let Kind::Neg(n) = &args[1].kind else {
            panic!()
        };
        assert_eq!(n.kind, Kind::Number(-(-15.0)));
        assert!(matches!(parse("f()").unwrap().kind, Kind::Call { args, .. } if args.is_empty()));
        // A name that starts with a keyword is a name.
        assert_eq!(parse("notes").unwrap().kind, Kind::Name("notes".into()));
        // An output of a multi-output indicator is one name.
        let e = parse("st.k > 1").unwrap();
        let Kind::Binary(_, left, _) = e.kind else {
            panic!()
        };
        assert_eq!((left.kind, left.span), (Kind::Name("st.k".into()), 0..4));
    }

    #[test]
    fn errors_point_at_the_offending_text() {
        let e = err("");
        assert!(e.message.starts_with("empty expression"), "{e:?}");
        let e = err("   ");
        assert!(e.message.starts_with("empty expression"), "{e:?}");
        let e = err("rsi < 30 close");
        assert_eq!(
            (e.span.clone(), e.message.as_str()),
            (9..14, "unexpected `close`")
        );
        let e = err("rsi < 30 < 40");
        assert_eq!(e.span, 9..10);
        let e = err("rsi <");
        assert_eq!(e.span, 5..5);
        assert!(e.message.starts_with("unexpected end"), "{e:?}");
        let e = err("(rsi < 3");
        assert_eq!(e.span, 8..8);
        assert!(e.message.contains("`)`"), "{e:?}");
        let e = err("rsi = 3");
        assert_eq!((e.span, e.message.as_str()), (4..5, "unexpected `=`"));
        let e = err("rsi and and");
        assert_eq!(e.span, 8..11);
        let e = err("prev(close,");
        assert_eq!(e.span, 10..11);
    }
}
