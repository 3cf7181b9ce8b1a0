//! Errors with source positions.
//!
//! Every problem found in a system description is an [`Error`] naming the file, the
//! line and column, and the element it is about. [`Errors`] collects all of them, so
//! one run of the tool reports every mistake in the file, not only the first.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a system description.
///
/// Displayed as `system.xml:12:5: <map>: vaddr 0x4001 is not aligned ...`; for a
/// file-level problem (I/O, empty system) `element` is empty and the `<..>` part is
/// left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file the problem is in (as given to the parser).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is not about one place (e.g. an I/O error).
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
    /// The element the problem is about (`"map"`, `"end"`, ...), or `""`.
    pub element: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Error {
    /// A new error at `line:column` about `element`.
    pub fn new(file: &Path, line: u32, column: u32, element: &str, message: impl Into<String>) -> Error {
        Error { file: file.to_path_buf(), line, column, element: element.to_string(), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": ")?;
        if !self.element.is_empty() {
            write!(f, "<{}>: ", self.element)?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}

/// All the problems found in one system description, in the order found
/// (parse errors in document order, then validation errors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Errors(pub Vec<Error>);

impl Errors {
    /// The number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterate over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }
}

impl From<Error> for Errors {
    fn from(e: Error) -> Errors {
        Errors(vec![e])
    }
}

impl<'a> IntoIterator for &'a Errors {
    type Item = &'a Error;
    type IntoIter = std::slice::Iter<'a, Error>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}
