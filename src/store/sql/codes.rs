//! Authorization codes: how a code is redeemed.

use super::rows::code_from_row;
use super::{Dialect, Statement};
use crate::model::AuthorizationCode;
use crate::secret::TokenHash;
use crate::store::Redemption;
use crate::Error;

/// The code with `code_hash`.
pub(crate) fn code<D: Dialect>(code_hash: &TokenHash) -> Statement {
    Statement::new(D::CODE).hash(code_hash)
}

/// Redeems a code on `conn`, inside the caller's write transaction.
///
/// Only the caller whose `UPDATE` flips `used` gets the row back: under SQLite's single
/// writer the second caller runs after the first has committed; under PostgreSQL's row lock
/// the second `UPDATE` waits for the first to commit and then re-checks `used` against the
/// committed row. The loser reads the code as it is now (under READ COMMITTED this statement
/// sees the winner's commit): a replay, or no such code.
pub(crate) async fn redeem<D: Dialect>(
    conn: &mut D::Connection,
    code_hash: &TokenHash,
) -> Result<Redemption, Error> {
    let won = Statement::new(D::REDEEM_CODE)
        .hash(code_hash)
        .into_query::<D>()
        .fetch_optional(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    if let Some(row) = won {
        return Ok(Redemption::Fresh(AuthorizationCode {
            used: false,
            ..code_from_row(&row)?
        }));
    }
    let now = code::<D>(code_hash)
        .into_query::<D>()
        .fetch_optional(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    Ok(match now {
        Some(row) => Redemption::Replayed(code_from_row(&row)?),
        None => Redemption::Unknown,
    })
}
