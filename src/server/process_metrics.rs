//! The build and process metrics of the Prometheus conventions: `tokengate_build_info` and the
//! `process_*` family (read from `/proc` on Linux, as the official clients do; left out where
//! `/proc` is not there).

use std::fmt::Write as _;
use std::sync::OnceLock;

/// The kernel's `USER_HZ`: the unit of the times in `/proc/<pid>/stat`. It is fixed at 100 by
/// the Linux ABI (the Go and Python Prometheus clients assume the same).
const USER_HZ: f64 = 100.0;

/// The page size `/proc/self/statm` counts in. 4 KiB on the platforms tokengate is built for
/// (x86-64, and aarch64 kernels with 4 KiB pages).
const PAGE_SIZE: u64 = 4096;

/// Appends `tokengate_build_info` and the process metrics to `out`.
pub(crate) fn render(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP tokengate_build_info The running build: always 1, its version as a label."
    );
    let _ = writeln!(out, "# TYPE tokengate_build_info gauge");
    let _ = writeln!(
        out,
        "tokengate_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(process) = Process::read() {
        process.render(out);
    }
}

/// What `/proc` says of this process.
#[derive(Debug, PartialEq)]
struct Process {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    start_time_seconds: f64,
}

impl Process {
    fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        Process::parse(&stat, &statm, open_fds, &limits, boot_time()?)
    }

    /// From the text of `/proc/self/stat`, `/proc/self/statm` and `/proc/self/limits`, the
    /// number of open descriptors and the boot time (seconds since the epoch).
    fn parse(
        stat: &str,
        statm: &str,
        open_fds: u64,
        limits: &str,
        boot_time: f64,
    ) -> Option<Process> {
        // The command name (field 2) is in parentheses and may hold spaces: fields are counted
        // from after its closing parenthesis, where field 3 (state) is the first.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let (utime, stime, starttime) = (field(14)?, field(15)?, field(22)?);
        let virtual_bytes = field(23)?;
        let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        let max_fds = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok());
        Some(Process {
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            resident_bytes: resident_pages * PAGE_SIZE,
            virtual_bytes,
            open_fds,
            max_fds,
            start_time_seconds: boot_time + starttime as f64 / USER_HZ,
        })
    }

    fn render(&self, out: &mut String) {
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        metric(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            self.cpu_seconds,
        );
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            self.resident_bytes as f64,
        );
        metric(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            self.virtual_bytes as f64,
        );
        metric(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            self.open_fds as f64,
        );
        if let Some(max) = self.max_fds {
            metric(
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                max as f64,
            );
        }
        metric(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            self.start_time_seconds,
        );
    }
}

/// The boot time from `/proc/stat` (`btime`), read once.
fn boot_time() -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|line| line.strip_prefix("btime "))
            .and_then(|secs| secs.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_with_a_command_name_holding_spaces_and_parentheses() {
        // Fields 3.. of a real line, after a command name `(tokio (rt) 1)`.
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 130 0 0 20 0 \
                    9 0 123456 987654321 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 \
                    17 1 0 0 0 0 0";
        let statm = "241131 3000 1200 300 0 20000 0";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let process = Process::parse(stat, statm, 12, limits, 1_700_000_000.0).unwrap();
        assert_eq!(
            process,
            Process {
                cpu_seconds: 3.8,
                resident_bytes: 3000 * 4096,
                virtual_bytes: 987_654_321,
                open_fds: 12,
                max_fds: Some(1024),
                start_time_seconds: 1_700_000_000.0 + 1234.56,
            }
        );
    }

    #[test]
    fn junk_proc_text_gives_nothing_rather_than_a_wrong_figure() {
        assert_eq!(Process::parse("", "", 0, "", 0.0), None);
        assert_eq!(Process::parse("1 (x) S 1 2", "1 2", 0, "", 0.0), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_and_renders() {
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains(&format!(
            "tokengate_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        let process = Process::read().expect("/proc on Linux");
        assert!(
            process.resident_bytes > 0 && process.open_fds > 0,
            "{process:?}"
        );
        assert!(process.start_time_seconds > 1_600_000_000.0, "{process:?}");
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(out.contains(&format!("# TYPE {name} ")), "{name}: {out}");
        }
    }
}
