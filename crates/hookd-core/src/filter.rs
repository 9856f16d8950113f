//! Which endpoints a message goes to: the `eventTypes` and `channels` filters.
//!
//! An endpoint with no event-type filter takes every event type; one with a filter takes
//! only the listed names. Channels work the same way, with one twist taken from Svix: an
//! endpoint that lists channels receives only messages that carry at least one of them.

/// Whether an endpoint with these filters should receive a message of `event_type` sent
/// on `channels`.
pub fn endpoint_accepts(
    endpoint_event_types: Option<&[String]>,
    endpoint_channels: Option<&[String]>,
    event_type: &str,
    channels: &[String],
) -> bool {
    let type_ok = match endpoint_event_types {
        None => true,
        Some([]) => true,
        Some(types) => types.iter().any(|t| t == event_type),
    };
    let channel_ok = match endpoint_channels {
        None => true,
        Some([]) => true,
        Some(wanted) => channels.iter().any(|c| wanted.contains(c)),
    };
    type_ok && channel_ok
}

#[cfg(test)]
mod tests {
    use super::endpoint_accepts;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters() {
        let types = strings(&["user.created"]);
        let chans = strings(&["eu"]);
        type Case<'a> = (
            Option<&'a [String]>,
            Option<&'a [String]>,
            &'a str,
            &'a [&'a str],
            bool,
        );
        let cases: &[Case] = &[
            (None, None, "anything", &[], true),
            (Some(&types), None, "user.created", &[], true),
            (Some(&types), None, "user.deleted", &[], false),
            (None, Some(&chans), "x", &["eu"], true),
            (None, Some(&chans), "x", &["us"], false),
            (None, Some(&chans), "x", &[], false),
            (
                Some(&types),
                Some(&chans),
                "user.created",
                &["us", "eu"],
                true,
            ),
        ];
        for (types, chans, event_type, msg_chans, expected) in cases {
            let got = endpoint_accepts(*types, *chans, event_type, &strings(msg_chans));
            assert_eq!(
                got, *expected,
                "{types:?} {chans:?} {event_type} {msg_chans:?}"
            );
        }
    }
}
