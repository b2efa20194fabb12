//! Property test: any sequence of write batches leaves the store exactly as a simple in-memory
//! model says (atomic batches, preconditions, versions), and paging with any page size lists
//! exactly the model's items in order.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeMap;

use portcullis_core::Secret;
use portcullis_store::{ListQuery, Precondition, Store, StoreError, StoreLocation, WriteOp};
use proptest::prelude::*;
use serde_json::json;

const KIND: &str = "model.thing";
const ACCOUNT: &str = "111122223333";

#[derive(Debug, Clone)]
enum Op {
    Put(String, u8, Precondition),
    Delete(String, Precondition),
}

fn precondition() -> impl Strategy<Value = Precondition> {
    prop_oneof![
        Just(Precondition::Any),
        Just(Precondition::Absent),
        Just(Precondition::Exists),
        (0i64..4).prop_map(Precondition::Version),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id =
        prop_oneof![Just("a"), Just("ab"), Just("b"), Just("b/"), Just("c")].prop_map(String::from);
    prop_oneof![
        3 => (id.clone(), any::<u8>(), precondition()).prop_map(|(id, v, p)| Op::Put(id, v, p)),
        1 => (id, precondition()).prop_map(|(id, p)| Op::Delete(id, p)),
    ]
}

type Model = BTreeMap<String, (u8, i64)>;

/// The model's answer: the new state, or the index of the first op whose precondition fails.
fn apply(model: &Model, batch: &[Op]) -> Result<Model, usize> {
    let mut next = model.clone();
    for (i, op) in batch.iter().enumerate() {
        let (id, p) = match op {
            Op::Put(id, _, p) | Op::Delete(id, p) => (id, *p),
        };
        let found = next.get(id).map(|(_, v)| *v);
        let holds = match p {
            Precondition::Any => true,
            Precondition::Absent => found.is_none(),
            Precondition::Exists => found.is_some(),
            Precondition::Version(v) => found == Some(v),
        };
        if !holds {
            return Err(i);
        }
        match op {
            Op::Put(id, value, _) => {
                next.insert(id.clone(), (*value, found.unwrap_or(0) + 1));
            }
            Op::Delete(id, _) => {
                next.remove(id);
            }
        }
    }
    Ok(next)
}

fn to_write(op: &Op) -> WriteOp {
    match op {
        Op::Put(id, v, p) => WriteOp::put(KIND, ACCOUNT, id.as_str(), json!(v), *p),
        Op::Delete(id, p) => WriteOp::delete(KIND, ACCOUNT, id.as_str(), *p),
    }
}

async fn listing(store: &dyn Store, page_size: usize) -> Vec<(String, u8, i64)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(ListQuery {
                kind: KIND,
                account: ACCOUNT,
                id_prefix: "",
                start_after: after.as_deref(),
                limit: page_size,
            })
            .await
            .unwrap();
        assert!(page.items.len() <= page_size);
        out.extend(page.items.into_iter().map(|i| {
            (
                i.id,
                u8::try_from(i.value.as_u64().unwrap()).unwrap(),
                i.version,
            )
        }));
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_follows_the_model(
        batches in proptest::collection::vec(proptest::collection::vec(op(), 1..5), 1..10),
        page_size in 1usize..4,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = portcullis_store::open(&StoreLocation::SqliteInMemory, Secret::new(vec![1; 32])).await.unwrap();
            let mut model = Model::new();
            for batch in &batches {
                let result = store.write(batch.iter().map(to_write).collect()).await;
                match (apply(&model, batch), result) {
                    (Ok(next), Ok(())) => model = next,
                    (Err(i), Err(StoreError::Conflict { op, .. })) => assert_eq!(op, i),
                    (want, got) => panic!("model {want:?}, store {got:?} for {batch:?}"),
                }
                let want: Vec<_> = model.iter().map(|(id, (v, ver))| (id.clone(), *v, *ver)).collect();
                assert_eq!(listing(&*store, page_size).await, want);
            }
        });
    }
}
