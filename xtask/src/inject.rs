//! `--inject PD:KIND@TIME`.

use std::time::Duration;

use microkit::InjectKind;

/// One fault to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    pub pd: String,
    pub kind: InjectKind,
    /// After boot.
    pub at: Duration,
}

impl Injection {
    pub fn parse(s: &str) -> Result<Injection, String> {
        let (pd, rest) =
            s.split_once(':').ok_or_else(|| format!("{s:?}: expected PD:KIND@TIME, e.g. counter:crash@1s"))?;
        let (kind, at) = rest.split_once('@').ok_or_else(|| format!("{s:?}: missing @TIME, e.g. counter:crash@1s"))?;
        if pd.is_empty() {
            return Err(format!("{s:?}: missing the PD name"));
        }
        let kind = kind.parse::<InjectKind>().map_err(|e| format!("{s:?}: {e}"))?;
        let at = humantime::parse_duration(at).map_err(|e| format!("{s:?}: bad time {at:?}: {e}"))?;
        Ok(Injection { pd: pd.to_string(), kind, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pd_kind_and_time() {
        let i = Injection::parse("counter:crash@1500ms").unwrap();
        assert_eq!(i, Injection { pd: "counter".into(), kind: InjectKind::Crash, at: Duration::from_millis(1500) });
        assert_eq!(Injection::parse("a:hang@2s").unwrap().kind, InjectKind::Hang);
    }

    #[test]
    fn rejects_malformed_injections() {
        assert!(Injection::parse("counter").is_err());
        assert!(Injection::parse("counter:crash").is_err());
        assert!(Injection::parse(":crash@1s").is_err());
        assert!(Injection::parse("counter:boom@1s").unwrap_err().contains("crash, panic, hang, exit"));
        assert!(Injection::parse("counter:crash@soon").is_err());
    }
}
