//! The certificates of `--galera-tls-dir`, checked before mariadbd is given them (pure).
//!
//! Galera verifies every peer's certificate against `ca.crt` (the nodes verify the chain and
//! the dates, as OpenSSL does). A node whose `tls.crt` has expired, is not valid yet, or was
//! not signed by a certificate of `ca.crt` cannot join: it would loop on "failed to reach
//! primary view" while its peers log handshake errors. [`check`] finds those problems first,
//! so the entrypoint refuses to start with the date or the issuer named (exit code 2), and the
//! running node refuses to reload such a renewal (`tls_reload.rs`) and keeps the certificates
//! it has. [`check`] is lenient where OpenSSL may be: a chain whose intermediates are in
//! `tls.crt` passes, and `ca.crt` may hold several CAs (a bundle, during a CA replacement,
//! docs/operations.md §16).

use std::time::{Duration, UNIX_EPOCH};

use x509_parser::pem::Pem;
use x509_parser::prelude::X509Certificate;

/// A renewal is due when the certificate in use expires within this long: the running node
/// warns, once an hour (cert-manager renews at two thirds of the lifetime; 14 days left means
/// the renewal did not happen or was not applied).
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// What the entrypoint needs to say about the certificate a node presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Hex serial number, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub subject: String,
    /// Unix seconds.
    pub not_after: i64,
}

impl Leaf {
    /// "serial 1001, valid until 2029-03-12T01:23:38Z".
    pub fn describe(&self) -> String {
        format!(
            "serial {}, valid until {}",
            self.serial,
            date(self.not_after)
        )
    }
}

/// A Unix time as an RFC 3339 date (UTC, seconds).
pub fn date(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A serial as `openssl x509 -serial` prints it: hex, upper case, without the leading zero
/// byte DER adds to a number whose high bit is set ("00:a2" is "A2").
fn serial_hex(raw: &str) -> String {
    let hex = raw.replace(':', "").to_uppercase();
    match hex.trim_start_matches("00") {
        "" => "0".to_string(),
        h => h.to_string(),
    }
}

/// Every certificate of a PEM file, in order; an error names the file and what is wrong.
fn certificates<'a>(name: &str, pems: &'a [Pem]) -> Result<Vec<X509Certificate<'a>>, String> {
    let mut out = Vec::new();
    for p in pems.iter().filter(|p| p.label == "CERTIFICATE") {
        let c = p
            .parse_x509()
            .map_err(|e| format!("{name} holds a certificate that cannot be parsed ({e})"))?;
        out.push(c);
    }
    if out.is_empty() {
        return Err(format!("{name} holds no CERTIFICATE block"));
    }
    Ok(out)
}

fn pem_blocks(name: &str, pem: &[u8]) -> Result<Vec<Pem>, String> {
    Pem::iter_from_buffer(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{name} is not a valid PEM file ({e})"))
}

/// Whether `signer` signed `c` (its key verifies `c`'s signature).
fn signed_by(c: &X509Certificate, signer: &X509Certificate) -> bool {
    c.issuer() == signer.subject() && c.verify_signature(Some(signer.public_key())).is_ok()
}

/// The first problem of `tls.crt` (`cert_pem`) and `ca.crt` (`ca_pem`) at Unix time `now`,
/// or the certificate the node would present. Each problem names the file, the date or the
/// issuer, and the fix.
pub fn check(now: i64, cert_pem: &[u8], ca_pem: &[u8]) -> Result<Leaf, String> {
    let cert_blocks = pem_blocks("tls.crt", cert_pem)?;
    let ca_blocks = pem_blocks("ca.crt", ca_pem)?;
    let chain = certificates("tls.crt", &cert_blocks)?;
    let cas = certificates("ca.crt", &ca_blocks)?;
    let renew = "renew it (docs/operations.md §16: scripts/make-galera-tls or cert-manager) and \
                 update the Secret";
    for (i, c) in chain.iter().enumerate() {
        let what = if i == 0 {
            "tls.crt".to_string()
        } else {
            format!("tls.crt's chain certificate {}", c.subject())
        };
        let v = c.validity();
        if now < v.not_before.timestamp() {
            return Err(format!(
                "{what} is not valid until {} (this host's clock says {}): peers would refuse \
                 it; check the clock, or wait",
                date(v.not_before.timestamp()),
                date(now)
            ));
        }
        if now > v.not_after.timestamp() {
            return Err(format!(
                "{what} expired on {}: peers would refuse it; {renew}",
                date(v.not_after.timestamp())
            ));
        }
    }
    // Walk up the chain tls.crt holds until a certificate of ca.crt signed it.
    let mut current = &chain[0];
    for _ in 0..chain.len() {
        if let Some(ca) = cas.iter().find(|ca| signed_by(current, ca)) {
            let v = ca.validity();
            if now > v.not_after.timestamp() || now < v.not_before.timestamp() {
                return Err(format!(
                    "the CA {} in ca.crt that signed tls.crt is valid only from {} to {}; \
                     replace the CA (docs/operations.md §16)",
                    ca.subject(),
                    date(v.not_before.timestamp()),
                    date(v.not_after.timestamp())
                ));
            }
            let leaf = &chain[0];
            return Ok(Leaf {
                serial: serial_hex(&leaf.raw_serial_as_string()),
                subject: leaf.subject().to_string(),
                not_after: leaf.validity().not_after.timestamp(),
            });
        }
        match chain[1..].iter().find(|up| signed_by(current, up)) {
            Some(up) => current = up,
            None => break,
        }
    }
    let subjects: Vec<String> = cas.iter().map(|c| c.subject().to_string()).collect();
    Err(format!(
        "tls.crt (issuer {}) is not signed by a CA in ca.crt ({}): the peers, which verify \
         against ca.crt, would refuse it; put the CA that issued it in ca.crt (during a CA \
         replacement, both CAs: docs/operations.md §16)",
        current.issuer(),
        subjects.join("; ")
    ))
}

/// The public key a private key PEM (`tls.key`) holds, in the form a certificate's
/// SubjectPublicKeyInfo carries it (RSA: the RSAPublicKey DER; EC: the point; Ed25519: 32
/// bytes); `Ok(None)` when this build cannot read that kind of key (e.g. SEC1 "EC PRIVATE
/// KEY", RSA below 2048 bits): it is then not checked.
fn public_key_of(key_pem: &[u8]) -> Result<Option<Vec<u8>>, String> {
    use ring::signature::{self, KeyPair};
    let blocks = pem_blocks("tls.key", key_pem)?;
    let Some(block) = blocks.iter().find(|p| p.label.ends_with("PRIVATE KEY")) else {
        return Err("tls.key holds no PRIVATE KEY block".into());
    };
    let der = block.contents.as_slice();
    match block.label.as_str() {
        "ENCRYPTED PRIVATE KEY" => Err("tls.key is encrypted with a passphrase, which the \
             entrypoint does not give mariadbd; use an unencrypted key (the Secret protects it)"
            .into()),
        "RSA PRIVATE KEY" => Ok(signature::RsaKeyPair::from_der(der)
            .ok()
            .map(|k| k.public_key().as_ref().to_vec())),
        "PRIVATE KEY" => {
            if let Ok(k) = signature::RsaKeyPair::from_pkcs8(der) {
                return Ok(Some(k.public_key().as_ref().to_vec()));
            }
            let rng = ring::rand::SystemRandom::new();
            for alg in [
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            ] {
                if let Ok(k) = signature::EcdsaKeyPair::from_pkcs8(alg, der, &rng) {
                    return Ok(Some(k.public_key().as_ref().to_vec()));
                }
            }
            Ok(signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .ok()
                .map(|k| k.public_key().as_ref().to_vec()))
        }
        _ => Ok(None),
    }
}

/// What is wrong with `tls.key` for the certificate `tls.crt` holds first (None: it is that
/// certificate's key, or a kind of key that cannot be checked here).
pub fn key_problem(cert_pem: &[u8], key_pem: &[u8]) -> Option<String> {
    let cert_blocks = match pem_blocks("tls.crt", cert_pem) {
        Ok(b) => b,
        Err(e) => return Some(e),
    };
    let leaf = match certificates("tls.crt", &cert_blocks) {
        Ok(c) => c.into_iter().next()?,
        Err(e) => return Some(e),
    };
    match public_key_of(key_pem) {
        Err(e) => Some(e),
        Ok(None) => None,
        Ok(Some(k)) if k == leaf.public_key().subject_public_key.data.as_ref() => None,
        Ok(Some(_)) => Some(format!(
            "tls.key is not the key of tls.crt (serial {}): the two come from different \
             issuances; put the certificate and the key of one issuance in the Secret",
            serial_hex(&leaf.raw_serial_as_string())
        )),
    }
}

/// [`check`], then [`key_problem`]: everything a node needs of its three files.
pub fn check_all(now: i64, cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<Leaf, String> {
    let leaf = check(now, cert_pem, ca_pem)?;
    match key_problem(cert_pem, key_pem) {
        Some(p) => Err(p),
        None => Ok(leaf),
    }
}

/// The warning to give while the certificate in use expires within [`EXPIRY_WARNING`].
pub fn expiry_warning(now: i64, leaf: &Leaf) -> Option<String> {
    let left = leaf.not_after - now;
    if left > EXPIRY_WARNING.as_secs() as i64 {
        return None;
    }
    let when = if left < 0 {
        format!("expired on {}", date(leaf.not_after))
    } else {
        format!("expires on {} (in {} h)", date(leaf.not_after), left / 3600)
    };
    Some(format!(
        "the Galera certificate in use ({}) {when}: a node that restarts or reconnects after \
         that is refused by its peers; renew the Secret (docs/operations.md §16)",
        leaf.serial
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA1: &[u8] = include_bytes!("testdata/ca1.crt");
    const CA2: &[u8] = include_bytes!("testdata/ca2.crt");
    /// Signed by CA1, serial 1001, 2026-12-08T01:23:38Z to 2029-03-12T01:23:38Z.
    const LEAF1: &[u8] = include_bytes!("testdata/leaf1.crt");
    /// Signed by an intermediate that CA1 signed; alone, without the intermediate.
    const LEAF_INTER: &[u8] = include_bytes!("testdata/leaf-inter.crt");
    /// The same leaf followed by its intermediate.
    const CHAIN: &[u8] = include_bytes!("testdata/chain.crt");
    const NOT_BEFORE: i64 = 1_796_693_018; // 2026-12-08T01:23:38Z
    const NOT_AFTER: i64 = 1_867_973_018; // 2029-03-12T01:23:38Z

    #[test]
    fn serials_are_printed_as_openssl_does() {
        for (raw, want) in [
            ("10:01", "1001"),
            ("00:a2", "A2"),
            ("00:00:b1", "B1"),
            ("2c:8e:f6", "2C8EF6"),
            ("00", "0"),
        ] {
            assert_eq!(serial_hex(raw), want, "{raw}");
        }
    }

    #[test]
    fn key_table() {
        let key = include_bytes!("testdata/leaf.key").as_slice();
        let key_pkcs1 = include_bytes!("testdata/leaf-pkcs1.key").as_slice();
        let ec_key = include_bytes!("testdata/ec.key").as_slice();
        let ec_leaf = include_bytes!("testdata/leaf-ec.crt").as_slice();
        let encrypted: &[u8] =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let sec1: &[u8] = b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        // (tls.crt, tls.key, None = fine / Some(words the problem names))
        type Case<'a> = (&'a [u8], &'a [u8], Option<&'a [&'a str]>);
        let cases: Vec<Case> = vec![
            (LEAF1, key, None),
            (LEAF1, key_pkcs1, None),
            // The chain's leaf was issued for the same key.
            (CHAIN, key, None),
            (ec_leaf, ec_key, None),
            (
                LEAF1,
                ec_key,
                Some(&["not the key of tls.crt (serial 1001)", "one issuance"]),
            ),
            (
                ec_leaf,
                key,
                Some(&["not the key of tls.crt (serial 1004)"]),
            ),
            (LEAF1, CA1, Some(&["tls.key holds no PRIVATE KEY"])),
            (LEAF1, encrypted, Some(&["encrypted with a passphrase"])),
            // A kind this build cannot read is not checked (mariadbd still is the judge).
            (LEAF1, sec1, None),
        ];
        for (i, (cert, key, want)) in cases.into_iter().enumerate() {
            let got = key_problem(cert, key);
            match (want, &got) {
                (None, None) => {}
                (Some(words), Some(p)) => {
                    for w in words {
                        assert!(p.contains(w), "case {i}: {w:?} not in {p}");
                    }
                }
                _ => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(
            check_all(NOT_BEFORE + 60, LEAF1, key, CA1).map(|l| l.serial),
            Ok("1001".to_string())
        );
        let p = check_all(NOT_BEFORE + 60, LEAF1, ec_key, CA1).expect_err("wrong key");
        assert!(p.contains("not the key"), "{p}");
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(date(NOT_BEFORE), "2026-12-08T01:23:38Z");
        assert_eq!(date(NOT_AFTER), "2029-03-12T01:23:38Z");
    }

    #[test]
    fn check_table() {
        let bundle = [CA2, CA1].concat();
        let garbage: &[u8] =
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
        let key_only: &[u8] = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        // (now, tls.crt, ca.crt, Ok(serial) or Err(words the problem names))
        type Case<'a> = (i64, &'a [u8], &'a [u8], Result<&'a str, &'a [&'a str]>);
        let cases: Vec<Case> = vec![
            (NOT_BEFORE + 60, LEAF1, CA1, Ok("1001")),
            (NOT_AFTER, LEAF1, CA1, Ok("1001")),
            // A bundle of the old and the new CA (a CA replacement), in either order.
            (NOT_BEFORE + 60, LEAF1, &bundle, Ok("1001")),
            // Intermediates in tls.crt, the root in ca.crt.
            (NOT_BEFORE + 60, CHAIN, CA1, Ok("1002")),
            (
                NOT_AFTER + 1,
                LEAF1,
                CA1,
                Err(&["tls.crt expired on 2029-03-12T01:23:38Z", "renew"]),
            ),
            (
                NOT_BEFORE - 3600,
                LEAF1,
                CA1,
                Err(&["not valid until 2026-12-08T01:23:38Z", "clock"]),
            ),
            (
                NOT_BEFORE + 60,
                LEAF1,
                CA2,
                Err(&["issuer CN=test CA one", "CN=test CA two", "both CAs"]),
            ),
            // The intermediate missing: nothing in ca.crt signed the leaf.
            (
                NOT_BEFORE + 60,
                LEAF_INTER,
                CA1,
                Err(&[
                    "issuer CN=test intermediate",
                    "not signed by a CA in ca.crt",
                ]),
            ),
            (
                NOT_BEFORE + 60,
                key_only,
                CA1,
                Err(&["tls.crt holds no CERTIFICATE"]),
            ),
            (
                NOT_BEFORE + 60,
                LEAF1,
                b"",
                Err(&["ca.crt holds no CERTIFICATE"]),
            ),
            (
                NOT_BEFORE + 60,
                garbage,
                CA1,
                Err(&["tls.crt", "cannot be parsed"]),
            ),
        ];
        for (i, (now, cert, ca, want)) in cases.into_iter().enumerate() {
            let got = check(now, cert, ca);
            match (want, &got) {
                (Ok(serial), Ok(leaf)) => {
                    assert_eq!(leaf.serial, serial, "case {i}");
                    assert_eq!(leaf.subject, "CN=galera", "case {i}");
                }
                (Err(words), Err(p)) => {
                    for w in words {
                        assert!(p.contains(w), "case {i}: {w:?} not in {p}");
                    }
                }
                _ => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_ca_past_its_dates_is_named() {
        // CA3 was valid for one day (to 2026-12-09T01:24:10Z); its leaf for 825 days.
        let (ca3, leaf3) = (
            include_bytes!("testdata/ca3.crt").as_slice(),
            include_bytes!("testdata/leaf3.crt").as_slice(),
        );
        let day = 24 * 3600;
        assert_eq!(
            check(NOT_BEFORE + 60, leaf3, ca3).map(|l| l.serial),
            Ok("1003".to_string())
        );
        let p = check(NOT_BEFORE + 2 * day, leaf3, ca3).expect_err("CA expired");
        assert!(
            p.contains("CA CN=test short CA") && p.contains("to 2026-12-09T01:24:10Z"),
            "{p}"
        );
    }

    #[test]
    fn expiry_warning_table() {
        let leaf = check(NOT_BEFORE + 60, LEAF1, CA1).expect("valid");
        let day = 24 * 3600;
        assert_eq!(expiry_warning(NOT_BEFORE, &leaf), None);
        assert_eq!(expiry_warning(NOT_AFTER - 15 * day, &leaf), None);
        let w = expiry_warning(NOT_AFTER - 14 * day, &leaf).expect("due");
        assert!(
            w.contains("expires on 2029-03-12T01:23:38Z (in 336 h)"),
            "{w}"
        );
        assert!(w.contains("1001") && w.contains("renew"), "{w}");
        let w = expiry_warning(NOT_AFTER + 1, &leaf).expect("due");
        assert_eq!(
            leaf.describe(),
            "serial 1001, valid until 2029-03-12T01:23:38Z"
        );
        assert!(w.contains("expired on 2029-03-12T01:23:38Z"), "{w}");
    }
}
