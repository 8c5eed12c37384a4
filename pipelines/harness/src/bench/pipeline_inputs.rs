//! The default inputs of `vigil bench pipeline`: the larger shared data sets when
//! `$VIGIL_DATA` is there, else the shipped samples.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::pipeline::SourceKind;

/// The environment variable naming the shared data directory.
pub const DATA_ENV: &str = "VIGIL_DATA";

/// The CIC-IDS2017 (improved, sampled) CSVs of the shared data, one per class.
const CICIDS_DIR: &str = "flows/cicids2017-improved-sampled";

/// The default input of `kind`: the sample capture; with shared data, the CIC-IDS2017
/// CSVs concatenated (into `scratch`), ETTh1 and the 10k-line Apache log, else the
/// samples. `root` is the checkout (samples/), `data` the shared data.
pub fn default_input(
    kind: SourceKind,
    root: &Path,
    data: Option<&Path>,
    scratch: &Path,
) -> anyhow::Result<PathBuf> {
    let shared = |rel: &str| data.map(|d| d.join(rel)).filter(|p| p.exists());
    Ok(match kind {
        // netFound scores every flow (~10-20 ms a flow on a core): the 1.09M-packet
        // benchmark capture's ~150k flows would take most of an hour, so the sample.
        SourceKind::Capture => root.join("samples/ssh.pcap"),
        SourceKind::FlowCsv => match shared(CICIDS_DIR) {
            Some(dir) => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "csv")
                            && p.file_name().is_none_or(|n| n != "data_header_reference.csv")
                    })
                    .collect();
                files.sort();
                let out = scratch.join("vigil-bench-cicids2017.csv");
                concat_csv(&files, &out)?;
                out
            }
            None => root.join("samples/flows/cicids2017-sample.csv"),
        },
        SourceKind::Metrics => shared("timeseries/ett/ETTh1.csv")
            .unwrap_or_else(|| root.join("samples/metrics/ec2_cpu_utilization_825cc2.csv")),
        SourceKind::Actions => shared("user_actions/web-access-logs/elastic-apache/apache_logs")
            .unwrap_or_else(|| root.join("samples/actions/apache_access.log")),
    })
}

/// Concatenate CSV files of one header into `out`, the header once. Returns the rows.
pub fn concat_csv(files: &[PathBuf], out: &Path) -> anyhow::Result<u64> {
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    let mut header: Option<String> = None;
    let mut rows = 0;
    for f in files {
        let mut lines = BufReader::new(std::fs::File::open(f)?).lines();
        let Some(first) = lines.next().transpose()? else { continue };
        match &header {
            None => {
                writeln!(w, "{first}")?;
                header = Some(first);
            }
            Some(h) => anyhow::ensure!(
                *h == first,
                "{}: its header differs from the first file's",
                f.display()
            ),
        }
        for line in lines {
            let line = line?;
            if !line.trim().is_empty() {
                writeln!(w, "{line}")?;
                rows += 1;
            }
        }
    }
    w.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csvs_concatenate_under_one_header() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, "x,y\n1,2\n3,4\n").unwrap();
        std::fs::write(&b, "x,y\n5,6\n\n").unwrap();
        let out = dir.path().join("out.csv");
        assert_eq!(concat_csv(&[a.clone(), b], &out).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "x,y\n1,2\n3,4\n5,6\n");
        let c = dir.path().join("c.csv");
        std::fs::write(&c, "x,z\n1,2\n").unwrap();
        assert!(concat_csv(&[a, c], &out).is_err());
    }
}
