//! The wsrep provider options (pure): `pc.recovery=false` merged into the configured ones,
//! and the configured ones read from `mariadbd --verbose --help`.

/// Add `pc.recovery=false` to the configured provider options unless they set it: a
/// command-line option replaces the my.cnf value whole, so the configured ones are kept.
pub fn merge_provider_options(configured: Option<&str>) -> String {
    let configured = configured.unwrap_or("").trim().trim_matches('"').trim();
    let has = configured
        .split(';')
        .any(|o| o.split('=').next().map(str::trim) == Some("pc.recovery"));
    match (configured.is_empty(), has) {
        (true, _) => "pc.recovery=false".into(),
        (false, true) => configured.into(),
        (false, false) => format!("{};pc.recovery=false", configured.trim_end_matches(';')),
    }
}

/// Parse `wsrep-provider-options  <value>` out of `mariadbd --verbose --help`.
pub fn provider_options_from_help(help: &str) -> Option<String> {
    help.lines().find_map(|l| {
        let rest = l.strip_prefix("wsrep-provider-options")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let v = rest.trim();
        (!v.is_empty() && v != "(No default value)").then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_options_merge_table() {
        let cases = [
            (None, "pc.recovery=false"),
            (Some(""), "pc.recovery=false"),
            (Some("gcache.size=16M"), "gcache.size=16M;pc.recovery=false"),
            (
                Some("\"gcache.size=16M;\""),
                "gcache.size=16M;pc.recovery=false",
            ),
            (
                Some("gcache.size=16M; pc.recovery = true"),
                "gcache.size=16M; pc.recovery = true",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(merge_provider_options(input), want, "{input:?}");
        }
    }

    #[test]
    fn provider_options_from_verbose_help() {
        let help = "wsrep-provider  /usr/lib/galera/libgalera_smm.so\n\
                    wsrep-provider-options                                       gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567\n\
                    wsrep-recover  FALSE\n";
        assert_eq!(
            provider_options_from_help(help).as_deref(),
            Some("gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567")
        );
        assert_eq!(
            provider_options_from_help("wsrep-provider-options (No default value)\n"),
            None
        );
    }
}
