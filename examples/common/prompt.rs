//! A rustyline prompt with history and tab completion. While it reads a
//! line, everything printed through [`Output`] goes above it.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper};

use super::output::Output;

/// Whether the prompt goes on after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The words the word being typed may become, given the words before it.
type Candidates = Box<dyn Fn(&[&str]) -> Vec<String>>;

/// Completes the word before the cursor with the candidates that start with
/// what is typed (in any case).
struct Completion(Candidates);

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.trim_end_matches(|c: char| !c.is_whitespace()).len();
        let typed = before[start..].to_ascii_lowercase();
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let matches = (self.0)(&words)
            .into_iter()
            .filter(|candidate| candidate.to_ascii_lowercase().starts_with(&typed))
            .collect();
        Ok((start, matches))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// The prompt; closing it (dropping) saves the history and sends printed
/// lines straight to stdout again.
pub struct Prompt {
    editor: Editor<Completion, DefaultHistory>,
    output: Output,
    history: Option<PathBuf>,
}

impl Prompt {
    /// Opens the prompt, completing words with `candidates` (the words the
    /// word being typed may become, given the words before it), keeping its
    /// history in the file `history` if given.
    pub fn open(
        output: &Output,
        history: Option<PathBuf>,
        candidates: impl Fn(&[&str]) -> Vec<String> + 'static,
    ) -> rustyline::Result<Self> {
        let mut editor = Editor::new()?;
        editor.set_helper(Some(Completion(Box::new(candidates))));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        // Without a terminal rustyline reads plain lines and has no printer.
        if std::io::stdin().is_terminal() {
            match editor.create_external_printer() {
                Ok(printer) => output.attach(printer),
                Err(error) => tracing::warn!("printed lines may break the prompt: {error}"),
            }
        }
        Ok(Self {
            editor,
            output: output.clone(),
            history,
        })
    }

    /// Hands each line typed (trimmed, empty ones skipped) to `handle` until
    /// it answers [`Flow::Quit`], or Ctrl-C or Ctrl-D.
    pub fn run(
        &mut self,
        prompt: &str,
        mut handle: impl FnMut(&str) -> Flow,
    ) -> rustyline::Result<()> {
        loop {
            self.output.set_reading(true);
            let read = self.editor.readline(prompt);
            self.output.set_reading(false);
            match read {
                Ok(line) => {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    let _ = self.editor.add_history_entry(line);
                    if handle(line) == Flow::Quit {
                        return Ok(());
                    }
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        if let Some(path) = &self.history {
            let _ = self.editor.save_history(path);
        }
        self.output.detach();
    }
}
