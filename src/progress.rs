//! Progress bars on stderr, shown only on a terminal and never with `--no-progress`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `label`, hidden when stderr is not a terminal or `quiet`.
pub fn bar(len: u64, label: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// Test hook: `HARDNEG_HOLD=<stage>:<ms>` sleeps at that stage (after each embedded window for
/// `embed`, before the output is renamed into place for `write`), so a test can kill a real run
/// mid-stage. Unset in normal use.
pub fn test_hold(stage: &str) {
    let Ok(spec) = std::env::var("HARDNEG_HOLD") else {
        return;
    };
    if let Some(ms) = spec
        .split(',')
        .filter_map(|s| s.split_once(':'))
        .find(|(s, _)| *s == stage)
        .and_then(|(_, ms)| ms.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
