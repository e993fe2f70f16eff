//! The token mix: which share of gateway requests carries a valid, unknown, revoked or expired
//! token (`--mix valid=90,unknown=5,revoked=5,expired=0`).

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// The kind of token a gateway request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenClass {
    /// Issued and active: the gateway answers 200 (or whatever the upstream answers).
    Valid,
    /// A fresh random well-formed token for every request: never issued, never cached twice.
    Unknown,
    /// Issued, then revoked through `revokeAccessToken`.
    Revoked,
    /// Issued, then shortened to 1 s with `updateAccessToken` before the run starts.
    Expired,
}

impl TokenClass {
    /// Every class, in report order.
    pub const ALL: [TokenClass; 4] = [
        TokenClass::Valid,
        TokenClass::Unknown,
        TokenClass::Revoked,
        TokenClass::Expired,
    ];

    /// The name used in `--mix` and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenClass::Valid => "valid",
            TokenClass::Unknown => "unknown",
            TokenClass::Revoked => "revoked",
            TokenClass::Expired => "expired",
        }
    }
}

impl fmt::Display for TokenClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Relative weights of the four token classes.
///
/// ```
/// use tokengate::loadtest::{Mix, TokenClass};
/// let mix: Mix = "valid=90,unknown=5,revoked=5".parse().unwrap();
/// assert_eq!(mix.weight(TokenClass::Valid), 90);
/// assert_eq!(mix.weight(TokenClass::Expired), 0);
/// assert!("valid=0".parse::<Mix>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 4],
}

impl Default for Mix {
    /// Every request carries a valid token.
    fn default() -> Self {
        Mix {
            weights: [100, 0, 0, 0],
        }
    }
}

impl Mix {
    /// The weight of `class` (0 when the mix does not name it).
    pub fn weight(&self, class: TokenClass) -> u32 {
        self.weights[class as usize]
    }

    /// The sum of the weights (never 0).
    pub fn total(&self) -> u32 {
        self.weights.iter().sum()
    }

    /// A schedule of classes whose length is the weights' sum reduced by their greatest common
    /// divisor, in which each class appears exactly its share of times, shuffled by a seeded
    /// generator: request `i` carries `wheel[i % wheel.len()]`, so any whole number of turns
    /// follows the mix exactly and the classes interleave.
    pub fn wheel(&self, seed: u64) -> Vec<TokenClass> {
        let divisor = self.weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
        let mut wheel: Vec<TokenClass> = TokenClass::ALL
            .iter()
            .flat_map(|c| std::iter::repeat_n(*c, (self.weight(*c) / divisor) as usize))
            .collect();
        wheel.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        wheel
    }

    /// How many of `tokens` prepared tokens go to each class that needs some (valid, revoked,
    /// expired) in proportion to the weights, at least one per class with a weight.
    pub fn population(&self, tokens: usize) -> [usize; 4] {
        let issued: u32 = [TokenClass::Valid, TokenClass::Revoked, TokenClass::Expired]
            .iter()
            .map(|c| self.weight(*c))
            .sum();
        let mut out = [0; 4];
        if issued == 0 {
            return out;
        }
        for class in [TokenClass::Valid, TokenClass::Revoked, TokenClass::Expired] {
            let weight = self.weight(class) as usize;
            if weight > 0 {
                out[class as usize] = (tokens * weight / issued as usize).max(1);
            }
        }
        out
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Why a `--mix` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixError(String);

impl fmt::Display for MixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MixError {}

impl FromStr for Mix {
    type Err = MixError;

    /// `class=weight` pairs separated by commas; classes not named weigh 0; each class at most
    /// once; weights are whole numbers (percentages or any relative weights) summing to more
    /// than 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = [0u32; 4];
        let mut seen = [false; 4];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| MixError(format!("`{part}`: expected CLASS=WEIGHT")))?;
            let class = TokenClass::ALL
                .into_iter()
                .find(|c| c.as_str() == name.trim())
                .ok_or_else(|| {
                    MixError(format!(
                        "`{}`: unknown class (valid, unknown, revoked, expired)",
                        name.trim()
                    ))
                })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| MixError(format!("`{part}`: the weight is not a whole number")))?;
            if weight > 1_000_000 {
                return Err(MixError(format!("`{part}`: weight too large")));
            }
            if std::mem::replace(&mut seen[class as usize], true) {
                return Err(MixError(format!("`{name}` appears twice")));
            }
            weights[class as usize] = weight;
        }
        if weights.iter().sum::<u32>() == 0 {
            return Err(MixError("the weights sum to 0".into()));
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = TokenClass::ALL
            .iter()
            .map(|c| format!("{c}={}", self.weight(*c)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_weights_and_defaults() {
        let mix: Mix = "valid=90,unknown=5,revoked=5,expired=0".parse().unwrap();
        assert_eq!(mix.weights, [90, 5, 5, 0]);
        let mix: Mix = " unknown = 1 ".parse().unwrap();
        assert_eq!(mix.weights, [0, 1, 0, 0]);
        assert_eq!(mix.to_string(), "valid=0,unknown=1,revoked=0,expired=0");
        assert_eq!(Mix::default().weights, [100, 0, 0, 0]);
    }

    #[test]
    fn refuses_malformed_mixes() {
        for bad in [
            "",
            "valid",
            "valid=x",
            "valid=-1",
            "bogus=1",
            "valid=1,valid=2",
            "valid=0,unknown=0",
            "valid=99999999",
        ] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?}");
        }
        let err = "stale=3".parse::<Mix>().unwrap_err();
        assert!(err.to_string().contains("stale"), "{err}");
    }

    #[test]
    fn the_wheel_follows_the_mix_exactly() {
        let mix: Mix = "valid=90,unknown=5,revoked=5".parse().unwrap();
        let wheel = mix.wheel(7);
        assert_eq!(wheel.len(), 20, "reduced by the gcd 5");
        let count = |c| wheel.iter().filter(|w| **w == c).count();
        assert_eq!(count(TokenClass::Valid), 18);
        assert_eq!(count(TokenClass::Unknown), 1);
        assert_eq!(count(TokenClass::Revoked), 1);
        assert_eq!(count(TokenClass::Expired), 0);
        assert_eq!(wheel, mix.wheel(7), "seeded");
    }

    #[test]
    fn the_population_is_shared_by_weight() {
        let mix: Mix = "valid=90,unknown=5,revoked=5,expired=5".parse().unwrap();
        assert_eq!(mix.population(100), [90, 0, 5, 5]);
        assert_eq!(mix.population(10), [9, 0, 1, 1], "at least one each");
        let junk: Mix = "unknown=1".parse().unwrap();
        assert_eq!(junk.population(100), [0, 0, 0, 0]);
    }
}
