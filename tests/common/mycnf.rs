//! The my.cnf lines and the datadir initialisation every test server shares (docs/design.md §7):
//! its files under one directory, one loopback address, small memory, and — for Galera
//! nodes — rsync SST with the provider and IST listening on that address.

use std::path::Path;
use std::process::Command;

/// The `[mysqld]` section's common lines: data, socket, pid file and error log under `dir`,
/// `tmpdir` (a Galera node needs its own: a starting mariadbd deletes every `#sql*` file in
/// it), `ip:port`, small memory. Callers append their own lines.
pub fn server(dir: &Path, ip: &str, port: u16, tmpdir: &Path) -> String {
    format!(
        "[mysqld]\n\
         user=mysql\n\
         datadir={d}/data\n\
         socket={d}/mysqld.sock\n\
         pid-file={d}/mysqld.pid\n\
         log-error={d}/error.log\n\
         tmpdir={t}\n\
         bind-address={ip}\n\
         port={port}\n\
         skip-name-resolve\n\
         performance_schema=OFF\n\
         innodb_buffer_pool_size=16M\n\
         innodb_buffer_pool_size_max=16M\n\
         innodb_log_file_size=16M\n",
        d = dir.display(),
        t = tmpdir.display(),
    )
}

/// The Galera lines of a node on `ip`: rsync SST, gcache 16M, group communication on
/// `ip:4567`, IST on `ip:4568`; `provider_extra` (`;key=value…`) is appended to
/// `wsrep_provider_options`.
pub fn galera(ip: &str, cluster: &str, provider_extra: &str) -> String {
    format!(
        "binlog_format=ROW\n\
         default_storage_engine=InnoDB\n\
         innodb_autoinc_lock_mode=2\n\
         wsrep_on=ON\n\
         wsrep_provider=/usr/lib/galera/libgalera_smm.so\n\
         wsrep_cluster_name={cluster}\n\
         wsrep_sst_method=rsync\n\
         wsrep_sst_receive_address={ip}\n\
         wsrep_provider_options=\"gcache.size=16M;gmcast.listen_addr=tcp://{ip}:4567;\
         ist.recv_addr={ip}:4568{provider_extra}\"\n"
    )
}

/// `mariadb-install-db` for the datadir of `cnf`, as `mysql`, wsrep off (with wsrep on it
/// fails: docs/design.md §7); `extra` arguments appended. Panics with its stderr on failure.
pub fn install_db(cnf: &Path, extra: &[&str]) {
    super::run_ok(
        Command::new("mariadb-install-db")
            .arg(format!("--defaults-file={}", cnf.display()))
            .args(["--user=mysql", "--skip-test-db", "--wsrep-on=OFF"])
            .args(extra),
        "mariadb-install-db",
    );
}
