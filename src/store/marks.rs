//! [TB-1h] What a start-up maintenance last ran for, shared by the instances (`maintenance_marks`).

use diesel::prelude::*;

use super::schema::maintenance_marks;
use super::{DbConn, StoreError, StoreResult};

pub fn find(conn: &mut DbConn, name: &str) -> StoreResult<Option<String>> {
    Ok(maintenance_marks::table.find(name).select(maintenance_marks::value).first(conn).optional()?)
}

/// Records `value` under `name` (replacing what was there).
pub fn set(conn: &mut DbConn, name: &str, value: &str, now: i64) -> StoreResult<()> {
    let updated = diesel::update(maintenance_marks::table.find(name))
        .set((maintenance_marks::value.eq(value), maintenance_marks::updated_at.eq(now)))
        .execute(conn)?;
    if updated > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(maintenance_marks::table)
        .values((
            maintenance_marks::name.eq(name),
            maintenance_marks::value.eq(value),
            maintenance_marks::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        // Another instance recorded it between the two statements: the same maintenance ran there.
        Ok(_) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}
