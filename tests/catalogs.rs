//! Our code catalogs against the reference's own: every IntEnum of the
//! installed `auto-trainer-api` package (0.9.11, in the test venv) is
//! exported by `tests/python/export_catalogs.py`, names and numbers,
//! aliases included, and compared with ours both ways.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use auto_trainer_api::{
    ApiAlarmKind, ApiAppStatus, ApiCommand, ApiCommandRequestErrorKind, ApiCommandRequestResult,
    ApiDetectorKind, ApiEventKind, ApiTopic, ApiTrainingMode,
};
use common::python::{python, repo_dir};

type Catalog = BTreeMap<String, i64>;

/// The reference's catalogs: enum name -> (member or alias name ->
/// (number, canonical name)).
fn reference_entries() -> BTreeMap<String, BTreeMap<String, (i64, String)>> {
    let script = repo_dir().join("tests/python/export_catalogs.py");
    let output = Command::new(python())
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
fn reference_catalogs() -> BTreeMap<String, Catalog> {
    reference_entries()
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

#[test]
fn every_catalog_matches_the_reference_both_ways() {
    let reference = reference_catalogs();
    // The reference's enum names; `ApiCommandReqeustResult` is its spelling.
    let ours: BTreeMap<&str, Catalog> = BTreeMap::from([
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
    ]);
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

/// Every number of the reference decodes to the name IntEnum gives it (an
/// alias's number to the member it stands for), and every name of the
/// reference, aliases included, reads as that number.
#[test]
fn numbers_and_names_convert_as_in_the_reference() {
    let reference = reference_entries();
    macro_rules! check {
        ($enum_name:literal, $enum:ty, $number:ty) => {{
            for (name, (number, canonical)) in &reference[$enum_name] {
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
