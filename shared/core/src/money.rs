//! Money: decimal amounts (never floats) and ISO-4217 currency codes.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Largest payout we accept for one offer or conversion; more is a typo or an attack.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Most decimal places kept (TUNE sends five: "15.00000").
pub const MAX_SCALE: u32 = 5;

/// Active ISO-4217 codes (plus XAU-style metals excluded), sorted for binary search.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// The upper-cased code if it is a known ISO-4217 currency.
pub fn currency(code: &str) -> Option<&'static str> {
    let upper = code.trim().to_ascii_uppercase();
    CURRENCIES
        .binary_search(&upper.as_str())
        .ok()
        .map(|i| CURRENCIES[i])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{0}` is not a decimal number")]
    NotDecimal(String),
    #[error("amounts cannot be negative")]
    Negative,
    #[error("amounts above {MAX_AMOUNT} are refused")]
    TooLarge,
    #[error("at most {MAX_SCALE} decimal places")]
    TooPrecise,
}

/// Parses a payout like `12.50` or `15.00000`: plain decimal notation only (no exponent, no
/// thousands separators), 0 to [`MAX_AMOUNT`], at most [`MAX_SCALE`] places (trailing zeros
/// beyond that are fine).
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let text = text.trim();
    let plain = !text.is_empty()
        && text.len() <= 40
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    if !plain {
        return Err(AmountError::NotDecimal(text.chars().take(40).collect()));
    }
    let value = Decimal::from_str(text).map_err(|_| AmountError::NotDecimal(text.to_string()))?;
    check_amount(value)
}

pub fn check_amount(value: Decimal) -> Result<Decimal, AmountError> {
    let value = value.normalize();
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AmountError::Negative);
    }
    if value > MAX_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    if value.scale() > MAX_SCALE {
        return Err(AmountError::TooPrecise);
    }
    Ok(value.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_sorted_and_found() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(currency("usd"), Some("USD"));
        assert_eq!(currency(" RUB "), Some("RUB"));
        assert_eq!(currency("XXX"), None);
        assert_eq!(currency("US"), None);
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("12.50").unwrap().to_string(), "12.5");
        assert_eq!(parse_amount("15.00000").unwrap().to_string(), "15");
        assert_eq!(parse_amount("0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_amount("1000000").unwrap(), MAX_AMOUNT);
        assert_eq!(parse_amount("-1"), Err(AmountError::Negative));
        assert_eq!(parse_amount("1000000.01"), Err(AmountError::TooLarge));
        assert_eq!(parse_amount("0.000001"), Err(AmountError::TooPrecise));
        for bad in ["", "abc", "1e5", "1,5", "NaN", "1.2.3", "--1"] {
            assert!(
                matches!(parse_amount(bad), Err(AmountError::NotDecimal(_))),
                "{bad}"
            );
        }
    }
}
