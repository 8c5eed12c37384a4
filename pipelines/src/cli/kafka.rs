//! `vigil kafka`: replay files into a topic (`produce`) and show a group's lag (`lag`).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use vigil_ingest::flow_records::FlowCsvReader;

use super::Outcome;
use vigil_pipelines::runtime::kafka_sink::{idempotent_producer, send_waiting};
use vigil_pipelines::runtime::sources::kafka_format::flow_columns;
use vigil_pipelines::runtime::sources::kafka_packets::{LINKTYPE_HEADER, encode_record};

/// Arguments of `vigil kafka`.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    #[command(subcommand)]
    what: KafkaCommand,
}

#[derive(Debug, Subcommand)]
enum KafkaCommand {
    /// Replay a file into a topic, one record per message (for demos and load tests);
    /// the topic is created with --partitions when it does not exist.
    Produce(ProduceArgs),
    /// A consumer group's committed offset, end offset and lag per partition.
    Lag(LagArgs),
}

/// What `vigil kafka produce` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProduceFormat {
    /// A capture when the file is one (pcap or pcapng magic, or a `.pcap*` name),
    /// else lines.
    Auto,
    /// A capture (pcap, pcapng, gzip): one packet per message as a pcap record, its
    /// link type in the `vigil.linktype` header, keyed by host pair so that each
    /// flow's packets stay in order in one partition (the `pcap` format).
    Pcap,
    /// A flow CSV (with --mapping): one JSON object per row, keyed by the header's
    /// column names (the `format` a Kafka source reads with that mapping).
    FlowCsv,
    /// Every line as it is (JSON lines for `metrics_json`, `actions_json`).
    Lines,
    /// A metrics file (CSV, JSON lines): one `metrics_json` point per message, keyed by
    /// series.
    Metrics,
    /// An action log (with --log-format): one `actions_json` event per message, keyed by
    /// entity.
    Actions,
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// The file (`-` = stdin).
    file: PathBuf,
    /// The topic.
    #[arg(long)]
    topic: String,
    /// Bootstrap brokers, comma-separated [default: $VIGIL_KAFKA_BROKERS].
    #[arg(long)]
    brokers: Option<String>,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// What the file holds.
    #[arg(long, value_enum, default_value_t = ProduceFormat::Auto)]
    format: ProduceFormat,
    /// The flow-CSV mapping (built-in name or file) of `--format flow-csv`.
    #[arg(long, default_value = "cicflowmeter")]
    mapping: String,
    /// The log format of `--format actions`: access, auth, csv, jsonl or auto.
    #[arg(long, default_value = "auto")]
    log_format: String,
    /// At most this many messages a second.
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
}

#[derive(Debug, Args)]
struct LagArgs {
    /// The consumer group.
    #[arg(long)]
    group: String,
    /// Bootstrap brokers, comma-separated [default: $VIGIL_KAFKA_BROKERS].
    #[arg(long)]
    brokers: Option<String>,
    /// Only these topics [default: every topic].
    #[arg(long)]
    topic: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Run `vigil kafka`.
pub fn run(args: KafkaArgs, quiet: bool) -> anyhow::Result<Outcome> {
    match args.what {
        KafkaCommand::Produce(a) => produce(a, quiet),
        KafkaCommand::Lag(a) => lag(a),
    }
}

/// Create `topic` with `partitions` unless it exists.
fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let new = NewTopic::new(topic, partitions.max(1), TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt.block_on(admin.create_topics([&new], &opts))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => bail!("cannot create topic {t}: {e}"),
        }
    }
    Ok(())
}

/// `--brokers`, else `$VIGIL_KAFKA_BROKERS`.
fn brokers(given: &Option<String>) -> anyhow::Result<String> {
    given
        .clone()
        .or_else(|| std::env::var("VIGIL_KAFKA_BROKERS").ok())
        .filter(|b| !b.trim().is_empty())
        .context("no brokers: give --brokers or set VIGIL_KAFKA_BROKERS")
}

fn produce(a: ProduceArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let brokers = brokers(&a.brokers)?;
    ensure_topic(&brokers, &a.topic, a.partitions)?;
    let producer = idempotent_producer(&brokers, 20, &Default::default())?;
    let format = match a.format {
        ProduceFormat::Auto if is_capture(&a.file) => ProduceFormat::Pcap,
        ProduceFormat::Auto => ProduceFormat::Lines,
        f => f,
    };
    let records: Box<dyn Iterator<Item = anyhow::Result<Outgoing>>> = match format {
        ProduceFormat::Auto | ProduceFormat::Lines => Box::new(
            std::io::BufRead::lines(open_text(&a.file)?)
                .filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                .map(|l| Ok(Outgoing::text(None, l?))),
        ),
        ProduceFormat::Pcap => Box::new(packets(&a.file)?),
        ProduceFormat::FlowCsv => Box::new(flow_rows(open_text(&a.file)?, &a.file, &a.mapping)?),
        ProduceFormat::Metrics => Box::new(metric_points(&a.file)?),
        ProduceFormat::Actions => Box::new(action_events(&a.file, &a.log_format)?),
    };
    let started = Instant::now();
    let mut sent = 0u64;
    for record in records {
        let out = record?;
        if let Some(rate) = a.rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut rec = BaseRecord::to(&a.topic).payload(&out.payload[..]);
        if let Some(k) = &out.key {
            rec = rec.key(k.as_bytes());
        }
        if let Some(l) = out.linktype {
            let value = l.to_string();
            let header = Header { key: LINKTYPE_HEADER, value: Some(value.as_str()) };
            rec = rec.headers(OwnedHeaders::new().insert(header));
        }
        send_waiting(&producer, rec)?;
        sent += 1;
    }
    producer.flush(Duration::from_secs(60)).context("delivery did not finish")?;
    let d = producer.context();
    let (ok, failed) = (d.ok.load(Ordering::Relaxed), d.failed.load(Ordering::Relaxed));
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "vigil: {ok} messages to {} in {secs:.1} s ({:.0}/s)",
            a.topic,
            ok as f64 / secs.max(1e-9)
        );
    }
    if failed > 0 || ok != sent {
        bail!("{} of {sent} messages were not delivered", sent - ok);
    }
    Ok(Outcome::Complete)
}

/// One message to send.
struct Outgoing {
    key: Option<String>,
    payload: Vec<u8>,
    /// The `vigil.linktype` header (packets).
    linktype: Option<u32>,
}

impl Outgoing {
    fn text(key: Option<String>, payload: String) -> Outgoing {
        Outgoing { key, payload: payload.into_bytes(), linktype: None }
    }
}

/// Whether `path` looks like a capture: pcap or pcapng magic, or gzip with `.pcap` in
/// its name.
fn is_capture(path: &std::path::Path) -> bool {
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    if read.is_err() {
        return false;
    }
    let pcap = [0xa1b2c3d4u32, 0xa1b23c4d]
        .iter()
        .any(|m| magic == m.to_le_bytes() || magic == m.to_be_bytes());
    let gzip_named = magic[..2] == [0x1f, 0x8b] && path.to_string_lossy().contains(".pcap");
    pcap || magic == [0x0a, 0x0d, 0x0d, 0x0a] || gzip_named
}

/// The packets of a capture as pcap records, keyed by their outermost host pair.
fn packets(
    file: &std::path::Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Outgoing>>> {
    use vigil_ingest::{DecodedPacket, Decoder, PcapReader, packet::DecoderConfig};
    let mut reader = PcapReader::open(file)?;
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut decoded = DecodedPacket::default();
    Ok(std::iter::from_fn(move || {
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(e) => return Some(Err(e.into())),
        };
        decoder.decode_into(&pkt.raw(), &mut decoded);
        let key = decoded.layers.first().map(|l| {
            let (lo, hi) = if l.src <= l.dst { (l.src, l.dst) } else { (l.dst, l.src) };
            format!("{lo}-{hi}")
        });
        let payload = encode_record(pkt.ts, pkt.data, pkt.wire_len);
        Some(Ok(Outgoing { key, payload, linktype: Some(pkt.linktype.0) }))
    }))
}

/// The points of a metrics file as `metrics_json` objects, keyed by series.
fn metric_points(
    file: &std::path::Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Outgoing>>> {
    use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig};
    let mut r = if file.as_os_str() == "-" {
        MetricsReader::from_reader("stdin", std::io::stdin(), MetricsReaderConfig::default())?
    } else {
        MetricsReader::open(file, MetricsReaderConfig::default())?
    };
    Ok(std::iter::from_fn(move || r.next_point().transpose()).map(|p| {
        let p = p?;
        let ts = vigil_ingest::time::rfc3339_us(p.ts);
        let v = serde_json::json!({"series": p.series, "ts": ts, "value": p.value});
        Ok(Outgoing::text(Some(p.series), v.to_string()))
    }))
}

/// The events of an action log as `actions_json` objects, keyed by entity.
fn action_events(
    file: &std::path::Path,
    log_format: &str,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Outgoing>>> {
    use vigil_ingest::actions::ActionReader;
    let format = vigil_pipelines::runtime::sources::action_log_format(Some(log_format), file)?;
    let mut r = if file.as_os_str() == "-" {
        ActionReader::from_reader("stdin", std::io::stdin(), format)?
    } else {
        ActionReader::open(file, format)?
    };
    Ok(std::iter::from_fn(move || r.next_event().transpose()).map(|e| {
        let e = e?;
        let ts = vigil_ingest::time::rfc3339_us(e.ts);
        let v = serde_json::json!({"entity": e.entity, "ts": ts, "action": e.action, "object": e.object});
        Ok(Outgoing::text(Some(e.entity), v.to_string()))
    }))
}

/// The rows of a flow CSV as JSON objects keyed by the mapping's columns, keyed by
/// the source address.
fn flow_rows(
    input: Box<dyn std::io::BufRead + Send>,
    file: &std::path::Path,
    mapping: &str,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Outgoing>>> {
    let mapping = vigil_pipelines::runtime::sources::flow_mapping(mapping)?;
    // Read once through the mapping (which checks the header), then again as plain CSV.
    drop(FlowCsvReader::new(input, file.display().to_string(), &mapping)?);
    let columns = flow_columns(&mapping);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter as u8)
        .flexible(true)
        .from_reader(open_text(file)?);
    let header: Vec<String> = csv.headers()?.iter().map(|h| h.trim().to_string()).collect();
    let index: Vec<(String, usize)> = columns
        .iter()
        .filter_map(|c| header.iter().position(|h| h == c).map(|i| (c.clone(), i)))
        .collect();
    let key_at = mapping.src_addr.as_ref().and_then(|c| header.iter().position(|h| h == c));
    Ok(csv.into_records().map(move |r| {
        let r = r?;
        let obj: serde_json::Map<String, serde_json::Value> = index
            .iter()
            .map(|(c, i)| (c.clone(), serde_json::Value::from(r.get(*i).unwrap_or("").trim())))
            .collect();
        let key = key_at.and_then(|i| r.get(i)).map(|s| s.trim().to_string());
        Ok(Outgoing::text(key, serde_json::Value::Object(obj).to_string()))
    }))
}

/// A text file, or stdin for `-`.
fn open_text(path: &std::path::Path) -> anyhow::Result<Box<dyn std::io::BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

fn lag(a: LagArgs) -> anyhow::Result<Outcome> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers(&a.brokers)?)
        .set("group.id", &a.group)
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(None, timeout).context("cannot read the metadata")?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        if t.name().starts_with("__")
            || (!a.topic.is_empty() && !a.topic.iter().any(|n| n == t.name()))
        {
            continue;
        }
        for p in t.partitions() {
            tpl.add_partition(t.name(), p.id());
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    let mut rows = Vec::new();
    for e in committed.elements() {
        let (_, end) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let at = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        let lag = end - at.unwrap_or(0);
        rows.push(serde_json::json!({
            "topic": e.topic(), "partition": e.partition(),
            "committed": at, "end": end, "lag": lag,
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<32} {:>9} {:>12} {:>12} {:>10}",
            "topic", "partition", "committed", "end", "lag"
        );
        for r in &rows {
            let committed = r["committed"].as_i64().map_or("-".to_string(), |c| c.to_string());
            println!(
                "{:<32} {:>9} {:>12} {:>12} {:>10}",
                r["topic"].as_str().unwrap_or_default(),
                r["partition"].to_string(),
                committed,
                r["end"].to_string(),
                r["lag"].to_string()
            );
        }
    }
    Ok(Outcome::Complete)
}
