//! Writes the JSON Schemas of the wire protocol (`proto-schema/<generation>/*.schema.json`)
//! from the Rust wire types, so the schemas and the code cannot disagree.
//!
//! Run it through the script, from anywhere:
//!
//! ```text
//! scripts/generate-schemas.sh            # rewrites proto-schema/
//! cargo run --features schema --example generate_schemas -- <directory>
//! ```
//!
//! `tests/schema.rs` fails when the committed files differ from this output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto-schema"),
    };
    let schemas = auto_trainer_api::wire_schemas();
    // Files of messages (or layouts) that no longer exist would otherwise
    // linger: every `*.schema.json` under `dir` that is not written now goes.
    let wanted: Vec<PathBuf> = schemas.iter().map(|s| dir.join(&s.file_name)).collect();
    for stale in schema_files(&dir)
        .into_iter()
        .filter(|f| !wanted.contains(f))
    {
        println!("removing stale {}", stale.display());
        let _ = std::fs::remove_file(stale);
    }
    for (schema, path) in schemas.iter().zip(&wanted) {
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("cannot create {}: {e}", parent.display());
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = std::fs::write(path, schema.to_file_text()) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

/// The `*.schema.json` files in `dir` and its subdirectories.
fn schema_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            files.extend(schema_files(&path));
        } else if path.to_string_lossy().ends_with(".schema.json") {
            files.push(path);
        }
    }
    files
}
