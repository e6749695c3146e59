//! A Galera position — the cluster state uuid and the last committed seqno — as recovered
//! from a datadir, published in etcd (`position/<name>`) and compared during recovery.

use std::fmt;
use std::str::FromStr;

/// The all-zero uuid of a datadir that never joined a cluster.
pub const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Where a datadir stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Position {
    /// Never part of a cluster (all-zero uuid): joins by SST, holds nothing to lose.
    Fresh,
    /// `uuid:seqno`, recovered. `seqno` may be -1 when the uuid is known but the seqno is not.
    Known { uuid: String, seqno: i64 },
    /// Recovery failed (e.g. prepared transactions): this node may hold the newest commits.
    Unknown,
}

impl Position {
    pub fn known(uuid: &str, seqno: i64) -> Self {
        Position::Known {
            uuid: uuid.to_string(),
            seqno,
        }
    }

    /// The uuid, when known.
    pub fn uuid(&self) -> Option<&str> {
        match self {
            Position::Known { uuid, .. } => Some(uuid),
            _ => None,
        }
    }

    /// The seqno, when known and not -1.
    pub fn seqno(&self) -> Option<i64> {
        match self {
            Position::Known { seqno, .. } if *seqno >= 0 => Some(*seqno),
            _ => None,
        }
    }

    /// The value for `--wsrep-start-position`, when there is a usable one.
    pub fn start_position(&self) -> Option<String> {
        match self {
            Position::Known { uuid, seqno } if *seqno >= 0 => Some(format!("{uuid}:{seqno}")),
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Fresh => write!(f, "{ZERO_UUID}:-1"),
            Position::Known { uuid, seqno } => write!(f, "{uuid}:{seqno}"),
            Position::Unknown => write!(f, "unknown"),
        }
    }
}

impl From<Position> for String {
    fn from(p: Position) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Position {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Is `s` a uuid in Galera's text form (8-4-4-4-12 hex digits)?
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl FromStr for Position {
    type Err = String;
    /// Parses `uuid:seqno` (as in `WSREP: Recovered position:` and `position/<name>`) or `unknown`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("unknown") {
            return Ok(Position::Unknown);
        }
        let (uuid, seqno) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}` is not <uuid>:<seqno> or `unknown`"))?;
        if !is_uuid(uuid) {
            return Err(format!("`{uuid}` is not a uuid"));
        }
        let seqno: i64 = seqno
            .parse()
            .map_err(|_| format!("`{seqno}` is not a seqno"))?;
        if seqno < -1 {
            return Err(format!("seqno {seqno} is below -1"));
        }
        let uuid = uuid.to_ascii_lowercase();
        if uuid == ZERO_UUID {
            return Ok(Position::Fresh);
        }
        Ok(Position::Known { uuid, seqno })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<Position, ()>)] = &[
            ("unknown", Ok(Position::Unknown)),
            (
                "00000000-0000-0000-0000-000000000000:-1",
                Ok(Position::Fresh),
            ),
            (&format!("{U}:42"), Ok(Position::known(U, 42))),
            (&format!("{U}:-1"), Ok(Position::known(U, -1))),
            (
                &format!("{}:7", U.to_uppercase()),
                Ok(Position::known(U, 7)),
            ),
            ("garbage", Err(())),
            (&format!("{U}:x"), Err(())),
            (&format!("{U}:-5"), Err(())),
            ("1234:5", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            let got = input.parse::<Position>().map_err(|_| ());
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for p in [Position::Fresh, Position::Unknown, Position::known(U, 9)] {
            assert_eq!(p.to_string().parse::<Position>(), Ok(p.clone()));
        }
    }

    #[test]
    fn start_position_only_when_seqno_known() {
        assert_eq!(
            Position::known(U, 5).start_position(),
            Some(format!("{U}:5"))
        );
        assert_eq!(Position::known(U, -1).start_position(), None);
        assert_eq!(Position::Fresh.start_position(), None);
        assert_eq!(Position::Unknown.start_position(), None);
    }
}
