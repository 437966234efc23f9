//! Byte sizes on the command line: `64MiB`, `1KiB`, `512B` or plain bytes
//! (`67108864`), shown in `--help` the way README writes them.
//!
//! Binary units only (KiB, MiB, GiB: powers of 1024), since every bound they
//! set is a buffer; `K`, `M`, `G` and `KB`… are read as the same, because that
//! is what people type, and case does not matter. Shown in the largest unit
//! that divides the value exactly, so what `--help` shows parses back to it.

use std::fmt;
use std::str::FromStr;

/// A number of bytes, at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

impl Bytes {
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, size) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{name}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for Bytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Bytes, String> {
        let s = s.trim();
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(digits);
        let bad = || format!("{s:?} is not a size: give bytes (4096) or KiB, MiB, GiB (64MiB)");
        let number: u64 = number.parse().map_err(|_| bad())?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(bad()),
        };
        let bytes = number
            .checked_mul(scale)
            .ok_or_else(|| format!("{s:?} is too large"))?;
        if bytes == 0 {
            return Err("a size of 0 bytes leaves no room: give at least 1".into());
        }
        Ok(Bytes(bytes))
    }
}

/// clap's value parser for every byte-size flag.
pub fn parse(s: &str) -> Result<Bytes, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_bytes_parse() {
        let p = |s: &str| s.parse::<Bytes>().map(|b| b.0);
        assert_eq!(p("64MiB"), Ok(64 << 20));
        assert_eq!(p("1KiB"), Ok(1024));
        assert_eq!(p("1kib"), Ok(1024));
        assert_eq!(p("2G"), Ok(2 << 30));
        assert_eq!(p("16 MB"), Ok(16 << 20));
        assert_eq!(p("512B"), Ok(512));
        assert_eq!(p("67108864"), Ok(64 << 20));
        for bad in [
            "",
            "MiB",
            "0",
            "0KiB",
            "1.5MiB",
            "-1",
            "3TiB",
            "99999999999999GiB",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shown_in_the_largest_exact_unit_and_parsed_back() {
        for (bytes, shown) in [
            (64 << 20, "64MiB"),
            (1 << 20, "1MiB"),
            (1536, "1536"),
            (3 << 10, "3KiB"),
            (1 << 30, "1GiB"),
            (1000, "1000"),
        ] {
            assert_eq!(Bytes(bytes).to_string(), shown);
            assert_eq!(shown.parse::<Bytes>(), Ok(Bytes(bytes)));
        }
    }
}
