//! Rate limit settings: `issue_rate` of `[[services]]` and `[[clients]]`, `failed_auth_limit`
//! of `[public]` and `[admin]` (see [`crate::limit`]).

use std::fmt;
use std::num::NonZeroU32;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Config, ConfigError};
use crate::limit::IssueLimits;
use crate::limit::Rate;

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

/// The failed-authentication limit of each listener unless configured: 30 per minute per client
/// address, 10 at once (`{ per_minute = 30, burst = 10 }`).
pub const DEFAULT_FAILED_AUTH_LIMIT: Rate = Rate::per_minute(nonzero(30)).with_burst(nonzero(10));

/// A rate: exactly one of `per_second`, `per_minute`, `per_hour`, and optionally `burst` (how
/// many at once; default: the count). `{ per_second = 10, burst = 20 }` allows 20 at once, then
/// one every 100 ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// So many per second.
    #[serde(default)]
    pub per_second: Option<u32>,
    /// So many per minute.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// So many per hour.
    #[serde(default)]
    pub per_hour: Option<u32>,
    /// How many may come at once (default: the count).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateConfig {
    /// The rate; `key` (such as `services[0].issue_rate`) names it in errors.
    pub fn to_rate(&self, key: &str) -> Result<Rate, ConfigError> {
        let positive = |value: u32, name: &str| {
            NonZeroU32::new(value)
                .ok_or_else(|| ConfigError::at(format!("{key}.{name}"), "must be at least 1"))
        };
        let rate = match (self.per_second, self.per_minute, self.per_hour) {
            (Some(n), None, None) => Rate::per_second(positive(n, "per_second")?),
            (None, Some(n), None) => Rate::per_minute(positive(n, "per_minute")?),
            (None, None, Some(n)) => Rate::per_hour(positive(n, "per_hour")?),
            _ => {
                return Err(ConfigError::at(
                    key,
                    "give exactly one of per_second, per_minute and per_hour",
                ))
            }
        };
        Ok(match self.burst {
            Some(burst) => rate.with_burst(positive(burst, "burst")?),
            None => rate,
        })
    }
}

/// A limit that may be switched off: `false` (off), `true` (the default rate, where there is
/// one) or a [`RateConfig`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSetting {
    /// `false`: no limit.
    Off,
    /// `true`: the default rate.
    Default,
    /// A rate table.
    Rate(RateConfig),
}

impl LimitSetting {
    /// The rate in force, `None` when off; `default` is what `true` means (an error naming
    /// `key` when there is none).
    pub fn rate(&self, default: Option<Rate>, key: &str) -> Result<Option<Rate>, ConfigError> {
        match self {
            LimitSetting::Off => Ok(None),
            LimitSetting::Default => default.map(Some).ok_or_else(|| {
                ConfigError::at(
                    key,
                    "has no default: give a rate such as { per_second = 10, burst = 20 }, or false",
                )
            }),
            LimitSetting::Rate(rate) => rate.to_rate(key).map(Some),
        }
    }
}

/// Written as it is read: `false`, `true` or the rate table.
impl Serialize for LimitSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LimitSetting::Off => serializer.serialize_bool(false),
            LimitSetting::Default => serializer.serialize_bool(true),
            LimitSetting::Rate(rate) => rate.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LimitSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Setting;

        impl<'de> Visitor<'de> for Setting {
            type Value = LimitSetting;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("false, true, or a rate such as { per_minute = 30, burst = 10 }")
            }

            fn visit_bool<E: de::Error>(self, on: bool) -> Result<LimitSetting, E> {
                Ok(if on {
                    LimitSetting::Default
                } else {
                    LimitSetting::Off
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<LimitSetting, M::Error> {
                RateConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(LimitSetting::Rate)
            }
        }

        deserializer.deserialize_any(Setting)
    }
}

impl Config {
    /// The issuance limits the services' and clients' `issue_rate` settings make.
    pub fn issue_limits(&self) -> Result<IssueLimits, ConfigError> {
        let mut limits = IssueLimits::new();
        for (i, service) in self.services.iter().enumerate() {
            let key = format!("services[{i}].issue_rate");
            if let Some(rate) = service
                .issue_rate
                .map(|s| s.rate(None, &key))
                .transpose()?
                .flatten()
            {
                limits = limits.service(service.key.clone(), rate);
            }
        }
        for (i, client) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}].issue_rate");
            limits = match client.issue_rate.map(|s| s.rate(None, &key)).transpose()? {
                None => limits,
                Some(None) => limits.exempt(client.client_id.clone()),
                Some(Some(rate)) => limits.client(client.client_id.clone(), rate),
            };
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Some(std::path::Path::new("tokengate.toml")))
    }

    #[test]
    fn rates_parse_with_their_burst() {
        let config = parse(
            "[[services]]\nkey = \"svc\"\nissue_rate = { per_second = 10, burst = 20 }\n\
             [[clients]]\nid = 1\nclient_id = \"a\"\nname = \"A\"\nissue_rate = { per_hour = 7 }\n\
             [[clients]]\nid = 2\nclient_id = \"b\"\nname = \"B\"\nissue_rate = false\n",
        )
        .unwrap();
        let service = config.services[0].issue_rate.unwrap();
        let rate = service.rate(None, "k").unwrap().unwrap();
        assert_eq!(rate.interval(), Duration::from_millis(100));
        assert_eq!(rate.burst().get(), 20);
        let client = config.clients[0].issue_rate.unwrap();
        let rate = client.rate(None, "k").unwrap().unwrap();
        assert_eq!(rate.burst().get(), 7);
        assert_eq!(rate.interval(), Duration::from_secs(3600) / 7);
        assert_eq!(config.clients[1].issue_rate, Some(LimitSetting::Off));
    }

    #[test]
    fn the_failed_auth_limit_is_on_by_default_and_can_be_set_or_switched_off() {
        let config = parse("").unwrap();
        assert_eq!(config.public.failed_auth_limit, LimitSetting::Default);
        assert_eq!(config.admin.failed_auth_limit, LimitSetting::Default);
        let rate = config
            .public
            .failed_auth_limit
            .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "k")
            .unwrap()
            .unwrap();
        assert_eq!(rate.interval(), Duration::from_secs(2));
        assert_eq!(rate.burst().get(), 10);

        let config = parse(
            "[public]\nfailed_auth_limit = { per_minute = 5, burst = 2 }\n\
             [admin]\nfailed_auth_limit = false\n",
        )
        .unwrap();
        assert_eq!(
            config.public.failed_auth_limit,
            LimitSetting::Rate(RateConfig {
                per_minute: Some(5),
                burst: Some(2),
                ..RateConfig::default()
            })
        );
        assert_eq!(config.admin.failed_auth_limit, LimitSetting::Off);
    }

    #[test]
    fn bad_rates_name_their_key() {
        let cases = [
            (
                "[[services]]\nkey = \"s\"\nissue_rate = { per_second = 1, per_minute = 2 }\n",
                "services[0].issue_rate",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = {}\n",
                "services[0].issue_rate",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = { per_second = 0 }\n",
                "services[0].issue_rate.per_second",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = { per_second = 1, burst = 0 }\n",
                "services[0].issue_rate.burst",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = true\n",
                "services[0].issue_rate",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = { per_day = 3 }\n",
                "services[0].issue_rate",
            ),
            (
                "[[services]]\nkey = \"s\"\nissue_rate = \"fast\"\n",
                "services[0].issue_rate",
            ),
            (
                "[[clients]]\nid = 1\nclient_id = \"a\"\nname = \"A\"\nissue_rate = { per_minute = -1 }\n",
                "clients[0].issue_rate",
            ),
            (
                "[public]\nfailed_auth_limit = { per_hour = 1, burst = 0 }\n",
                "public.failed_auth_limit.burst",
            ),
            (
                "[admin]\nfailed_auth_limit = 30\n",
                "admin.failed_auth_limit",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.starts_with("tokengate.toml"), "{text}: {shown}");
            assert!(
                err.key().is_some_and(|k| k.starts_with(key)),
                "{text}: {shown}"
            );
        }
    }
}
