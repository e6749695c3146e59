//! A packet capture of loopback traffic (tcpdump, Debian's package): started before the
//! traffic, stopped with SIGINT (tcpdump then flushes its file), and searched for a byte
//! string — to show what crossed the wire in clear text and what did not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Capture every packet on `lo` that `filter` (a pcap filter expression) matches, whole,
    /// into `dir/name.pcap`; returns once tcpdump is listening.
    pub fn start(dir: &Path, name: &str, filter: &str) -> Capture {
        let file = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.tcpdump.log"));
        let mut cmd = Command::new("tcpdump");
        // --immediate-mode: each packet reaches tcpdump at once (else the kernel hands them
        // over in blocks, and those still pending at SIGINT are lost); -U: each is written at
        // once.
        cmd.args(["-i", "lo", "--immediate-mode", "-U", "-s", "0", "-n", "-w"])
            .arg(&file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("tcpdump log"));
        super::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .expect("run tcpdump (scripts/install-deps installs it)");
        let mut c = Capture {
            child: Some(child),
            file,
        };
        let start = Instant::now();
        while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on")) {
            if let Some(Ok(Some(st))) = c.child.as_mut().map(|ch| ch.try_wait()) {
                panic!(
                    "tcpdump exited ({st}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tcpdump did not start listening within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    /// Stop the capture (a second after the last packet of interest was sent) and return the
    /// captured file's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(mut ch) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(ch.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = ch.wait();
        }
        std::fs::read(&self.file).expect("read the capture")
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut ch) = self.child.take() {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
