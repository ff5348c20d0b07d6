//! The cursor of the paged findings list: `KIND:KEY`, naming the last finding of the
//! previous page.

use std::fmt;

use super::model::FindingKind;
use super::rules::rule_of;

/// A position in the findings list. Only a well-formed one can be built: a cursor
/// that is not one this list gave out would otherwise page silently from wherever
/// its text happens to sort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingCursor {
    pub kind: FindingKind,
    /// The finding's key: one id, or for some kinds several joined by `:`, each in
    /// canonical UUID form, as the rules' `sort_key` is compared.
    pub key: String,
}

/// The cursor was not one this list gave out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a next_cursor of this list (KIND:KEY)")]
pub struct InvalidCursor;

impl FindingCursor {
    pub fn parse(text: &str) -> Result<Self, InvalidCursor> {
        let (kind, key) = text.split_once(':').ok_or(InvalidCursor)?;
        let kind: FindingKind = kind.parse().map_err(|_| InvalidCursor)?;
        let ids = key
            .split(':')
            .map(|id| uuid::Uuid::try_parse(id).map(|id| id.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| InvalidCursor)?;
        if ids.len() != rule_of(kind).key_ids() {
            return Err(InvalidCursor);
        }
        Ok(Self {
            kind,
            key: ids.join(":"),
        })
    }
}

impl fmt::Display for FindingCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01890a5d-ac96-774b-bcce-b302099a8057";
    const OTHER: &str = "01890a5d-ac96-774b-bcce-b302099a8058";

    #[test]
    fn a_cursor_the_list_gave_out_parses_back_to_itself() {
        for text in [
            format!("orphaned_agent:{ID}"),
            format!("no_expiry:{ID}"),
            format!("collateral:{ID}:{OTHER}"),
        ] {
            assert_eq!(FindingCursor::parse(&text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn ids_are_read_in_their_canonical_form() {
        let upper = format!("job_dead:{}", ID.to_uppercase());
        assert_eq!(FindingCursor::parse(&upper).unwrap().key, ID);
    }

    #[test]
    fn anything_else_is_invalid() {
        for text in [
            String::new(),
            "not-a-cursor".into(),
            format!("banana:{ID}"),
            "orphaned_agent:123".into(),
            "orphaned_agent:".into(),
            format!("orphaned_agent:{ID}:{OTHER}"),
            format!("collateral:{ID}"),
            format!("collateral:{ID}:"),
            format!(":{ID}"),
        ] {
            assert_eq!(FindingCursor::parse(&text), Err(InvalidCursor), "{text}");
        }
    }
}
