//! Our JSON writer's floats against Python's own: a large seeded sample of
//! doubles (random bit patterns, subnormals, every power of ten and its
//! neighbours one ulp away, where `repr` switches between positional and
//! exponent notation, negative zero, NaN and the infinities, and the
//! ranges timestamps and measurements take) is written by
//! `tests/python/float_repr.py` with `json.dumps` in the reference's venv
//! and by [`to_python_json`], and every line must be the same, but for
//! NaN and the infinities: `json.dumps` writes `NaN`/`Infinity`, which are
//! not JSON, and we write `null` (a deliberate difference, README item 7).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use auto_trainer_api::to_python_json;
use common::python::{python, repo_dir};

/// Marsaglia's xorshift64, seeded: the same sample on every machine.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn one_ulp_around(value: f64) -> [f64; 3] {
    let bits = value.to_bits();
    [f64::from_bits(bits - 1), value, f64::from_bits(bits + 1)]
}

fn sample() -> Vec<f64> {
    let mut rng = XorShift(0x5eed_f10a_7000_0001);
    let mut values = vec![0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    values.extend([
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        5e-324,
        -5e-324,
    ]);
    // Powers of ten, each with its neighbours: repr writes 1e16 but
    // 1000000000000000.0, 0.0001 but 1e-05.
    for exponent in -323..=308 {
        let power: f64 = format!("1e{exponent}").parse().unwrap();
        for value in one_ulp_around(power) {
            values.extend([value, -value]);
        }
    }
    for _ in 0..40_000 {
        let bits = rng.next();
        // Any bit pattern (NaN payloads included), a subnormal, a timestamp
        // in microseconds, a small measurement.
        values.push(f64::from_bits(bits));
        values.push(f64::from_bits(bits & 0x000f_ffff_ffff_ffff));
        values.push(1.6e9 + (bits % 400_000_000_000_000) as f64 / 1e6);
        values.push((bits % 2_000_001) as f64 / 1e3 - 1000.0);
    }
    values
}

#[test]
fn every_float_is_written_as_python_writes_it() {
    let values = sample();
    assert!(values.len() >= 100_000);
    let script = repo_dir().join("tests/python/float_repr.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let bits: String = values
        .iter()
        .map(|v| format!("{:016x}\n", v.to_bits()))
        .collect();
    // Python reads all before it writes much; write from another thread anyway.
    let writer = std::thread::spawn(move || stdin.write_all(bits.as_bytes()));
    let output = child.wait_with_output().expect("the script's output");
    writer.join().unwrap().expect("write the sample");
    assert!(output.status.success(), "{} failed", script.display());
    let python_lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(python_lines.len(), values.len(), "one line per value");

    let mismatches: Vec<String> = values
        .iter()
        .zip(&python_lines)
        .filter_map(|(value, python)| {
            let ours = to_python_json(value).expect("a float serializes");
            let expected = if value.is_finite() {
                python.as_bytes()
            } else {
                assert!(
                    ["NaN", "Infinity", "-Infinity"].contains(python),
                    "{python}"
                );
                b"null"
            };
            (ours != expected).then(|| {
                format!(
                    "{:016x}: python {python}, ours {}",
                    value.to_bits(),
                    String::from_utf8_lossy(&ours)
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} floats differ, e.g. {:?}",
        mismatches.len(),
        values.len(),
        &mismatches[..mismatches.len().min(10)]
    );
    println!("{} floats written as Python writes them", values.len());
}
