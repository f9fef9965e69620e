//! Panther `p_any_*` indicator fields of an `Atlassian.Audit` event.
//!
//! Paths follow the schema (`attributes.actor.name`, `attributes.location.ip`, …), not
//! Panther's data model, which points at fields that do not exist.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use super::compact_json::push_json_string;
use super::json_view::{ActorView, AttributesView, ContextItemView, Field, LocationView};
use super::url_host::{url_host, UrlHost};

/// Indicator values, each de-duplicated and in first-seen order. Values are borrowed from the
/// event's text where it holds them as they are (no escape to undo): an event's indicators are
/// rendered into its line once, so copying each value first only cost allocations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Indicators<'a> {
    pub ip_addresses: UniqueList<'a>,
    pub domain_names: UniqueList<'a>,
    pub emails: UniqueList<'a>,
    pub usernames: UniqueList<'a>,
    pub actor_ids: UniqueList<'a>,
}

/// Distinct values in first-seen order. A few are compared one by one; beyond that they are
/// hashed: one event may carry a context array of many thousands of links, and a linear scan
/// per value made that quadratic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UniqueList<'a> {
    values: Vec<Cow<'a, str>>,
    /// Every value, once there are more than [`UniqueList::SCANNED`].
    seen: HashSet<Cow<'a, str>>,
}

impl<'a> UniqueList<'a> {
    const SCANNED: usize = 8;

    fn push(&mut self, value: Cow<'a, str>) {
        if self.values.len() < Self::SCANNED {
            if !self.values.contains(&value) {
                self.values.push(value);
            }
        } else {
            if self.seen.is_empty() {
                self.seen.extend(self.values.iter().cloned());
            }
            if !self.seen.contains(value.as_ref()) {
                self.seen.insert(value.clone());
                self.values.push(value);
            }
        }
    }

    pub fn values(&self) -> &[Cow<'a, str>] {
        &self.values
    }
}

impl<'a> Indicators<'a> {
    /// Collects the indicators of an event's `attributes`. Fields of unexpected JSON
    /// types contribute nothing.
    pub(super) fn from_attributes(attrs: &AttributesView<'a>) -> Self {
        let mut ind = Indicators::default();
        if let Some(actor) = attrs.actor.as_object::<ActorView>() {
            ind.add_actor(&actor);
            if let Some(principal) = actor.on_behalf_of.as_object::<ActorView>() {
                ind.add_actor(&principal);
            }
        }
        if let Some(ip) = attrs
            .location
            .as_object::<LocationView>()
            .and_then(|l| l.ip.as_str())
        {
            // Kept as received (not re-rendered) so it matches the field it came from.
            if ip.parse::<IpAddr>().is_ok() {
                ind.ip_addresses.push(ip);
            }
        }
        for item in attrs.context.as_array().unwrap_or_default() {
            let Some(item) = item.as_object::<ContextItemView>() else {
                continue;
            };
            for link in item.links.object_values().unwrap_or_default() {
                if let Some(url) = link.as_str() {
                    ind.add_url_host(url);
                }
            }
        }
        ind
    }

    fn add_actor(&mut self, actor: &ActorView<'a>) {
        if let Some(name) = non_blank(actor.name) {
            self.usernames.push(name);
        }
        if let Some(email) = non_blank(actor.email).filter(|e| is_email(e)) {
            self.emails.push(email);
        }
        if let Some(id) = non_blank(actor.id) {
            self.actor_ids.push(id);
        }
    }

    /// A URL indicator: its host goes to the IPs or to the domain names.
    fn add_url_host(&mut self, url: Cow<'a, str>) {
        let host = match url {
            Cow::Borrowed(url) => url_host(url),
            Cow::Owned(url) => url_host(&url).map(UrlHost::into_owned),
        };
        match host {
            Some(UrlHost::Ip(ip)) => self.ip_addresses.push(ip),
            Some(UrlHost::Domain(d)) => self.domain_names.push(d),
            None => {}
        }
    }

    /// Appends the non-empty arrays as `,"p_any_…":[…]` members.
    pub(super) fn write_json_members(&self, out: &mut String) {
        for (name, values) in [
            ("p_any_ip_addresses", &self.ip_addresses),
            ("p_any_domain_names", &self.domain_names),
            ("p_any_emails", &self.emails),
            ("p_any_usernames", &self.usernames),
            ("p_any_actor_ids", &self.actor_ids),
        ] {
            let values = values.values();
            if values.is_empty() {
                continue;
            }
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":[");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, v);
            }
            out.push(']');
        }
    }
}

fn non_blank(field: Field<'_>) -> Option<Cow<'_, str>> {
    field.as_str().filter(|s| !s.trim().is_empty())
}

/// A plausible e-mail address: exactly one '@', a non-empty local part, a domain with a
/// dot, no whitespace. Rejects the system actor's "email", "Atlassian Internal System".
pub fn is_email(s: &str) -> bool {
    if s.chars().any(char::is_whitespace) {
        return false;
    }
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => !local.is_empty() && domain.contains('.'),
        _ => false,
    }
}
