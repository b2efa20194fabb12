//! When, where and for which service each access key was last used (`GetAccessKeyLastUsed`,
//! the credential report), recorded without a write per request: uses are noted in memory and
//! written in one batch every few seconds, keeping only the latest use of each key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use portcullis_core::iso8601;
use portcullis_store::{Precondition, Store, WriteOp};

use crate::IamError;
use crate::iam::records::{ACCESS_KEY_USED, AccessKeyLastUsed};

/// Access key uses not yet written.
#[derive(Default)]
pub struct KeyUsage {
    pending: Mutex<HashMap<String, (SystemTime, &'static str, String)>>,
}

impl KeyUsage {
    /// Notes that `access_key_id` signed a request to `service` in `region` at `at`.
    pub fn note(&self, access_key_id: &str, at: SystemTime, service: &'static str, region: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            match pending.get_mut(access_key_id) {
                Some(entry) if entry.0 <= at => *entry = (at, service, region.to_owned()),
                Some(_) => {}
                None => {
                    pending.insert(access_key_id.to_owned(), (at, service, region.to_owned()));
                }
            }
        }
    }

    /// Writes every noted use in one batch.
    pub async fn flush(&self, store: &dyn Store) -> Result<(), IamError> {
        let pending = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(()),
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::with_capacity(pending.len());
        for (key, (at, service, region)) in pending {
            let used = AccessKeyLastUsed {
                last_used_date: iso8601(at),
                service_name: service.to_owned(),
                region,
            };
            let value = serde_json::to_value(&used)
                .map_err(|e| IamError::corrupt(ACCESS_KEY_USED, &key, e))?;
            ops.push(WriteOp::Put {
                kind: ACCESS_KEY_USED.to_owned(),
                account: String::new(),
                id: key,
                value,
                precondition: Precondition::Any,
            });
        }
        store.write(ops).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn keeps_the_latest_use_and_writes_it() {
        let store = portcullis_store::open(
            &portcullis_store::StoreLocation::SqliteInMemory,
            portcullis_core::Secret::new(vec![1; 32]),
        )
        .await
        .unwrap();
        let usage = KeyUsage::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        usage.note("AKIAONE", t0 + Duration::from_secs(5), "iam", "us-east-1");
        usage.note("AKIAONE", t0, "kms", "eu-west-1"); // older: ignored
        usage.flush(store.as_ref()).await.unwrap();
        let used = crate::iam::records::access_key_last_used(store.as_ref(), "AKIAONE")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.service_name, "iam");
        assert_eq!(used.region, "us-east-1");
        assert_eq!(used.last_used_date, iso8601(t0 + Duration::from_secs(5)));
        // Nothing pending: nothing written, no error.
        usage.flush(store.as_ref()).await.unwrap();
    }
}
