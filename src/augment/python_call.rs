//! The bit of Python a pasted Keras call is written in: `[target =] a.b.Name(key=value, …)`
//! with numbers, `True`/`False`/`None`, strings, lists, tuples, bare names and `+ - * /` between
//! numbers (Python 3 rules: `/` always gives a float, so `1./255` and `10/2` are floats).
//!
//! Kept apart from `keras_call`, which gives the keywords their Keras meaning: this file only
//! knows Python syntax, and reports where in the pasted text it stopped understanding it.

use std::fmt;

use super::keras_call::KerasCallError;

/// A Python value as far as `ImageDataGenerator` arguments go.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Str(String),
    Seq(Vec<Value>),
    /// A bare name such as a function (`preprocess_input`), kept to report it.
    Name(String),
}

impl Value {
    pub(super) fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(super) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(super) fn as_pair(&self) -> Option<[f64; 2]> {
        match self {
            Value::Seq(items) if items.len() == 2 => {
                Some([items[0].as_number()?, items[1].as_number()?])
            }
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// As Python would print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e16 => write!(f, "{x:.1}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::None => f.write_str("None"),
            Value::Str(s) => write!(f, "'{s}'"),
            Value::Name(n) => f.write_str(n),
            Value::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A recursive-descent reader over the characters of the call.
pub(super) struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    pub(super) fn new(text: &str) -> Self {
        Parser {
            chars: text.chars().collect(),
            at: 0,
        }
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, KerasCallError> {
        Err(KerasCallError::Syntax {
            at: self.at,
            message: message.into(),
        })
    }

    /// Skips spaces, newlines, line continuations and `#` comments.
    fn skip(&mut self) {
        while let Some(&c) = self.chars.get(self.at) {
            if c.is_whitespace() || c == '\\' {
                self.at += 1;
            } else if c == '#' {
                while self.chars.get(self.at).is_some_and(|&c| c != '\n') {
                    self.at += 1;
                }
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip();
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), KerasCallError> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or("the end".to_owned(), |f| format!("'{f}'"));
            self.error(format!("expected '{c}', found {found}"))
        }
    }

    fn identifier(&mut self) -> Option<String> {
        self.skip();
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|&c| c.is_alphanumeric() || c == '_')
        {
            if self.at == start && self.chars[start].is_ascii_digit() {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    /// `a.b.c`
    fn dotted(&mut self) -> Option<String> {
        let mut name = self.identifier()?;
        while self.peek() == Some('.') {
            self.at += 1;
            match self.identifier() {
                Some(part) => {
                    name.push('.');
                    name.push_str(&part);
                }
                None => return None,
            }
        }
        Some(name)
    }

    /// `[target =] path.ImageDataGenerator(name=value, …)`: the keyword arguments, in order.
    pub(super) fn call(&mut self) -> Result<Vec<(String, Value)>, KerasCallError> {
        let Some(mut callee) = self.dotted() else {
            return self.error("expected ImageDataGenerator(...)");
        };
        if self.peek() == Some('=') {
            self.at += 1;
            callee = match self.dotted() {
                Some(name) => name,
                None => return self.error("expected ImageDataGenerator(...) after '='"),
            };
        }
        let function = callee.rsplit('.').next().unwrap_or(&callee).to_owned();
        if function != "ImageDataGenerator" {
            return Err(KerasCallError::NotImageDataGenerator { found: callee });
        }
        self.expect('(')?;
        let mut arguments: Vec<(String, Value)> = Vec::new();
        while !self.eat(')') {
            let Some(name) = self.identifier() else {
                return self.error(
                    "expected a keyword argument such as rotation_range=5 (positional arguments are not read)",
                );
            };
            if !self.eat('=') {
                return self.error(format!(
                    "'{name}' is positional; give every argument as keyword=value"
                ));
            }
            let value = self.expression()?;
            if arguments.iter().any(|(n, _)| *n == name) {
                return Err(KerasCallError::Duplicate(name));
            }
            arguments.push((name, value));
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        self.eat(';');
        if let Some(c) = self.peek() {
            return self.error(format!("unexpected '{c}' after the call"));
        }
        Ok(arguments)
    }

    /// Sums and differences of terms.
    fn expression(&mut self) -> Result<Value, KerasCallError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some(c @ ('+' | '-')) => c,
                _ => return Ok(left),
            };
            self.at += 1;
            let right = self.term()?;
            left = self.arithmetic(op, &left, &right)?;
        }
    }

    /// Products and quotients of factors.
    fn term(&mut self) -> Result<Value, KerasCallError> {
        let mut left = self.factor()?;
        loop {
            let op = match self.peek() {
                Some(c @ ('*' | '/')) => c,
                _ => return Ok(left),
            };
            self.at += 1;
            let right = self.factor()?;
            left = self.arithmetic(op, &left, &right)?;
        }
    }

    fn arithmetic(&self, op: char, a: &Value, b: &Value) -> Result<Value, KerasCallError> {
        // Python 3: int op int stays int except for `/`; anything with a float is a float.
        if let (Value::Int(x), Value::Int(y), true) = (a, b, op != '/') {
            let exact = match op {
                '+' => x.checked_add(*y),
                '-' => x.checked_sub(*y),
                _ => x.checked_mul(*y),
            };
            return exact
                .map(Value::Int)
                .map_or_else(|| self.error("integer overflow"), Ok);
        }
        let (Some(x), Some(y)) = (a.as_number(), b.as_number()) else {
            return self.error(format!("cannot compute {a} {op} {b}"));
        };
        Ok(Value::Float(match op {
            '+' => x + y,
            '-' => x - y,
            '*' => x * y,
            _ if y == 0.0 => return self.error("division by zero"),
            _ => x / y,
        }))
    }

    fn factor(&mut self) -> Result<Value, KerasCallError> {
        match self.peek() {
            Some('-') => {
                self.at += 1;
                match self.factor()? {
                    Value::Int(i) => Ok(Value::Int(-i)),
                    Value::Float(f) => Ok(Value::Float(-f)),
                    other => self.error(format!("cannot negate {other}")),
                }
            }
            Some('+') => {
                self.at += 1;
                self.factor()
            }
            Some('(') => {
                self.at += 1;
                self.parenthesised()
            }
            Some('[') => {
                self.at += 1;
                Ok(Value::Seq(self.items(']')?))
            }
            Some(q @ ('\'' | '"')) => self.string(q),
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(_) => match self.dotted() {
                Some(name) => Ok(match name.as_str() {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    "None" => Value::None,
                    _ => Value::Name(name),
                }),
                None => self.error("expected a value"),
            },
            None => self.error("expected a value, found the end"),
        }
    }

    /// `(expr)` is the value; `(a, b)` and `()` are tuples.
    fn parenthesised(&mut self) -> Result<Value, KerasCallError> {
        if self.eat(')') {
            return Ok(Value::Seq(Vec::new()));
        }
        let first = self.expression()?;
        if self.eat(')') {
            return Ok(first);
        }
        self.expect(',')?;
        let mut items = vec![first];
        items.extend(self.items(')')?);
        Ok(Value::Seq(items))
    }

    /// Comma-separated values up to `close`, trailing comma allowed.
    fn items(&mut self, close: char) -> Result<Vec<Value>, KerasCallError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.expression()?);
            if !self.eat(',') {
                self.expect(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn string(&mut self, quote: char) -> Result<Value, KerasCallError> {
        self.at += 1;
        let start = self.at;
        while self.chars.get(self.at).is_some_and(|&c| c != quote) {
            self.at += 1;
        }
        if self.at >= self.chars.len() {
            return self.error("unterminated string");
        }
        let text = self.chars[start..self.at].iter().collect();
        self.at += 1;
        Ok(Value::Str(text))
    }

    /// `5`, `0.02`, `.5`, `1.`, `1e-3`, `1_000`.
    fn number(&mut self) -> Result<Value, KerasCallError> {
        let start = self.at;
        let mut is_float = false;
        while let Some(&c) = self.chars.get(self.at) {
            let exponent_sign = (c == '-' || c == '+')
                && matches!(self.chars.get(self.at.wrapping_sub(1)), Some('e' | 'E'));
            if c.is_ascii_digit() || c == '_' || exponent_sign {
                self.at += 1;
            } else if c == '.' || c == 'e' || c == 'E' {
                is_float = true;
                self.at += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.at]
            .iter()
            .filter(|&&c| c != '_')
            .collect();
        let parsed = if is_float {
            text.parse::<f64>().ok().map(Value::Float)
        } else {
            text.parse::<i64>().ok().map(Value::Int)
        };
        match parsed {
            Some(value) => Ok(value),
            None => {
                self.at = start;
                self.error(format!("'{text}' is not a number"))
            }
        }
    }
}
