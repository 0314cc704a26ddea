//! Lists paged newest first by `(time, id)`: the cursor condition, the one-extra-row probe and the
//! next cursor, stated once for every such list (a list that asks for exactly its limit cannot
//! tell whether more rows follow).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::domain::{PageRequest, TimeCursor};
use crate::error::Result;

/// One page of `query`, newest first by `time` then `id`, after the page's cursor: the rows and
/// the cursor of the next page (`None` on the last). `key` reads a row's `(time, id)`.
pub(crate) async fn newest_first<E, C>(
    db: &C,
    query: Select<E>,
    (time, id): (E::Column, E::Column),
    page: &PageRequest,
    key: impl Fn(&E::Model) -> (DateTime<Utc>, Uuid),
) -> Result<(Vec<E::Model>, Option<String>)>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let limit = page.checked_limit()?;
    let mut query = query;
    if let Some(cursor) = &page.cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(
            Condition::any().add(time.lt(cursor.created_at)).add(
                Condition::all()
                    .add(time.eq(cursor.created_at))
                    .add(id.lt(cursor.id)),
            ),
        );
    }
    let mut rows = query
        .order_by_desc(time)
        .order_by_desc(id)
        .limit(u64::from(limit) + 1)
        .all(db)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| {
            let (created_at, id) = key(row);
            TimeCursor { created_at, id }.encode()
        })
    } else {
        None
    };
    Ok((rows, next_cursor))
}
