//! The byte layout of a subject's sealed fields as one blob:
//! `0x01 || count (u16 BE) || { name_len (u8) || name || ct_len (u32 BE) || ct }*`.
//! Field names are schema metadata and appear in clear; values only as ciphertexts.

use std::collections::BTreeMap;

use kura_store::StoreError;

const VERSION: u8 = 1;

/// Encodes sealed fields.
pub fn encode(fields: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        3 + fields
            .iter()
            .map(|(k, v)| 5 + k.len() + v.len())
            .sum::<usize>(),
    );
    out.push(VERSION);
    out.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (name, ct) in fields {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        out.extend_from_slice(ct);
    }
    out
}

/// Decodes sealed fields.
///
/// # Errors
/// [`StoreError::Corrupt`] when the blob does not follow the layout.
pub fn decode(blob: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let bad = || StoreError::Corrupt("sealed field blob is malformed".into());
    let mut rest = blob;
    let mut take = |n: usize| -> Result<&[u8], StoreError> {
        if rest.len() < n {
            return Err(bad());
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    if take(1)?[0] != VERSION {
        return Err(bad());
    }
    let count = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad())?);
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let len = take(1)?[0] as usize;
        let name = std::str::from_utf8(take(len)?)
            .map_err(|_| bad())?
            .to_owned();
        let ct_len = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        out.insert(name, take(ct_len)?.to_vec());
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let mut m = BTreeMap::new();
        m.insert("email".to_owned(), vec![1, 2, 3]);
        m.insert("name".to_owned(), vec![]);
        let b = encode(&m);
        assert_eq!(decode(&b).unwrap(), m);
        assert!(decode(&b[..b.len() - 1]).is_err());
        assert!(decode(&[2, 0, 0]).is_err());
        let mut extra = b.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
    }
}
