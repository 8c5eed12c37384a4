//! `vigil completions SHELL` and `vigil man --out DIR`: shell completions and man
//! pages generated from the command-line definitions (the Debian package ships both).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, Outcome};

/// Arguments of `vigil completions`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  vigil completions bash > /etc/bash_completion.d/vigil\n  \
vigil completions zsh > ~/.zfunc/_vigil")]
pub struct CompletionsArgs {
    /// The shell.
    shell: Shell,
}

/// Arguments of `vigil man`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vigil man --out man/ && man -l man/vigil.1")]
pub struct ManArgs {
    /// The directory to write `vigil.1` and one `vigil-<command>.1` per command to.
    #[arg(short, long, visible_alias = "output", value_name = "DIR")]
    out: PathBuf,
}

/// Print the completion script of a shell.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "vigil", &mut script);
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(Outcome::Complete),
    }
}

/// Write the man pages.
pub fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.out)
        .with_context(|| format!("cannot write the man pages to {}", args.out.display()))?;
    Ok(Outcome::Complete)
}
