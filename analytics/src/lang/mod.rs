//! The rule language: a strategy's own rules as expressions over the bar and its indicators,
//! e.g. `crosses_above(close, ema) and rsi < 60 and volume > prev(volume)`.
//!
//! Text goes through three stages, each its own module:
//! - [`parse`]: text to an untyped syntax tree whose nodes keep their byte spans;
//! - [`check`]: names resolved through the strategy's [`Catalog`] (the one table of what an
//!   expression can refer to: the bar's fields and the strategy's indicator values), types (number vs condition), arities and `prev` offsets
//!   checked, giving the typed tree below, in which every series reference carries how many
//!   bars back it looks and every comparison its tie tolerance;
//! - [`sql`]: the typed tree to a Spark SQL expression.
//!
//! [`crate::reference`] evaluates the same typed tree in plain Rust, independently of the SQL.
//! No text of the user's reaches Spark: names become known column expressions and numbers are
//! printed again from their parsed `f64`.
//!
//! Semantics shared by both evaluators: a comparison ties within `1e-9 × |close|` when either
//! side involves a price-like series, else within `1e-9` (see [`crate::rules::Entry`]); `a > b`
//! means `a - b > tol`, `a >= b` means `a - b >= -tol`, `==` means `|a - b| <= tol`. A missing
//! value (warm-up, a bar before the window, a division by zero) is null; logic is SQL's
//! three-valued logic, and a rule whose condition ends up null does not fire.

pub mod check;
pub mod conflict;
pub mod parse;
pub mod sql;

use std::ops::Range;

use contract::Action;

use crate::rules::{Catalog, Series, Tolerance};
use crate::strategy::CustomRule;

pub use check::MAX_BACK;

/// A problem in an expression and the bytes of the text it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangError {
    pub span: Range<usize>,
    pub message: String,
}

impl LangError {
    /// The message with its position (`line:column`, from 1) and the text's line with carets
    /// under the part the message is about.
    pub fn render(&self, text: &str) -> String {
        let start = self.span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_no = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let width = text[start..self.span.end.clamp(start, line_end)]
            .chars()
            .count()
            .max(1);
        format!(
            "{line_no}:{column}: {}\n      {}\n      {}{}",
            self.message,
            &text[line_start..line_end],
            " ".repeat(column - 1),
            "^".repeat(width)
        )
    }
}

/// A rule's condition, typed and resolved: what [`sql`] and the reference evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `left op right` at `back` bars before the last, tying within `tolerance`.
    Compare {
        left: Num,
        op: Cmp,
        right: Num,
        tolerance: Tolerance,
        back: u32,
    },
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A number-valued expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    Literal(f64),
    /// A series' value `back` bars before the last (0 = the bar just closed).
    Series {
        series: Series,
        back: u32,
    },
    Neg(Box<Num>),
    Arith(Arith, Box<Num>, Box<Num>),
    Abs(Box<Num>),
    Min(Box<Num>, Box<Num>),
    Max(Box<Num>, Box<Num>),
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Cond {
    /// Calls `f` with every series the condition reads and how far back, the closes that
    /// scale price tolerances included.
    pub fn reads(&self, f: &mut impl FnMut(&Series, u32)) {
        match self {
            Cond::Compare {
                left,
                right,
                tolerance,
                back,
                ..
            } => {
                left.reads(f);
                right.reads(f);
                if *tolerance == Tolerance::Price {
                    f(&Series::CLOSE, *back);
                }
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.reads(f);
                b.reads(f);
            }
            Cond::Not(a) => a.reads(f),
        }
    }
}

impl Num {
    /// See [`Cond::reads`].
    pub fn reads(&self, f: &mut impl FnMut(&Series, u32)) {
        match self {
            Num::Literal(_) => {}
            Num::Series { series, back } => f(series, *back),
            Num::Neg(a) | Num::Abs(a) => a.reads(f),
            Num::Arith(_, a, b) | Num::Min(a, b) | Num::Max(a, b) => {
                a.reads(f);
                b.reads(f);
            }
        }
    }
}

/// A strategy's own rule, checked: when it fires, the action and reason it adds to the bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub action: Action,
    pub reason: String,
    pub when: Cond,
}

/// Parses and checks an expression that must be a condition, reading what `catalog` has.
pub fn compile(text: &str, catalog: &Catalog) -> Result<Cond, LangError> {
    check::condition(&parse::parse(text)?, catalog)
}

/// Rules, compiled; the index of the first rule that does not compile and why otherwise.
pub fn compile_rules(
    rules: &[CustomRule],
    catalog: &Catalog,
) -> Result<Vec<Rule>, (usize, LangError)> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Rule {
                action: r.action,
                reason: r.reason.clone(),
                when: compile(&r.when, catalog).map_err(|e| (i, e))?,
            })
        })
        .collect()
}

/// Whether `name` is a word of the language (a keyword or a function), which no series may be
/// called.
pub fn is_reserved(name: &str) -> bool {
    ["and", "or", "not"].contains(&name) || check::FUNCTIONS.iter().any(|(f, _)| *f == name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// [`super::compile`] against the default strategy's catalog (the classic set).
    pub fn compile(text: &str) -> Result<Cond, LangError> {
        super::compile(text, &crate::strategy::Strategy::default().catalog())
    }
}
