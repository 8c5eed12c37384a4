//! A progress bar on stderr for long inputs, shown only on a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this finish too fast for a bar to help.
const MIN_BYTES_FOR_BAR: u64 = 8 << 20;

/// A byte-based progress bar, hidden unless stderr is a terminal and the input is large.
pub fn bytes_bar(total: Option<u64>, label: &str, quiet: bool) -> ProgressBar {
    let show = !quiet && std::io::stderr().is_terminal();
    match total {
        Some(t) if show && t >= MIN_BYTES_FOR_BAR => {
            let bar = ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar
        }
        _ => ProgressBar::hidden(),
    }
}
