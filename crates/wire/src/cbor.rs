//! The little CBOR that Fogbank writes today: a map of text strings, for rpc-v2-cbor errors.

fn head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend([m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((len as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(len.to_be_bytes());
        }
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes `{k: v, ...}` with text keys and values.
pub fn write_text_map(out: &mut Vec<u8>, entries: &[(&str, &str)]) {
    head(out, 5, entries.len() as u64);
    for (k, v) in entries {
        text(out, k);
        text(out, v);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_a_small_map() {
        let mut out = Vec::new();
        super::write_text_map(&mut out, &[("a", "b")]);
        assert_eq!(out, vec![0xa1, 0x61, b'a', 0x61, b'b']);
    }
}
