//! Writes the JSON Schemas of the wire protocol (`proto-schema/*.schema.json`)
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

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto-schema"),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let schemas = auto_trainer_api::wire_schemas();
    // Files of messages that no longer exist would otherwise linger.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".schema.json") && !schemas.iter().any(|s| s.file_name == name) {
                println!("removing stale {name}");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for schema in &schemas {
        let path = dir.join(schema.file_name);
        if let Err(e) = std::fs::write(&path, schema.to_file_text()) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
