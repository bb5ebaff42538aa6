//! Shared by the process and docker tests: building the test programs, and reading a held
//! container's output as the agent ships it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_runtime::{OutputLine, OutputLines, Runtime};
use futures_util::StreamExt;

/// Reads `output` of the held container `id` to its end after `first`, telling `runtime`
/// every thousandth line's position as shipped, the way the agent acknowledges what the
/// server keeps; within `limit`.
pub async fn read_shipping<R: Runtime>(
    runtime: &R,
    id: &str,
    first: OutputLine,
    mut output: OutputLines,
    limit: Duration,
) -> Vec<OutputLine> {
    let mut lines = vec![first];
    let reading = async {
        while let Some(line) = output.next().await {
            let line = line.expect("readable");
            if lines.len() % 1000 == 0 {
                runtime
                    .output_shipped(id, line.position)
                    .await
                    .expect("shipped");
            }
            lines.push(line);
        }
    };
    tokio::time::timeout(limit, reading)
        .await
        .expect("the output ends once all is shipped");
    lines
}

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
