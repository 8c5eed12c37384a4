//! `vigil tokenize actions`: action logs to HSTU sequences. The file's Parquet metadata
//! records the row length, buckets and the vocabulary's sha256 (its [`TokenStamp`]),
//! which `vigil score actions` checks against the model's.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use vigil_ingest::actions::{
    AccessEntity, AccessLogConfig, ActionColumns, ActionEvent, ActionLogFormat, ActionReader,
    AuthEntity, AuthLogConfig, TemplateMatcher,
};
use vigil_pipelines::output::BatchFileWriter;
use vigil_tokenizers::TokenStamp;
use vigil_tokenizers::actions::{
    ActionSequenceConfig, ActionVocab, actions_schema, sequences, to_record_batch,
};

use super::{BATCH_ROWS, write_dead_letters};
use crate::cli::Outcome;

/// Kind of action log.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogKind {
    /// From the file name: `.jsonl`/`.json` JSON lines, `.csv` CSV, a name with `auth`,
    /// `ssh` or `secure` an auth log, else an access log.
    Auto,
    /// CSV with entity, ts, action, object columns.
    Csv,
    /// JSON lines with entity, ts, action, object fields.
    Jsonl,
    /// Apache/nginx common or combined access log.
    Access,
    /// Syslog auth log (sshd, PAM), actions named by event template.
    Auth,
}

/// Arguments of `vigil tokenize actions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil tokenize actions access.log --log access --out seq.parquet --save-vocab vocab.json"
)]
pub struct ActionsArgs {
    /// The log file (optionally gzip-compressed).
    input: PathBuf,
    /// The Parquet file to write.
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    #[command(flatten)]
    reading: LogArgs,
    /// Use this saved vocabulary instead of fitting one on the input.
    #[arg(long, value_name = "FILE.json")]
    vocab: Option<PathBuf>,
    /// Save the vocabulary (fitted or loaded) here.
    #[arg(long, value_name = "FILE.json")]
    save_vocab: Option<PathBuf>,
    /// Vocabulary size for actions when fitting (pad and OOV included).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_actions: usize,
    /// Vocabulary size for objects when fitting (pad and OOV included).
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    max_objects: usize,
    /// Longest sequence kept per entity.
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_len: usize,
}

/// How to read an action log: the options `vigil tokenize actions` and `vigil score
/// actions` share.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Kind of log (`format` in a topology file).
    #[arg(long, visible_alias = "format", value_enum, default_value_t = LogKind::Auto)]
    log: LogKind,
    /// Year of syslog timestamps, which carry none.
    #[arg(long, default_value_t = 1970)]
    year: i32,
    /// Auth logs: the entity is the user instead of the source address.
    #[arg(long)]
    by_user: bool,
    /// Auth logs: extra event templates from a loghub `*_templates.csv` file.
    #[arg(long, value_name = "FILE.csv")]
    templates: Option<PathBuf>,
    /// Write lines that could not be read to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
}

impl LogArgs {
    /// The format of `input`: `--log`, or guessed from its name.
    pub(crate) fn format(&self, input: &Path) -> anyhow::Result<ActionLogFormat> {
        let kind = match self.log {
            LogKind::Auto => {
                let guess = vigil_pipelines::runtime::sources::guess_action_log(input);
                LogKind::from_str(guess, true).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            other => other,
        };
        Ok(match kind {
            LogKind::Auto => unreachable!("guessed above"),
            LogKind::Csv => ActionLogFormat::Csv(ActionColumns::default()),
            LogKind::Jsonl => ActionLogFormat::Jsonl(ActionColumns::default()),
            LogKind::Access => ActionLogFormat::AccessLog(AccessLogConfig {
                entity: AccessEntity::ClientIp,
                ..AccessLogConfig::default()
            }),
            LogKind::Auth => {
                let mut templates = TemplateMatcher::sshd();
                if let Some(path) = &self.templates {
                    templates = templates.with_loghub_csv_file(path)?;
                }
                ActionLogFormat::AuthLog(AuthLogConfig {
                    year: self.year,
                    entity: if self.by_user { AuthEntity::User } else { AuthEntity::SourceIp },
                    templates,
                    ..AuthLogConfig::default()
                })
            }
        })
    }

    /// Every event of `input`, in file order, and the number of dead letters (written to
    /// `--dead-letters` when given). No event at all is an error.
    pub(crate) fn read_events(&self, input: &Path) -> anyhow::Result<(Vec<ActionEvent>, u64)> {
        let mut reader = ActionReader::open(input, self.format(input)?)?;
        let mut events = Vec::new();
        while let Some(e) = reader.next_event()? {
            events.push(e);
        }
        let stats = reader.stats();
        if let Some(path) = &self.dead_letters {
            let kept = reader.take_dead_letters();
            write_dead_letters(path, &kept)?;
        }
        if events.is_empty() {
            bail!("{}: no events", input.display());
        }
        Ok((events, stats.dead_letters))
    }
}

/// Run `vigil tokenize actions`.
pub fn run(args: ActionsArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let (events, dead_letters) = args.reading.read_events(&args.input)?;
    let vocab = match &args.vocab {
        Some(path) => ActionVocab::from_json(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )?,
        None => ActionVocab::fit(&events, args.max_actions, args.max_objects)?,
    };
    if let Some(path) = &args.save_vocab {
        std::fs::write(path, vocab.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let config = ActionSequenceConfig { max_len: args.max_len, ..ActionSequenceConfig::default() };
    let stamp = TokenStamp::actions(&vocab, &config).to_key_values();
    let snaps = sequences(&events, vocab, config)?;
    let mut out = BatchFileWriter::create_with_metadata(&args.out, actions_schema(), stamp)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for chunk in snaps.chunks(BATCH_ROWS) {
        out.write(&to_record_batch(chunk)?).context("cannot write the sequences")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {} events, {rows} sequences into {} ({} dead letters)",
            events.len(),
            args.out.display(),
            dead_letters
        );
    }
    Ok(if dead_letters > 0 { Outcome::Partial } else { Outcome::Complete })
}
