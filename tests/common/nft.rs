//! Network partitions on loopback with nftables (docs/design.md §7): an `inet` table
//! whose input chain drops traffic between one node's address and the others'. Galera binds
//! its outgoing connections to the node address, so this cuts Galera traffic while SQL and
//! etcd from 127.0.0.1 still flow. The table is deleted on heal and on drop (so also when the
//! test panics); a leftover of a killed test run is deleted before a new partition is made.

use std::io::Write;
use std::process::{Command, Stdio};

pub struct Partition {
    table: String,
    active: bool,
}

fn nft(args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(s.as_bytes())
            .map_err(|e| format!("nft stdin: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Partition {
    /// Cut traffic between `node` and every address in `others` (both directions).
    /// `table` must be unique to the test (e.g. named after its subnet).
    pub fn isolate(table: &str, node: &str, others: &[String]) -> Partition {
        let _ = nft(&["delete", "table", "inet", table], None);
        let set = others.join(", ");
        let script = format!(
            "table inet {table} {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority 0; policy accept;\n\
             \t\tip saddr {node} ip daddr {{ {set} }} drop\n\
             \t\tip saddr {{ {set} }} ip daddr {node} drop\n\
             \t}}\n\
             }}\n"
        );
        nft(&["-f", "-"], Some(&script)).expect("create the partition table");
        Partition {
            table: table.to_string(),
            active: true,
        }
    }

    /// Delete a table an earlier crashed run may have left (no error when it is absent).
    pub fn remove_leftover(table: &str) {
        let _ = nft(&["delete", "table", "inet", table], None);
    }

    /// Delete the table: traffic flows again.
    pub fn heal(&mut self) {
        if self.active {
            self.active = false;
            if let Err(e) = nft(&["delete", "table", "inet", &self.table], None) {
                eprintln!("healing the partition: {e}");
            }
        }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.heal();
    }
}
