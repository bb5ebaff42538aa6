//! Shared by the process and docker tests: building the test programs.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `scripts/test-images.sh` with `args` and returns what it printed. The script locks
/// against concurrent runs and does nothing when its inputs have not changed, so every test
/// process may call it.
pub fn test_images(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-images.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        script.display(),
        output.status
    );
    String::from_utf8(output.stdout)
        .expect("the script prints text")
        .trim()
        .to_string()
}
