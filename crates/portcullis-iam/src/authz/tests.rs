use super::*;

#[test]
fn every_operation_of_the_tabled_services_has_a_row() {
    for service in ["iam", "sts", "cloudtrail", "organizations"] {
        let model = portcullis_model::service(service).unwrap();
        let rows = table::table(service).unwrap();
        let mut missing = Vec::new();
        for op in model.operations() {
            match table::rule(service, op.name()) {
                Some(rule) => {
                    assert_eq!(rule.action, format!("{service}:{}", op.name()));
                }
                None => missing.push(op.name()),
            }
        }
        assert!(missing.is_empty(), "{service} rows missing: {missing:?}");
        assert_eq!(
            rows.len(),
            model.operations().count(),
            "{service}: a row for no operation"
        );
    }
}
