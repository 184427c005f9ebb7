//! Which channels a user wants for each kind of notification.
//!
//! Stored and exchanged as JSON, one entry per kind:
//!
//! ```json
//! { "outbid": {"email": true, "live": true}, "saved_search_match": {"email": false, "live": true}, … }
//! ```
//!
//! The inbox is not a switch. It is the record of what the platform told the user (a won
//! auction, a forfeited deposit), so it can't be turned off: `"inbox": true` is accepted and
//! ignored, and `"inbox": false` is rejected. Nothing else can remove a notification from
//! the inbox either. Kinds missing from the input keep their current setting, so a client
//! can send just the kinds it changes. The defaults turn every channel on for every kind.

use crate::kinds::{Channel, NotificationKind, UnknownKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The switches of one kind. The inbox has none: it is always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChannelSwitches {
    pub email: bool,
    pub live: bool,
}

impl Default for ChannelSwitches {
    fn default() -> Self {
        Self { email: true, live: true }
    }
}

/// A user's notification preferences. Always holds every kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    switches: BTreeMap<NotificationKind, ChannelSwitches>,
}

/// Why a preferences document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferencesError {
    #[error(transparent)]
    UnknownKind(#[from] UnknownKind),
    #[error("the inbox can't be turned off (kind {kind}): it keeps the record of what the platform told you")]
    InboxAlwaysOn { kind: NotificationKind },
}

impl Default for Preferences {
    fn default() -> Self {
        Self { switches: NotificationKind::ALL.into_iter().map(|kind| (kind, ChannelSwitches::default())).collect() }
    }
}

impl Preferences {
    /// Whether a notification of `kind` goes out on `channel`.
    pub fn allows(&self, kind: NotificationKind, channel: Channel) -> bool {
        let switches = self.switches(kind);
        match channel {
            Channel::Email => switches.email,
            Channel::Live => switches.live,
            Channel::Inbox => true,
        }
    }

    /// The channels a notification of `kind` goes out on, inbox included.
    pub fn channels_for(&self, kind: NotificationKind) -> Vec<Channel> {
        Channel::ALL.into_iter().filter(|&channel| self.allows(kind, channel)).collect()
    }

    pub fn switches(&self, kind: NotificationKind) -> ChannelSwitches {
        // Every kind is present by construction; the default only covers a kind added to the enum
        // after a value was built, which can't happen within one process.
        self.switches.get(&kind).copied().unwrap_or_default()
    }

    /// Turns one channel on or off. Turning the inbox off is refused.
    pub fn set(&mut self, kind: NotificationKind, channel: Channel, on: bool) -> Result<(), PreferencesError> {
        let switches = self.switches.entry(kind).or_default();
        match channel {
            Channel::Email => switches.email = on,
            Channel::Live => switches.live = on,
            Channel::Inbox if on => {}
            Channel::Inbox => return Err(PreferencesError::InboxAlwaysOn { kind }),
        }
        Ok(())
    }

    /// Applies a (possibly partial) document on top of these preferences. Nothing changes when it
    /// is refused.
    pub fn apply(&mut self, input: PreferencesInput) -> Result<(), PreferencesError> {
        let mut updated = self.clone();
        for (name, change) in input.0 {
            let kind: NotificationKind = name.parse()?;
            if change.inbox == Some(false) {
                return Err(PreferencesError::InboxAlwaysOn { kind });
            }
            let switches = updated.switches.entry(kind).or_default();
            if let Some(email) = change.email {
                switches.email = email;
            }
            if let Some(live) = change.live {
                switches.live = live;
            }
        }
        *self = updated;
        Ok(())
    }
}

/// A preferences document as a client sends it: kind names are still strings so an unknown one
/// becomes a [`PreferencesError::UnknownKind`] naming the valid kinds, not a bare serde message.
/// Deserialize this in an API handler to answer with the typed error; deserializing
/// [`Preferences`] directly runs the same checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PreferencesInput(pub BTreeMap<String, ChannelSwitchesInput>);

/// One kind's switches in a document; an absent switch keeps its current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitchesInput {
    #[serde(default)]
    pub email: Option<bool>,
    #[serde(default)]
    pub live: Option<bool>,
    #[serde(default)]
    pub inbox: Option<bool>,
}

impl TryFrom<PreferencesInput> for Preferences {
    type Error = PreferencesError;

    fn try_from(input: PreferencesInput) -> Result<Self, Self::Error> {
        let mut preferences = Preferences::default();
        preferences.apply(input)?;
        Ok(preferences)
    }
}

impl Serialize for Preferences {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.switches.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Preferences {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = PreferencesInput::deserialize(deserializer)?;
        Preferences::try_from(input).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn by_default_every_channel_is_on_for_every_kind() {
        let preferences = Preferences::default();
        for kind in NotificationKind::ALL {
            for channel in Channel::ALL {
                assert!(preferences.allows(kind, channel), "{kind} on {channel}");
            }
        }
    }

    #[test]
    fn preferences_serialize_as_one_entry_per_kind_with_email_and_live() {
        let mut preferences = Preferences::default();
        preferences.set(NotificationKind::SavedSearchMatch, Channel::Email, false).unwrap();
        let value = serde_json::to_value(&preferences).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), NotificationKind::ALL.len());
        assert_eq!(value["outbid"], json!({"email": true, "live": true}));
        assert_eq!(value["saved_search_match"], json!({"email": false, "live": true}));
    }

    #[test]
    fn preferences_survive_a_json_round_trip() {
        let mut preferences = Preferences::default();
        preferences.set(NotificationKind::Outbid, Channel::Live, false).unwrap();
        preferences.set(NotificationKind::SavedSearchDigest, Channel::Email, false).unwrap();
        let text = serde_json::to_string(&preferences).unwrap();
        let back: Preferences = serde_json::from_str(&text).unwrap();
        assert_eq!(back, preferences);
        assert!(!back.allows(NotificationKind::Outbid, Channel::Live));
        assert!(back.allows(NotificationKind::Outbid, Channel::Email));
    }

    #[test]
    fn a_partial_document_changes_only_what_it_names() {
        let preferences: Preferences = serde_json::from_value(json!({"auction_won": {"email": false}})).unwrap();
        assert!(!preferences.allows(NotificationKind::AuctionWon, Channel::Email));
        assert!(preferences.allows(NotificationKind::AuctionWon, Channel::Live));
        assert!(preferences.allows(NotificationKind::Outbid, Channel::Email));
    }

    #[test]
    fn an_unknown_kind_is_rejected_with_the_list_of_valid_kinds() {
        let err = serde_json::from_value::<Preferences>(json!({"outbidd": {"email": false}})).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown notification kind \"outbidd\""), "{message}");
        assert!(message.contains("outbid, auction_starting, auction_ending_soon"), "{message}");

        let input: PreferencesInput = serde_json::from_value(json!({"outbidd": {}})).unwrap();
        assert!(
            matches!(Preferences::try_from(input), Err(PreferencesError::UnknownKind(UnknownKind { given })) if given == "outbidd")
        );
    }

    #[test]
    fn an_unknown_channel_is_rejected() {
        let err = serde_json::from_value::<Preferences>(json!({"outbid": {"sms": true}})).unwrap_err();
        assert!(err.to_string().contains("unknown field `sms`"), "{err}");
    }

    #[test]
    fn the_inbox_cannot_be_turned_off() {
        let mut preferences = Preferences::default();
        assert_eq!(
            preferences.set(NotificationKind::AuctionWon, Channel::Inbox, false),
            Err(PreferencesError::InboxAlwaysOn { kind: NotificationKind::AuctionWon })
        );
        assert!(preferences.allows(NotificationKind::AuctionWon, Channel::Inbox));

        let err = serde_json::from_value::<Preferences>(json!({"deposit_forfeited": {"inbox": false}})).unwrap_err();
        assert!(err.to_string().contains("inbox can't be turned off"), "{err}");
    }

    #[test]
    fn turning_every_switch_off_still_leaves_the_inbox() {
        let mut preferences = Preferences::default();
        preferences.set(NotificationKind::Outbid, Channel::Email, false).unwrap();
        preferences.set(NotificationKind::Outbid, Channel::Live, false).unwrap();
        assert_eq!(preferences.channels_for(NotificationKind::Outbid), vec![Channel::Inbox]);
    }

    #[test]
    fn a_refused_document_changes_nothing() {
        let mut preferences = Preferences::default();
        let input: PreferencesInput =
            serde_json::from_value(json!({"auction_won": {"email": false}, "nonsense": {"email": false}})).unwrap();
        assert!(preferences.apply(input).is_err());
        assert_eq!(preferences, Preferences::default());
    }
}
