//! `grastate.dat` and `mariadbd --wsrep-recover` output → the local [`Position`] (pure).
//!
//! Editing grastate.dat (`safe_to_bootstrap: 1`) keeps every other line byte for byte: a file
//! truncated to that one line loses the node's uuid and seqno (docs/design.md §9).

use crate::position::{is_uuid, Position, ZERO_UUID};

/// The fields of grastate.dat the sidecar uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraState {
    pub uuid: String,
    pub seqno: i64,
    pub safe_to_bootstrap: bool,
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// Parse grastate.dat. A file without a valid uuid or seqno is an error naming the problem.
pub fn parse_grastate(text: &str) -> Result<GraState, String> {
    let uuid = field(text, "uuid").ok_or("grastate.dat has no `uuid:` line")?;
    if !is_uuid(uuid) {
        return Err(format!("grastate.dat uuid `{uuid}` is not a uuid"));
    }
    let seqno = field(text, "seqno").ok_or("grastate.dat has no `seqno:` line")?;
    let seqno: i64 = seqno
        .parse()
        .map_err(|_| format!("grastate.dat seqno `{seqno}` is not a number"))?;
    if seqno < -1 {
        return Err(format!("grastate.dat seqno {seqno} is below -1"));
    }
    let safe = field(text, "safe_to_bootstrap")
        .map(|v| v == "1")
        .unwrap_or(false);
    Ok(GraState {
        uuid: uuid.to_ascii_lowercase(),
        seqno,
        safe_to_bootstrap: safe,
    })
}

/// Set `safe_to_bootstrap` to `value`, keeping every other byte of the file. A file without
/// the line gets it appended.
pub fn with_safe_to_bootstrap(text: &str, value: bool) -> String {
    let v = if value { "1" } else { "0" };
    let mut out = String::with_capacity(text.len() + 24);
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        match body.split_once(':') {
            Some((k, _)) if k.trim() == "safe_to_bootstrap" && !found => {
                found = true;
                out.push_str(&format!("{k}: {v}{ending}"));
            }
            _ => out.push_str(line),
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("safe_to_bootstrap: {v}\n"));
    }
    out
}

/// What `mariadbd --wsrep-recover` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoverOutput {
    /// `WSREP: Recovered position: <uuid>:<seqno>`.
    Recovered(Position),
    /// InnoDB found prepared transactions it could not resolve: the position is unknown.
    PreparedTransactions(String),
    /// No position line (the server failed for another reason).
    NoPosition,
}

/// Parse the output of `mariadbd --wsrep-recover --disable-log-error` (its stderr).
pub fn parse_recover_output(output: &str) -> RecoverOutput {
    let mut found = None;
    for line in output.lines() {
        if let Some(rest) = line.split("WSREP: Recovered position:").nth(1) {
            if let Ok(p) = rest.trim().parse::<Position>() {
                found = Some(p);
            }
        }
    }
    if let Some(p) = found {
        return RecoverOutput::Recovered(p);
    }
    if let Some(line) = output.lines().find(|l| {
        l.contains("prepared transaction") || l.contains("Found ") && l.contains("prepared")
    }) {
        return RecoverOutput::PreparedTransactions(line.trim().to_string());
    }
    RecoverOutput::NoPosition
}

/// Combine `--wsrep-recover` and grastate.dat into the node's position (docs/design.md §3.2):
/// the recovered position when it has a seqno; else grastate.dat when its seqno ≥ 0;
/// a never-clustered datadir is fresh; anything else is unknown.
pub fn local_position(recovered: &RecoverOutput, grastate: Option<&GraState>) -> Position {
    let from_grastate = grastate
        .filter(|g| g.seqno >= 0 && g.uuid != ZERO_UUID)
        .map(|g| Position::known(&g.uuid, g.seqno));
    match recovered {
        RecoverOutput::Recovered(p @ Position::Known { seqno, .. }) if *seqno >= 0 => p.clone(),
        RecoverOutput::Recovered(Position::Fresh) => match grastate {
            Some(g) if g.uuid != ZERO_UUID => from_grastate.unwrap_or(Position::Unknown),
            _ => Position::Fresh,
        },
        _ => from_grastate.unwrap_or(Position::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";

    fn gra(seqno: i64, safe: u8) -> String {
        format!(
            "# GALERA saved state\nversion: 2.1\nuuid:    {U}\nseqno:   {seqno}\nsafe_to_bootstrap: {safe}\n"
        )
    }

    #[test]
    fn parse_grastate_table() {
        assert_eq!(
            parse_grastate(&gra(42, 1)),
            Ok(GraState {
                uuid: U.into(),
                seqno: 42,
                safe_to_bootstrap: true
            })
        );
        assert_eq!(parse_grastate(&gra(-1, 0)).map(|g| g.seqno), Ok(-1));
        for bad in [
            "",
            "# GALERA saved state\nversion: 2.1\n",
            "uuid: nonsense\nseqno: 1\n",
            &format!("uuid: {U}\nseqno: many\n"),
            &format!("uuid: {U}\n"),
            "\u{0}\u{1}binary",
        ] {
            assert!(parse_grastate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn safe_to_bootstrap_keeps_every_other_byte() {
        let original = gra(-1, 0).replace("version: 2.1\n", "version: 2.1\r\n# a comment: kept\n");
        let edited = with_safe_to_bootstrap(&original, true);
        assert_eq!(
            edited,
            original.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
        );
        assert_eq!(with_safe_to_bootstrap(&edited, false), original);
        // Missing line → appended; missing final newline handled.
        let no_line = format!("uuid: {U}\nseqno: 5");
        assert_eq!(
            with_safe_to_bootstrap(&no_line, true),
            format!("uuid: {U}\nseqno: 5\nsafe_to_bootstrap: 1\n")
        );
    }

    #[test]
    fn recover_output_table() {
        let ok = format!("2024-01-01 0 [Note] WSREP: Recovered position: {U}:17\n");
        assert_eq!(
            parse_recover_output(&ok),
            RecoverOutput::Recovered(Position::known(U, 17))
        );
        let fresh = "[Note] WSREP: Recovered position: 00000000-0000-0000-0000-000000000000:-1";
        assert_eq!(
            parse_recover_output(fresh),
            RecoverOutput::Recovered(Position::Fresh)
        );
        let prepared = "[ERROR] Found 2 prepared transactions! It means that server was not shut down properly last time";
        assert!(matches!(
            parse_recover_output(prepared),
            RecoverOutput::PreparedTransactions(_)
        ));
        assert_eq!(
            parse_recover_output("[ERROR] Aborting"),
            RecoverOutput::NoPosition
        );
    }

    #[test]
    fn local_position_table() {
        let g = |seqno| GraState {
            uuid: U.into(),
            seqno,
            safe_to_bootstrap: false,
        };
        let zero = GraState {
            uuid: ZERO_UUID.into(),
            seqno: -1,
            safe_to_bootstrap: false,
        };
        let cases: Vec<(RecoverOutput, Option<GraState>, Position)> = vec![
            (
                RecoverOutput::Recovered(Position::known(U, 9)),
                Some(g(-1)),
                Position::known(U, 9),
            ),
            (
                RecoverOutput::Recovered(Position::known(U, 9)),
                Some(g(5)),
                Position::known(U, 9),
            ),
            (
                RecoverOutput::Recovered(Position::Fresh),
                None,
                Position::Fresh,
            ),
            (
                RecoverOutput::Recovered(Position::Fresh),
                Some(zero.clone()),
                Position::Fresh,
            ),
            (
                RecoverOutput::Recovered(Position::Fresh),
                Some(g(4)),
                Position::known(U, 4),
            ),
            (
                RecoverOutput::Recovered(Position::Fresh),
                Some(g(-1)),
                Position::Unknown,
            ),
            (
                RecoverOutput::Recovered(Position::known(U, -1)),
                Some(g(3)),
                Position::known(U, 3),
            ),
            (
                RecoverOutput::Recovered(Position::known(U, -1)),
                Some(g(-1)),
                Position::Unknown,
            ),
            (
                RecoverOutput::PreparedTransactions("x".into()),
                Some(g(-1)),
                Position::Unknown,
            ),
            (
                RecoverOutput::PreparedTransactions("x".into()),
                Some(g(8)),
                Position::known(U, 8),
            ),
            (RecoverOutput::NoPosition, None, Position::Unknown),
            (RecoverOutput::NoPosition, Some(zero), Position::Unknown),
        ];
        for (rec, gs, want) in cases {
            assert_eq!(local_position(&rec, gs.as_ref()), want, "{rec:?} {gs:?}");
        }
    }
}
