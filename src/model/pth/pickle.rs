//! A minimal, inert pickle reader: enough of Python's pickle machine to read what `torch.save`
//! writes (protocol 2, and the binary opcodes of protocols up to 5), and nothing that runs code.
//!
//! Python's unpickler imports every `GLOBAL` it meets and calls it (`REDUCE`, `NEWOBJ`, `BUILD`
//! → `__setstate__`): that is how a pickle executes arbitrary code. Here a global is only a
//! name ([`Global`]); calling one gives an inert [`Object`] that records the class and the
//! arguments, and `BUILD` stores the state on it. Two callables are understood because pickles
//! build plain containers with them: `collections.OrderedDict` (a dict) and `set`/`frozenset` (a
//! list). What the values mean (a tensor from `torch._utils._rebuild_tensor_v2`, a module tree)
//! is for the caller to read from the objects, see [`super::state`].
//!
//! Containers are shared (`Rc<RefCell<…>>`), as in Python: a dict is memoised when created and
//! filled afterwards, and a later `BINGET` must see the filled dict. Every length read from the
//! file is checked against the bytes left before anything is allocated, and the memo is a map,
//! so an index from the file never sizes an allocation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError(pub String);

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PickleError {}

fn error<T>(message: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError(message.into()))
}

/// A Python global named by a pickle (`module.name`), never imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// e.g. `torch._utils`.
    pub module: String,
    /// e.g. `_rebuild_tensor_v2`.
    pub name: String,
}

impl Global {
    /// Whether this is `module.name`.
    #[must_use]
    pub fn is(&self, module: &str, name: &str) -> bool {
        self.module == module && self.name == name
    }
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// What calling a global (`REDUCE`, `NEWOBJ`) would have made: the call, recorded.
#[derive(Debug, Clone)]
pub struct Object {
    /// The callable: a class, or a function such as `torch._utils._rebuild_tensor_v2`.
    pub class: Global,
    /// The call's arguments (a tuple).
    pub args: Value,
    /// The state `BUILD` gave it (for an `nn.Module`, its `__dict__`).
    pub state: Option<Value>,
    /// Items `SETITEM(S)` or `APPEND(S)` added (appended ones with a `None` key).
    pub items: Vec<(Value, Value)>,
}

/// A pickled value. Cloning is cheap: containers are shared.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(Rc<str>),
    /// `bytes` (or a protocol-2 `str` of bytes).
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<[Value]>),
    /// A list (or a set).
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict or `OrderedDict`, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A global, by name.
    Global(Rc<Global>),
    /// An inert instance.
    Object(Rc<RefCell<Object>>),
    /// What `BINPERSID` read: the persistent id, for the caller to resolve (torch: a storage).
    PersistentId(Rc<Value>),
}

impl Value {
    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A dict's value under a string key (the last one, as Python keeps).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(items) => items
                .borrow()
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    fn dict(items: Vec<(Value, Value)>) -> Value {
        Value::Dict(Rc::new(RefCell::new(items)))
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }
}

/// The pickle machine's state.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    /// Stack lengths at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Every persistent id read, in order.
    persistent_ids: Vec<Rc<Value>>,
}

/// One pickle read from the start of a byte stream.
#[derive(Debug)]
pub struct Unpickled {
    /// The value `STOP` leaves.
    pub value: Value,
    /// Every persistent id the pickle holds (torch: its storages), in order.
    pub persistent_ids: Vec<Rc<Value>>,
    /// How many bytes the pickle took, up to and including `STOP`.
    pub len: usize,
}

/// Reads one pickle from `bytes` and returns the value `STOP` leaves.
///
/// # Errors
/// A [`PickleError`]: truncated data, an opcode outside the supported subset, a malformed stack.
pub fn unpickle(bytes: &[u8]) -> Result<Value, PickleError> {
    Ok(unpickle_prefix(bytes)?.value)
}

/// Reads the pickle at the start of `bytes`; what follows its `STOP` is left alone (PyTorch's
/// legacy format writes several pickles and then raw storages one after another).
///
/// # Errors
/// As [`unpickle`].
pub fn unpickle_prefix(bytes: &[u8]) -> Result<Unpickled, PickleError> {
    let mut machine = Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        persistent_ids: Vec::new(),
    };
    let value = machine.run()?;
    Ok(Unpickled {
        value,
        persistent_ids: machine.persistent_ids,
        len: machine.at,
    })
}

impl<'a> Machine<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| PickleError("the pickle is truncated".to_owned()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length from the file, as `usize`; [`Machine::take`] then checks it against the bytes
    /// left.
    fn len(value: u64) -> Result<usize, PickleError> {
        usize::try_from(value).or_else(|_| error("a pickle length does not fit in memory"))
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| PickleError("the pickle is truncated".to_owned()))?;
        let line = self.take(end + 1)?;
        std::str::from_utf8(&line[..end]).or_else(|_| error("a global's name is not UTF-8"))
    }

    fn string(&mut self, len: usize) -> Result<Value, PickleError> {
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).or_else(|_| error("a pickled str is not UTF-8"))?;
        Ok(Value::Str(text.into()))
    }

    fn bytes_value(&mut self, len: usize) -> Result<Value, PickleError> {
        Ok(Value::Bytes(self.take(len)?.into()))
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return error("the pickle pops past a mark");
        }
        self.stack
            .pop()
            .ok_or_else(|| PickleError("the pickle's stack is empty".to_owned()))
    }

    fn top(&self) -> Result<&Value, PickleError> {
        self.stack
            .last()
            .ok_or_else(|| PickleError("the pickle's stack is empty".to_owned()))
    }

    /// Everything pushed since the last `MARK`, which is closed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| PickleError("the pickle closes a mark it never opened".to_owned()))?;
        if mark > self.stack.len() {
            return error("the pickle's marks are inconsistent");
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, index: u64) -> Result<Value, PickleError> {
        self.memo
            .get(&index)
            .cloned()
            .ok_or_else(|| PickleError(format!("the pickle refers to memo {index}, never stored")))
    }

    fn memo_put(&mut self, index: u64) -> Result<(), PickleError> {
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let opcode = self.u8()?;
            match opcode {
                // PROTO: any version; the opcodes used are what matters.
                0x80 => {
                    self.u8()?;
                }
                // FRAME (protocol 4): a length hint only.
                0x95 => {
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let value = i32::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(i64::from(value)));
                }
                b'K' => {
                    let value = self.u8()?;
                    self.stack.push(Value::Int(i64::from(value)));
                }
                b'M' => {
                    let value = u16::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(i64::from(value)));
                }
                // LONG1 / LONG4: little-endian two's complement of n bytes.
                0x8a | 0x8b => {
                    let n = if opcode == 0x8a {
                        usize::from(self.u8()?)
                    } else {
                        Self::len(u64::from(self.u32()?))?
                    };
                    let bytes = self.take(n)?;
                    self.stack.push(Value::Int(long(bytes)?));
                }
                b'G' => {
                    let value = f64::from_be_bytes(self.array()?);
                    self.stack.push(Value::Float(value));
                }
                b'X' => {
                    let len = Self::len(u64::from(self.u32()?))?;
                    let value = self.string(len)?;
                    self.stack.push(value);
                }
                0x8c => {
                    let len = usize::from(self.u8()?);
                    let value = self.string(len)?;
                    self.stack.push(value);
                }
                0x8d => {
                    let len = Self::len(self.u64()?)?;
                    let value = self.string(len)?;
                    self.stack.push(value);
                }
                // SHORT_BINSTRING, BINSTRING (protocol-2 byte strings), BINBYTES, SHORT_BINBYTES,
                // BINBYTES8, BYTEARRAY8.
                b'U' | b'C' => {
                    let len = usize::from(self.u8()?);
                    let value = self.bytes_value(len)?;
                    self.stack.push(value);
                }
                b'T' | b'B' => {
                    let len = Self::len(u64::from(self.u32()?))?;
                    let value = self.bytes_value(len)?;
                    self.stack.push(value);
                }
                0x8e | 0x96 => {
                    let len = Self::len(self.u64()?)?;
                    let value = self.bytes_value(len)?;
                    self.stack.push(value);
                }
                b')' => self.stack.push(Value::Tuple(Rc::from(Vec::new()))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items.into()));
                }
                0x85..=0x87 => {
                    let n = usize::from(opcode - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.stack.push(Value::Tuple(items.into()));
                }
                b']' => self.stack.push(Value::list(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::list(items));
                }
                b'a' => {
                    let value = self.pop()?;
                    self.append(vec![value])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.stack.push(Value::dict(Vec::new())),
                b'd' => {
                    let items = pairs(self.pop_mark()?)?;
                    self.stack.push(Value::dict(items));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?;
                }
                b'u' => {
                    let items = pairs(self.pop_mark()?)?;
                    self.set_items(items)?;
                }
                // EMPTY_SET, ADDITEMS, FROZENSET: sets are read as lists.
                0x8f => self.stack.push(Value::list(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::list(items));
                }
                b'c' => {
                    let module = self.line()?.to_owned();
                    let name = self.line()?.to_owned();
                    self.stack
                        .push(Value::Global(Rc::new(Global { module, name })));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (module.as_str(), name.as_str()) else {
                        return error("STACK_GLOBAL wants two strings");
                    };
                    self.stack.push(Value::Global(Rc::new(Global {
                        module: module.to_owned(),
                        name: name.to_owned(),
                    })));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(callable, args)?);
                }
                // NEWOBJ_EX: cls, args, kwargs (kwargs are kept nowhere: torch does not use them).
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(callable, args)?);
                }
                b'b' => {
                    let state = self.pop()?;
                    if let Value::Object(object) = self.top()? {
                        object.borrow_mut().state = Some(state);
                    }
                    // BUILD on anything else (a dict's `__dict__`, say) changes nothing torch
                    // reads: it is dropped.
                }
                b'Q' => {
                    let id = Rc::new(self.pop()?);
                    self.persistent_ids.push(id.clone());
                    self.stack.push(Value::PersistentId(id));
                }
                b'q' => {
                    let index = u64::from(self.u8()?);
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = u64::from(self.u32()?);
                    self.memo_put(index)?;
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                }
                b'h' => {
                    let index = u64::from(self.u8()?);
                    let value = self.memo_get(index)?;
                    self.stack.push(value);
                }
                b'j' => {
                    let index = u64::from(self.u32()?);
                    let value = self.memo_get(index)?;
                    self.stack.push(value);
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let value = self.top()?.clone();
                    self.stack.push(value);
                }
                other => {
                    return error(format!(
                        "pickle opcode 0x{other:02x} at byte {} is not supported (only the \
                         binary opcodes torch.save writes are)",
                        self.at - 1
                    ));
                }
            }
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(list) => list.borrow_mut().extend(items),
            Value::Object(object) => object
                .borrow_mut()
                .items
                .extend(items.into_iter().map(|v| (Value::None, v))),
            _ => return error("APPEND on something that is not a list"),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<(Value, Value)>) -> Result<(), PickleError> {
        match self.top()? {
            Value::Dict(dict) => dict.borrow_mut().extend(items),
            Value::Object(object) => object.borrow_mut().items.extend(items),
            _ => return error("SETITEM on something that is not a dict"),
        }
        Ok(())
    }
}

/// `[k0, v0, k1, v1, …]` → `[(k0, v0), …]`.
fn pairs(flat: Vec<Value>) -> Result<Vec<(Value, Value)>, PickleError> {
    if !flat.len().is_multiple_of(2) {
        return error("a dict in the pickle has a key without a value");
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut iter = flat.into_iter();
    while let (Some(key), Some(value)) = (iter.next(), iter.next()) {
        out.push((key, value));
    }
    Ok(out)
}

/// A little-endian two's-complement integer of up to 8 bytes.
fn long(bytes: &[u8]) -> Result<i64, PickleError> {
    if bytes.len() > 8 {
        return error("an integer in the pickle is wider than 64 bits");
    }
    let Some(last) = bytes.last() else {
        return Ok(0);
    };
    let fill = if last & 0x80 != 0 { 0xFF } else { 0 };
    let mut word = [fill; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    Ok(i64::from_le_bytes(word))
}

/// What `callable(*args)` stands for, without calling anything.
fn call(callable: Value, args: Value) -> Result<Value, PickleError> {
    let global = match callable {
        Value::Global(global) => global,
        // PyTorch's legacy format saves an `nn.Module` class as the persistent id
        // `('module', cls, source_file, source)`.
        Value::PersistentId(id) => match &*id {
            Value::Tuple(items) => match &items[..] {
                [kind, Value::Global(global), ..] if kind.as_str() == Some("module") => {
                    global.clone()
                }
                _ => return error("the pickle calls a persistent id that is not a class"),
            },
            _ => return error("the pickle calls a persistent id that is not a class"),
        },
        _ => return error("the pickle calls something that is not a global"),
    };
    let first = match &args {
        Value::Tuple(items) => items.first().cloned(),
        _ => None,
    };
    let builtin = matches!(global.module.as_str(), "__builtin__" | "builtins");
    if global.is("collections", "OrderedDict") || (builtin && global.name == "dict") {
        // `OrderedDict()` or `OrderedDict([(k, v), …])`.
        let mut items = Vec::new();
        if let Some(Value::List(list)) = first {
            for pair in list.borrow().iter() {
                if let Value::Tuple(kv) = pair
                    && let [k, v] = &kv[..]
                {
                    items.push((k.clone(), v.clone()));
                }
            }
        }
        return Ok(Value::dict(items));
    }
    if builtin && matches!(global.name.as_str(), "set" | "frozenset" | "list") {
        let items = match first {
            Some(Value::List(list)) => list.borrow().clone(),
            Some(Value::Tuple(items)) => items.to_vec(),
            _ => Vec::new(),
        };
        return Ok(Value::list(items));
    }
    Ok(Value::Object(Rc::new(RefCell::new(Object {
        class: (*global).clone(),
        args,
        state: None,
        items: Vec::new(),
    }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ordered_dict_filled_after_memoisation() {
        // pickle.dumps(OrderedDict(a=1, b=[2.5, "x"]), protocol=2), by hand.
        let mut p = vec![0x80, 2];
        p.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aK\x01");
        p.extend_from_slice(b"X\x01\x00\x00\x00b]q\x02(G\x40\x04\x00\x00\x00\x00\x00\x00");
        p.extend_from_slice(b"X\x01\x00\x00\x00xeuh\x01.");
        // STOP pops the dict fetched back from the memo: it must hold both items.
        let value = unpickle(&p).expect("a valid pickle");
        assert_eq!(value.get("a").and_then(|v| v.as_int()), Some(1));
        let Some(Value::List(list)) = value.get("b") else {
            panic!("b is a list: {value:?}");
        };
        let list = list.borrow();
        assert!(matches!(list[0], Value::Float(f) if f == 2.5));
        assert_eq!(list[1].as_str(), Some("x"));
    }

    #[test]
    fn globals_are_recorded_never_called() {
        // os.system("echo pwned") as a pickle: REDUCE gives an inert object.
        let p = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.";
        let Value::Object(object) = unpickle(p).expect("a valid pickle") else {
            panic!("REDUCE gives an object");
        };
        let object = object.borrow();
        assert!(object.class.is("os", "system"));
        let Value::Tuple(args) = &object.args else {
            panic!("args are a tuple");
        };
        assert_eq!(args[0].as_str(), Some("echo pwned"));
    }

    #[test]
    fn longs_are_twos_complement() {
        assert_eq!(long(&[]).ok(), Some(0));
        assert_eq!(long(&[0xFF]).ok(), Some(-1));
        assert_eq!(long(&[0x00, 0x01]).ok(), Some(256));
        assert_eq!(long(&[0x6a, 0xa8, 0xf9]).ok(), Some(-415_638));
        assert!(long(&[0; 9]).is_err());
    }

    #[test]
    fn hostile_lengths_and_truncations_are_errors() {
        // BINUNICODE claiming 4 GiB, BINGET of a memo never stored, a lone STOP, a bare MARK.
        for bad in [
            &b"\x80\x02X\xff\xff\xff\xff"[..],
            b"\x80\x02h\x05.",
            b".",
            b"(",
            b"\x80\x02(t(u.",
            b"\x80\x02K\x01K\x02s.",
            b"\x80\x02I1\n.",
        ] {
            assert!(unpickle(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_every_fixture_pickle_and_survives_its_corruptions() {
        let zip = include_bytes!("../../../tests/fixtures/pth/torchvision_legacy.pth");
        let entries = super::super::zip::read_entries(zip).expect("a zip");
        let pickle = entries
            .iter()
            .find(|e| e.name.ends_with("/data.pkl"))
            .expect("a data.pkl")
            .data;
        assert!(matches!(unpickle(pickle), Ok(Value::Dict(_))));
        for len in 0..pickle.len() {
            assert!(unpickle(&pickle[..len]).is_err(), "truncated at {len}");
        }
        for at in (0..pickle.len()).step_by(7) {
            let mut bad = pickle.to_vec();
            bad[at] ^= 0x5A;
            let _ = unpickle(&bad);
        }
    }
}
