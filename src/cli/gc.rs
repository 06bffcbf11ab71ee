//! `bridgekeeper gc [--dry-run]`: one sweep now, with the system clock (see `store::gc`), after ending expired
//! sessions (their apps are told, [BL-4]).

use super::CliError;
use crate::clock::Clock;
use crate::settings::Settings;
use crate::store::gc;

pub async fn gc(settings: &Settings, dry_run: bool) -> Result<(), CliError> {
    let db = super::admin::open(settings)?;
    let policy = crate::sweeper::policy(settings);
    let now = Clock::System.now();
    if !dry_run {
        // [BL-4] Expired sessions end first and their apps' Logout Tokens are queued (a running `serve` sends them).
        let (batch, window) = (policy.batch, settings.backchannel_logout.give_up_after_secs);
        let ended =
            db.write(move |c| crate::accounts::backchannel::end_expired_sessions(c, now, batch, window)).await?;
        println!("sessions ended: {ended}");
    }
    let rows = db.run(move |c| gc::sweep(c, now, &policy, dry_run)).await?;
    let verb = if dry_run { "would be removed" } else { "removed" };
    let mut total = 0;
    for (table, n) in &rows {
        println!("{table}: {n} {verb}");
        total += n;
    }
    println!("total: {total} {verb}");
    Ok(())
}
