//! GetMetricData's metric math, the subset dashboards and alarms use: numbers, other
//! queries' ids, `+ - * / ^` and parentheses, `SUM`, `AVG`, `MIN` and `MAX` of a list
//! (`[m1, m2]` or `METRICS()`, per timestamp) or of one series (one value over the range),
//! `METRICS()` and `METRICS("label part")`, `FILL(x, value | REPEAT | LINEAR)` and `RATE(x)`.
//!
//! Arithmetic between two series keeps the timestamps both have; a result that is not a
//! finite number (a division by zero) is left out, as CloudWatch leaves it out. Parsing and
//! evaluation are pure: an [`Inputs`] hands in the other queries' series and the grid of
//! periods.

use crate::Seconds;
use std::collections::BTreeMap;
use std::fmt;

/// A series: values by period start.
pub type Series = BTreeMap<Seconds, f64>;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Id(String),
    Text(String),
    Keyword(String),
    Negate(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
    List(Vec<Expr>),
    Call(Function, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Sum,
    Avg,
    Min,
    Max,
    Metrics,
    Fill,
    Rate,
}

impl Function {
    fn named(name: &str) -> Option<Function> {
        Some(match name {
            "SUM" => Function::Sum,
            "AVG" => Function::Avg,
            "MIN" => Function::Min,
            "MAX" => Function::Max,
            "METRICS" => Function::Metrics,
            "FILL" => Function::Fill,
            "RATE" => Function::Rate,
            _ => return None,
        })
    }
}

/// What is wrong with an expression, in words for its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Word(String),
    Text(String),
    Symbol(char),
}

fn tokens(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let number: String = chars[start..i].iter().collect();
            match number.parse() {
                Ok(n) => out.push(Token::Number(n)),
                Err(_) => return error(format!("{number} is not a number")),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i == chars.len() {
                return error("a string is not closed with \"");
            }
            out.push(Token::Text(chars[start..i].iter().collect()));
            i += 1;
        } else if "+-*/^(),[]".contains(c) {
            out.push(Token::Symbol(c));
            i += 1;
        } else {
            return error(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat(&mut self, symbol: char) -> bool {
        if self.peek() == Some(&Token::Symbol(symbol)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: char) -> Result<(), ExprError> {
        if self.eat(symbol) {
            Ok(())
        } else {
            error(format!("expected {symbol:?} {}", self.where_()))
        }
    }

    fn where_(&self) -> String {
        match self.peek() {
            None => "at the end".into(),
            Some(Token::Number(n)) => format!("before {n}"),
            Some(Token::Word(w)) => format!("before {w}"),
            Some(Token::Text(t)) => format!("before \"{t}\""),
            Some(Token::Symbol(s)) => format!("before {s:?}"),
        }
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat('+') {
                Op::Add
            } else if self.eat('-') {
                Op::Subtract
            } else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat('*') {
                Op::Multiply
            } else if self.eat('/') {
                Op::Divide
            } else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat('-') {
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        let base = self.primary()?;
        if self.eat('^') {
            return Ok(Expr::Binary(
                Box::new(base),
                Op::Power,
                Box::new(self.unary()?),
            ));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Text(t)) => Ok(Expr::Text(t)),
            Some(Token::Symbol('(')) => {
                let inner = self.sum()?;
                self.expect(')')?;
                Ok(inner)
            }
            Some(Token::Symbol('[')) => Ok(Expr::List(self.items(']')?)),
            Some(Token::Word(word)) => {
                if self.eat('(') {
                    let Some(function) = Function::named(&word) else {
                        return error(format!(
                            "unknown function {word}; Berth has SUM, AVG, MIN, MAX, METRICS, FILL and RATE"
                        ));
                    };
                    Ok(Expr::Call(function, self.items(')')?))
                } else if word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    Ok(Expr::Id(word))
                } else {
                    Ok(Expr::Keyword(word))
                }
            }
            Some(Token::Symbol(s)) => error(format!("unexpected {s:?}")),
            None => error("the expression ends too soon"),
        }
    }

    fn items(&mut self, close: char) -> Result<Vec<Expr>, ExprError> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.sum()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }
}

/// Reads an expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let expr = parser.sum()?;
    if parser.at < parser.tokens.len() {
        return error(format!("unexpected text {}", parser.where_()));
    }
    Ok(expr)
}

impl Expr {
    /// The ids it names, and whether it names every metric (`METRICS`).
    pub fn references(&self) -> (Vec<&str>, bool) {
        let mut ids = Vec::new();
        let mut all = false;
        self.visit(&mut |e| match e {
            Expr::Id(id) => ids.push(id.as_str()),
            Expr::Call(Function::Metrics, _) => all = true,
            _ => {}
        });
        (ids, all)
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Negate(inner) => inner.visit(f),
            Expr::Binary(left, _, right) => {
                left.visit(f);
                right.visit(f);
            }
            Expr::List(items) | Expr::Call(_, items) => items.iter().for_each(|i| i.visit(f)),
            _ => {}
        }
    }
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Series(Series),
    List(Vec<Series>),
}

/// The periods a query's series are counted in: starts from `origin`, `period` apart,
/// before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub origin: Seconds,
    pub end: Seconds,
    pub period: Seconds,
}

impl Grid {
    pub fn starts(self) -> impl Iterator<Item = Seconds> {
        let period = self.period.max(1);
        (0..)
            .map(move |i| self.origin + i * period)
            .take_while(move |t| *t < self.end)
    }
}

/// What an expression reads: other queries' results and the grid.
pub trait Inputs {
    /// The series of the query `id`, if there is one.
    fn series(&self, id: &str) -> Option<Series>;
    /// Every metric query's series and label, in the request's order (for `METRICS`).
    fn metrics(&self) -> Vec<(String, Series)>;
    fn grid(&self) -> Grid;
}

/// Evaluates `expr`.
pub fn evaluate(expr: &Expr, inputs: &dyn Inputs) -> Result<Value, ExprError> {
    match expr {
        Expr::Number(n) => Ok(Value::Scalar(*n)),
        Expr::Id(id) => inputs
            .series(id)
            .map(Value::Series)
            .ok_or_else(|| ExprError(format!("{id} names no query of this request"))),
        Expr::Text(t) => error(format!("\"{t}\" can only be given to METRICS")),
        Expr::Keyword(k) => error(format!(
            "{k} is not a query id (ids start with a lowercase letter) nor a function's option"
        )),
        Expr::Negate(inner) => map(evaluate(inner, inputs)?, |v| -v),
        Expr::Binary(left, op, right) => {
            binary(evaluate(left, inputs)?, *op, evaluate(right, inputs)?)
        }
        Expr::List(items) => {
            let mut list = Vec::new();
            for item in items {
                match evaluate(item, inputs)? {
                    Value::Series(s) => list.push(s),
                    Value::List(l) => list.extend(l),
                    Value::Scalar(_) => return error("a list holds time series, not numbers"),
                }
            }
            Ok(Value::List(list))
        }
        Expr::Call(function, args) => call(*function, args, inputs),
    }
}

fn apply(op: Op, a: f64, b: f64) -> f64 {
    match op {
        Op::Add => a + b,
        Op::Subtract => a - b,
        Op::Multiply => a * b,
        Op::Divide => a / b,
        Op::Power => a.powf(b),
    }
}

fn finite(series: impl IntoIterator<Item = (Seconds, f64)>) -> Series {
    series.into_iter().filter(|(_, v)| v.is_finite()).collect()
}

fn map(value: Value, f: impl Fn(f64) -> f64 + Copy) -> Result<Value, ExprError> {
    Ok(match value {
        Value::Scalar(n) => Value::Scalar(f(n)),
        Value::Series(s) => Value::Series(finite(s.into_iter().map(|(t, v)| (t, f(v))))),
        Value::List(l) => Value::List(
            l.into_iter()
                .map(|s| finite(s.into_iter().map(|(t, v)| (t, f(v)))))
                .collect(),
        ),
    })
}

fn series_op(a: &Series, op: Op, b: &Series) -> Series {
    finite(
        a.iter()
            .filter_map(|(t, x)| b.get(t).map(|y| (*t, apply(op, *x, *y)))),
    )
}

fn binary(left: Value, op: Op, right: Value) -> Result<Value, ExprError> {
    use Value::*;
    match (left, right) {
        (Scalar(a), Scalar(b)) => Ok(Scalar(apply(op, a, b))),
        (Scalar(a), other) => map(other, |v| apply(op, a, v)),
        (other, Scalar(b)) => map(other, |v| apply(op, v, b)),
        (Series(a), Series(b)) => Ok(Series(series_op(&a, op, &b))),
        (List(l), Series(b)) => Ok(List(l.iter().map(|a| series_op(a, op, &b)).collect())),
        (Series(a), List(l)) => Ok(List(l.iter().map(|b| series_op(&a, op, b)).collect())),
        (List(a), List(b)) if a.len() == b.len() => Ok(List(
            a.iter().zip(&b).map(|(x, y)| series_op(x, op, y)).collect(),
        )),
        (List(a), List(b)) => error(format!(
            "arithmetic between lists needs lists of one length, not {} and {}",
            a.len(),
            b.len()
        )),
    }
}

fn reduce(values: &[f64], function: Function) -> f64 {
    match function {
        Function::Sum => values.iter().sum(),
        Function::Avg => values.iter().sum::<f64>() / values.len() as f64,
        Function::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

fn one_arg<'a>(name: &str, args: &'a [Expr]) -> Result<&'a Expr, ExprError> {
    match args {
        [arg] => Ok(arg),
        _ => error(format!("{name} takes one argument, not {}", args.len())),
    }
}

fn call(function: Function, args: &[Expr], inputs: &dyn Inputs) -> Result<Value, ExprError> {
    match function {
        Function::Sum | Function::Avg | Function::Min | Function::Max => {
            let name = format!("{function:?}").to_uppercase();
            match evaluate(one_arg(&name, args)?, inputs)? {
                Value::List(list) => {
                    let mut by_time: BTreeMap<Seconds, Vec<f64>> = BTreeMap::new();
                    for series in &list {
                        for (t, v) in series {
                            by_time.entry(*t).or_default().push(*v);
                        }
                    }
                    Ok(Value::Series(finite(
                        by_time
                            .into_iter()
                            .map(|(t, vs)| (t, reduce(&vs, function))),
                    )))
                }
                Value::Series(series) if series.is_empty() => Ok(Value::Series(series)),
                Value::Series(series) => Ok(Value::Scalar(reduce(
                    &series.values().copied().collect::<Vec<_>>(),
                    function,
                ))),
                Value::Scalar(n) => Ok(Value::Scalar(n)),
            }
        }
        Function::Metrics => {
            let filter = match args {
                [] => None,
                [Expr::Text(t)] => Some(t.as_str()),
                _ => return error("METRICS takes nothing or one string: METRICS(\"label part\")"),
            };
            Ok(Value::List(
                inputs
                    .metrics()
                    .into_iter()
                    .filter(|(label, _)| filter.is_none_or(|f| label.contains(f)))
                    .map(|(_, series)| series)
                    .collect(),
            ))
        }
        Function::Rate => map_series(evaluate(one_arg("RATE", args)?, inputs)?, |s| {
            finite(
                s.iter()
                    .zip(s.iter().skip(1))
                    .map(|((t0, v0), (t1, v1))| (*t1, (v1 - v0) / (t1 - t0) as f64)),
            )
        }),
        Function::Fill => {
            let [target, how] = args else {
                return error(
                    "FILL takes two arguments: FILL(m1, 0), FILL(m1, REPEAT) or FILL(m1, LINEAR)",
                );
            };
            let grid = inputs.grid();
            let target = evaluate(target, inputs)?;
            match how {
                Expr::Keyword(k) if k == "REPEAT" => map_series(target, |s| repeat(s, grid)),
                Expr::Keyword(k) if k == "LINEAR" => map_series(target, |s| linear(s, grid)),
                other => match evaluate(other, inputs)? {
                    Value::Scalar(n) => map_series(target, |s| {
                        let mut out = s.clone();
                        for t in grid.starts() {
                            out.entry(t).or_insert(n);
                        }
                        out
                    }),
                    _ => error("FILL's second argument is a number, REPEAT or LINEAR"),
                },
            }
        }
    }
}

fn map_series(value: Value, f: impl Fn(&Series) -> Series) -> Result<Value, ExprError> {
    match value {
        Value::Series(s) => Ok(Value::Series(f(&s))),
        Value::List(l) => Ok(Value::List(l.iter().map(f).collect())),
        Value::Scalar(_) => error("this function takes a time series, not a number"),
    }
}

/// Each missing period takes the last value before it (the first value, before any).
fn repeat(series: &Series, grid: Grid) -> Series {
    let Some(first) = series.values().next().copied() else {
        return Series::new();
    };
    let mut last = first;
    grid.starts()
        .map(|t| {
            if let Some(v) = series.get(&t) {
                last = *v;
            }
            (t, last)
        })
        .chain(series.iter().map(|(t, v)| (*t, *v)))
        .collect()
}

/// Each missing period between two values lies on the line between them; before the first
/// and after the last, the nearest value.
fn linear(series: &Series, grid: Grid) -> Series {
    let mut out = series.clone();
    for t in grid.starts() {
        if series.contains_key(&t) {
            continue;
        }
        let before = series.range(..t).next_back();
        let after = series.range(t..).next();
        let value = match (before, after) {
            (Some((t0, v0)), Some((t1, v1))) => v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64,
            (Some((_, v)), None) | (None, Some((_, v))) => *v,
            (None, None) => continue,
        };
        out.insert(t, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        series: Vec<(&'static str, &'static str, Series)>,
    }

    impl Inputs for Fixed {
        fn series(&self, id: &str) -> Option<Series> {
            self.series
                .iter()
                .find(|(i, _, _)| *i == id)
                .map(|(_, _, s)| s.clone())
        }
        fn metrics(&self) -> Vec<(String, Series)> {
            self.series
                .iter()
                .map(|(_, l, s)| (l.to_string(), s.clone()))
                .collect()
        }
        fn grid(&self) -> Grid {
            Grid {
                origin: 0,
                end: 300,
                period: 60,
            }
        }
    }

    fn s(points: &[(Seconds, f64)]) -> Series {
        points.iter().copied().collect()
    }

    fn inputs() -> Fixed {
        Fixed {
            series: vec![
                ("m1", "errors web", s(&[(0, 1.0), (60, 2.0), (120, 3.0)])),
                (
                    "m2",
                    "requests web",
                    s(&[(0, 10.0), (60, 0.0), (180, 40.0)]),
                ),
                ("m3", "errors api", s(&[(60, 5.0), (240, 7.0)])),
            ],
        }
    }

    #[test]
    fn expressions_evaluate_as_cloudwatch_does() {
        let cases: Vec<(&str, Value)> = vec![
            ("1 + 2 * 3", Value::Scalar(7.0)),
            ("(1 + 2) * 3", Value::Scalar(9.0)),
            ("2 ^ 3 ^ 2", Value::Scalar(512.0)),
            ("-2 ^ 2", Value::Scalar(-4.0)),
            (
                "m1 * 2",
                Value::Series(s(&[(0, 2.0), (60, 4.0), (120, 6.0)])),
            ),
            ("100 * m1 / m2", Value::Series(s(&[(0, 10.0)]))),
            ("m1 + m2", Value::Series(s(&[(0, 11.0), (60, 2.0)]))),
            (
                "SUM([m1, m3])",
                Value::Series(s(&[(0, 1.0), (60, 7.0), (120, 3.0), (240, 7.0)])),
            ),
            (
                "MAX(METRICS())",
                Value::Series(s(&[
                    (0, 10.0),
                    (60, 5.0),
                    (120, 3.0),
                    (180, 40.0),
                    (240, 7.0),
                ])),
            ),
            (
                "AVG(METRICS(\"errors\"))",
                Value::Series(s(&[(0, 1.0), (60, 3.5), (120, 3.0), (240, 7.0)])),
            ),
            ("MIN(m2)", Value::Scalar(0.0)),
            ("AVG(m1)", Value::Scalar(2.0)),
            ("SUM(m1) / 2", Value::Scalar(3.0)),
            (
                "RATE(m1)",
                Value::Series(s(&[(60, 1.0 / 60.0), (120, 1.0 / 60.0)])),
            ),
            (
                "FILL(m3, 0)",
                Value::Series(s(&[
                    (0, 0.0),
                    (60, 5.0),
                    (120, 0.0),
                    (180, 0.0),
                    (240, 7.0),
                ])),
            ),
            (
                "FILL(m3, REPEAT)",
                Value::Series(s(&[
                    (0, 5.0),
                    (60, 5.0),
                    (120, 5.0),
                    (180, 5.0),
                    (240, 7.0),
                ])),
            ),
            (
                "FILL(m3 * 3, LINEAR)",
                Value::Series(s(&[
                    (0, 15.0),
                    (60, 15.0),
                    (120, 17.0),
                    (180, 19.0),
                    (240, 21.0),
                ])),
            ),
            (
                "METRICS(\"api\") * 2",
                Value::List(vec![s(&[(60, 10.0), (240, 14.0)])]),
            ),
        ];
        for (text, expected) in cases {
            let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(evaluate(&expr, &inputs()).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let cases = [
            ("m1 +", "ends too soon"),
            ("m1 m2", "unexpected text before m2"),
            ("FOO(m1)", "unknown function FOO"),
            ("SUM(m1, m2)", "SUM takes one argument"),
            ("m9 * 2", "m9 names no query"),
            ("M1 * 2", "M1 is not a query id"),
            ("FILL(m1)", "FILL takes two arguments"),
            ("(m1", "expected ')' at the end"),
            ("m1 % 2", "unexpected character '%'"),
            ("[m1, 2]", "a list holds time series"),
            ("METRICS(m1)", "METRICS takes nothing or one string"),
            ("\"abc", "not closed"),
        ];
        for (text, problem) in cases {
            let result = parse(text).and_then(|e| evaluate(&e, &inputs()));
            let message = result.expect_err(text).0;
            assert!(message.contains(problem), "{text}: {message}");
        }
    }

    #[test]
    fn references_name_ids_and_metrics() {
        let expr = parse("SUM([m1, e2]) / METRICS()").unwrap();
        assert_eq!(expr.references(), (vec!["m1", "e2"], true));
        assert_eq!(parse("3").unwrap().references(), (vec![], false));
    }
}
