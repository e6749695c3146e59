//! Node names: an etcd key segment and a wsrep node name (the lowest layer: imports nothing
//! of the crate).

/// Node names become an etcd key segment and a wsrep node name.
pub fn validate_node_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 63
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "`{name}` is not a valid node name (letters, digits, - _ . only, 1-63 chars)"
        ));
    }
    Ok(())
}
