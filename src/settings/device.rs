//! `[device]`: the device authorization grant (RFC 8628, [DV-1]..[DV-6]); what each key means is in
//! `config/default.toml`.

use serde::Deserialize;

use super::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    /// Serve `/device_authorization` and `/device`, accept the grant at `/token`, advertise them.
    pub enabled: bool,
    pub code_ttl_secs: i64,
    pub interval_secs: i64,
    /// [DV-6]
    pub max_live_codes_per_client: i64,
    pub max_live_codes_per_address: i64,
    /// [DV-4]
    pub wrong_codes_per_session: i64,
    pub wrong_codes_per_address: i64,
    pub wrong_code_window_secs: i64,
}

impl DeviceSettings {
    /// [DV-4] The guess budget of the verification page.
    pub fn guess_budget(&self) -> bridgekeeper_core::device::GuessBudget {
        bridgekeeper_core::device::GuessBudget {
            per_session: self.wrong_codes_per_session,
            per_address: self.wrong_codes_per_address,
        }
    }

    pub(super) fn validate(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        for (key, v, lo, hi) in [
            ("device.code_ttl_secs", self.code_ttl_secs, 60, 3600),
            ("device.interval_secs", self.interval_secs, 1, 60),
            ("device.max_live_codes_per_client", self.max_live_codes_per_client, 1, 10_000_000),
            ("device.max_live_codes_per_address", self.max_live_codes_per_address, 1, 10_000_000),
            ("device.wrong_codes_per_session", self.wrong_codes_per_session, 1, 100),
            ("device.wrong_codes_per_address", self.wrong_codes_per_address, 1, 10_000),
            ("device.wrong_code_window_secs", self.wrong_code_window_secs, 60, 86_400),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(err(key, format!("must be between {lo} and {hi}")));
            }
        }
        Ok(())
    }
}
