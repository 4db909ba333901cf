//! Our code catalogs against the reference's own, for each generation:
//! every IntEnum of the installed `auto-trainer-api` package (0.9.11 and
//! 0.12.0, each in its test venv) is exported by
//! `tests/python/export_catalogs.py`, names and numbers, aliases included,
//! and compared with ours both ways.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use std::path::Path;

use auto_trainer_api::v0_12;
use auto_trainer_api::{
    ApiAlarmKind, ApiAppStatus, ApiCommand, ApiCommandRequestErrorKind, ApiCommandRequestResult,
    ApiDetectorKind, ApiEventKind, ApiTopic, ApiTrainingMode,
};
use common::python::{python, python_v0_12, repo_dir};

type Catalog = BTreeMap<String, i64>;

/// The reference's catalogs: enum name -> (member or alias name ->
/// (number, canonical name)).
fn reference_entries(python: &Path) -> BTreeMap<String, BTreeMap<String, (i64, String)>> {
    let script = repo_dir().join("tests/python/export_catalogs.py");
    let output = Command::new(python)
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the export is JSON")
}

/// The reference's catalogs: enum name -> (member or alias name -> number).
fn reference_catalogs(python: &Path) -> BTreeMap<String, Catalog> {
    reference_entries(python)
        .into_iter()
        .map(|(name, entries)| {
            let catalog = entries
                .into_iter()
                .map(|(k, (number, _))| (k, number))
                .collect();
            (name, catalog)
        })
        .collect()
}

/// One of our catalogs as the reference lists it: every named code, and
/// every alias with the number of the code it stands for.
macro_rules! ours {
    ($enum:ty) => {{
        let mut catalog = Catalog::new();
        for code in <$enum>::ALL {
            let name = code.name().expect("a code in ALL has a name");
            catalog.insert(name.to_owned(), i64::from(code.value()));
        }
        for (alias, code) in <$enum>::ALIASES {
            catalog.insert((*alias).to_owned(), i64::from(code.value()));
        }
        catalog
    }};
}

/// Our catalogs of 0.9.11, by the reference's enum names
/// (`ApiCommandReqeustResult` is its spelling).
fn ours_v0_9() -> BTreeMap<&'static str, Catalog> {
    BTreeMap::from([
        ("ApiAlarmKind", ours!(ApiAlarmKind)),
        ("ApiAppStatus", ours!(ApiAppStatus)),
        ("ApiCommand", ours!(ApiCommand)),
        ("ApiCommandReqeustResult", ours!(ApiCommandRequestResult)),
        (
            "ApiCommandRequestErrorKind",
            ours!(ApiCommandRequestErrorKind),
        ),
        ("ApiDetectorKind", ours!(ApiDetectorKind)),
        ("ApiEventKind", ours!(ApiEventKind)),
        ("ApiTopic", ours!(ApiTopic)),
        ("ApiTrainingMode", ours!(ApiTrainingMode)),
    ])
}

/// Our catalogs of 0.12; the codes common to both generations (topics,
/// results, error kinds, training modes) are the same types.
fn ours_v0_12() -> BTreeMap<&'static str, Catalog> {
    BTreeMap::from([
        ("ApiAlarmKind", ours!(v0_12::ApiAlarmKind)),
        ("ApiApplicationMode", ours!(v0_12::ApiApplicationMode)),
        ("ApiCommand", ours!(v0_12::ApiCommand)),
        ("ApiCommandRequestResult", ours!(ApiCommandRequestResult)),
        (
            "ApiCommandRequestErrorKind",
            ours!(ApiCommandRequestErrorKind),
        ),
        ("ApiDetectorKind", ours!(v0_12::ApiDetectorKind)),
        (
            "ApiEmergencyResumeReason",
            ours!(v0_12::ApiEmergencyResumeReason),
        ),
        (
            "ApiEmergencyStopReason",
            ours!(v0_12::ApiEmergencyStopReason),
        ),
        ("ApiEventKind", ours!(v0_12::ApiEventKind)),
        ("ApiPelletShiftSource", ours!(v0_12::ApiPelletShiftSource)),
        ("ApiTopic", ours!(ApiTopic)),
        ("ApiTrainingMode", ours!(v0_12::ApiTrainingMode)),
    ])
}

#[test]
fn every_catalog_matches_the_reference_both_ways() {
    compare_both_ways(&python(), ours_v0_9());
}

#[test]
fn every_0_12_catalog_matches_the_0_12_reference_both_ways() {
    compare_both_ways(&python_v0_12(), ours_v0_12());
}

fn compare_both_ways(python: &Path, ours: BTreeMap<&'static str, Catalog>) {
    let reference = reference_catalogs(python);
    let reference_names: Vec<&str> = reference.keys().map(String::as_str).collect();
    let our_names: Vec<&str> = ours.keys().copied().collect();
    assert_eq!(
        our_names, reference_names,
        "the reference has other IntEnums than we port"
    );
    let mut total = 0;
    for (name, catalog) in &ours {
        let theirs = &reference[*name];
        let missing: Vec<_> = theirs
            .iter()
            .filter(|(k, v)| catalog.get(*k) != Some(v))
            .collect();
        let extra: Vec<_> = catalog
            .iter()
            .filter(|(k, v)| theirs.get(*k) != Some(v))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: the reference has {missing:?} that we lack or number differently; \
             we have {extra:?} that it lacks or numbers differently"
        );
        total += catalog.len();
    }
    println!(
        "{} catalogs, {total} names, identical to the reference's",
        ours.len()
    );
}

/// Checks one catalog against `reference`'s entries for `enum_name`: each
/// number is named as the reference names it, each name (aliases too) reads
/// as that number.
macro_rules! check_conversions {
    ($reference:ident, $enum_name:literal, $enum:ty, $number:ty) => {{
        for (name, (number, canonical)) in &$reference[$enum_name] {
            let code = <$enum>::from_value(<$number>::try_from(*number).unwrap());
            assert_eq!(
                code.name(),
                Some(canonical.as_str()),
                "{} {number}",
                $enum_name
            );
            assert_eq!(
                name.parse::<$enum>().ok(),
                Some(code),
                "{} {name:?}",
                $enum_name
            );
        }
    }};
}

/// Every number of the reference decodes to the name IntEnum gives it (an
/// alias's number to the member it stands for), and every name of the
/// reference, aliases included, reads as that number.
#[test]
fn numbers_and_names_convert_as_in_the_reference() {
    let reference = reference_entries(&python());
    macro_rules! check {
        ($($args:tt)*) => { check_conversions!(reference, $($args)*) };
    }
    check!("ApiAlarmKind", ApiAlarmKind, i64);
    check!("ApiAppStatus", ApiAppStatus, i64);
    check!("ApiCommand", ApiCommand, i64);
    check!("ApiCommandReqeustResult", ApiCommandRequestResult, i64);
    check!(
        "ApiCommandRequestErrorKind",
        ApiCommandRequestErrorKind,
        i64
    );
    check!("ApiDetectorKind", ApiDetectorKind, i64);
    check!("ApiEventKind", ApiEventKind, i64);
    check!("ApiTopic", ApiTopic, u32);
    check!("ApiTrainingMode", ApiTrainingMode, i64);
}

/// The same for 0.12: a number is named by 0.12's catalog, never 0.9.11's.
#[test]
fn numbers_and_names_convert_as_in_the_0_12_reference() {
    let reference = reference_entries(&python_v0_12());
    macro_rules! check {
        ($($args:tt)*) => { check_conversions!(reference, $($args)*) };
    }
    check!("ApiAlarmKind", v0_12::ApiAlarmKind, i64);
    check!("ApiApplicationMode", v0_12::ApiApplicationMode, i64);
    check!("ApiCommand", v0_12::ApiCommand, i64);
    check!("ApiDetectorKind", v0_12::ApiDetectorKind, i64);
    check!(
        "ApiEmergencyResumeReason",
        v0_12::ApiEmergencyResumeReason,
        i64
    );
    check!("ApiEmergencyStopReason", v0_12::ApiEmergencyStopReason, i64);
    check!("ApiEventKind", v0_12::ApiEventKind, i64);
    check!("ApiPelletShiftSource", v0_12::ApiPelletShiftSource, i64);
    // 26 numbers changed meaning between the generations.
    let renamed = reference["ApiEventKind"]
        .values()
        .filter(|(number, name)| {
            ApiEventKind::from_value(*number)
                .name()
                .is_some_and(|old| old != name)
        })
        .count();
    assert_eq!(renamed, 26);
}
