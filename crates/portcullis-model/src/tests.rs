//! Tests on real operations of the generated models.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::model::ShapeKind;
use crate::*;

fn op(service_name: &str, name: &str) -> OperationModel<'static> {
    service(service_name).unwrap().operation(name).unwrap()
}

fn messages(r: Result<(), Vec<Violation>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.message)
        .collect()
}

#[test]
fn services_resolve_by_name_and_target_prefix() {
    assert_eq!(SERVICES.len(), 10);
    let iam = service("iam").unwrap();
    assert_eq!(iam.protocol, ProtocolKind::Query);
    assert_eq!(iam.api_version, "2010-05-08");
    assert_eq!(iam.xmlns, Some("https://iam.amazonaws.com/doc/2010-05-08/"));
    assert_eq!(iam.operations().count(), 176);
    let kms = service_by_target_prefix("TrentService").unwrap();
    assert_eq!(kms.name, "kms");
    assert_eq!(kms.json_version, Some("1.1"));
    assert_eq!(kms.protocol, ProtocolKind::Json);
    assert_eq!(
        operation_by_target("TrentService.Encrypt").unwrap().name(),
        "Encrypt"
    );
    assert!(operation_by_target("TrentService.Nope").is_none());
    assert_eq!(
        service("guardduty").unwrap().protocol,
        ProtocolKind::RestJson
    );
    assert!(service("s3").is_none());
    assert!(
        iam.operation("createuser").is_none(),
        "Action names are case-sensitive"
    );
    assert!(!BOTOCORE_VERSION.is_empty());
}

#[test]
fn operations_carry_http_binding_errors_and_wrappers() {
    let create = op("iam", "CreateUser");
    assert_eq!(create.http_method(), "POST");
    assert_eq!(create.request_uri(), "/");
    assert_eq!(create.result_wrapper(), Some("CreateUserResult"));
    let codes: Vec<_> = create.error_codes().collect();
    assert!(codes.contains(&"EntityAlreadyExists"), "{codes:?}");
    assert!(codes.contains(&"LimitExceeded"), "{codes:?}");
    let (_, info) = service("iam")
        .unwrap()
        .error_by_code("NoSuchEntity")
        .unwrap();
    assert_eq!(info.status, 404);
    let get = op("guardduty", "GetDetector");
    assert_eq!(get.http_method(), "GET");
    assert_eq!(get.request_uri(), "/detector/{DetectorId}");
    assert!(op("sts", "AssumeRoleWithWebIdentity").is_unsigned());
    assert!(!op("sts", "AssumeRole").is_unsigned());
}

#[test]
fn every_operation_has_a_resolvable_input_shape() {
    let mut checked = 0;
    for service in SERVICES {
        for op in service.operations() {
            if op.table().input.is_some() {
                let input = op
                    .input()
                    .unwrap_or_else(|| panic!("{}:{}", service.name, op.name()));
                assert!(matches!(input.shape.kind, ShapeKind::Structure { .. }));
                checked += 1;
            }
            if op.table().output.is_some() {
                assert!(op.output().is_some());
            }
            assert_eq!(
                op.errors().count(),
                op.table().errors.len(),
                "{}",
                op.name()
            );
        }
        for (i, shape) in service.shapes.iter().enumerate() {
            let this = service.shape(u16::try_from(i).unwrap()).unwrap();
            match shape.kind {
                ShapeKind::Structure { members, .. } => {
                    for m in members {
                        assert!(this.member_shape(m).is_some(), "{}.{}", shape.name, m.name);
                    }
                }
                ShapeKind::List { member, .. } => assert!(service.shape(member).is_some()),
                ShapeKind::Map { key, value, .. } => {
                    assert!(service.shape(key).is_some() && service.shape(value).is_some());
                }
                ShapeKind::String {
                    pattern: Some(p), ..
                } => {
                    assert!(service.pattern_source(p).is_some());
                }
                _ => {}
            }
        }
    }
    assert!(checked > 600, "{checked}");
}

#[test]
fn every_pattern_of_every_service_compiles() {
    for service in SERVICES {
        for p in service.patterns {
            if let Err(e) = regex::Regex::new(p) {
                panic!("{}: {p:?}: {e}", service.name);
            }
        }
        for i in 0..service.patterns.len() {
            assert!(service.pattern(u16::try_from(i).unwrap()).is_some());
        }
    }
}

#[test]
fn iam_create_user_from_query_params() {
    let op = op("iam", "CreateUser");
    let params = [
        ("Action", "CreateUser"),
        ("Version", "2010-05-08"),
        ("UserName", "alice"),
        ("Path", "/eng/"),
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "red"),
        ("Tags.member.2.Key", "env"),
        ("Tags.member.2.Value", "dev"),
        ("Unknown", "ignored"),
    ];
    let input = query_input(&op, &params).unwrap();
    assert_eq!(
        input,
        json!({"UserName": "alice", "Path": "/eng/",
               "Tags": [{"Key": "team", "Value": "red"}, {"Key": "env", "Value": "dev"}]})
    );
    assert_eq!(validate(&op, &input), Ok(()));
}

#[test]
fn parameters_that_only_begin_like_a_member_do_not_fill_it() {
    // `Path` must not be taken from `PathX` or `Path2.x`; `Tags` is filled from its items
    // alone and from `Tags=` (an empty list) alone.
    let op = op("iam", "CreateUser");
    let params = [
        ("UserName", "alice"),
        ("PathX", "/x/"),
        ("Path2.x", "/y/"),
        ("TagsX.member.1.Key", "k"),
    ];
    assert_eq!(
        query_input(&op, &params).unwrap(),
        json!({"UserName": "alice"})
    );
    let empty = [("UserName", "alice"), ("Tags", "")];
    assert_eq!(
        query_input(&op, &empty).unwrap(),
        json!({"UserName": "alice", "Tags": []})
    );
}

#[test]
fn iam_create_user_violations_read_as_aws_writes_them() {
    let op = op("iam", "CreateUser");
    let input = query_input(&op, &[("Action", "CreateUser")]).unwrap();
    let v = validate(&op, &input).unwrap_err();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].kind, ViolationKind::Missing);
    assert_eq!(
        violations_message(&v),
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: \
         Member must not be null"
    );
    assert_eq!(error_code(ProtocolKind::Query, &v), "ValidationError");
    assert_eq!(
        service("iam").unwrap().validation_error_code(),
        "ValidationError"
    );

    let bad = query_input(
        &op,
        &[
            ("UserName", "bad name!"),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "{x}"),
        ],
    )
    .unwrap();
    let v = validate(&op, &bad).unwrap_err();
    assert_eq!(
        violations_message(&v),
        "2 validation errors detected: Value 'bad name!' at 'userName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; Value '{x}' \
         at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular \
         expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
    );
    let long = "a".repeat(65);
    let v = validate(&op, &json!({"UserName": long})).unwrap_err();
    assert_eq!(v[0].kind, ViolationKind::Length);
    assert!(
        v[0].message
            .ends_with("Member must have length less than or equal to 64")
    );
    let v = validate(&op, &json!({"UserName": ""})).unwrap_err();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v[0].message
            .ends_with("Member must have length greater than or equal to 1")
    );
    assert_eq!(v[1].kind, ViolationKind::Pattern);
}

#[test]
fn iam_put_user_policy_checks_the_policy_document() {
    let op = op("iam", "PutUserPolicy");
    let doc =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let input = query_input(
        &op,
        &[
            ("UserName", "bob"),
            ("PolicyName", "p"),
            ("PolicyDocument", doc),
        ],
    )
    .unwrap();
    assert_eq!(input["PolicyDocument"], doc);
    assert_eq!(validate(&op, &input), Ok(()));
    let v = validate(
        &op,
        &json!({"UserName": "bob", "PolicyName": "p", "PolicyDocument": "\u{1}"}),
    )
    .unwrap_err();
    assert_eq!(v[0].path, "policyDocument");
    assert_eq!(v[0].kind, ViolationKind::Pattern);
    let v = validate(&op, &json!({})).unwrap_err();
    let paths: Vec<_> = v.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(paths, ["userName", "policyName", "policyDocument"]);
    assert!(violations_message(&v).starts_with("3 validation errors detected: "));
}

#[test]
fn sts_assume_role_with_tags_and_policy_arns() {
    let op = op("sts", "AssumeRole");
    let params = [
        ("RoleArn", "arn:aws:iam::123456789012:role/demo"),
        ("RoleSessionName", "s1"),
        ("DurationSeconds", "3600"),
        (
            "PolicyArns.member.1.arn",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        ),
        (
            "PolicyArns.member.2.arn",
            "arn:aws:iam::123456789012:policy/Mine",
        ),
        ("Tags.member.1.Key", "project"),
        ("Tags.member.1.Value", "blue"),
        ("TransitiveTagKeys.member.1", "project"),
    ];
    let input = query_input(&op, &params).unwrap();
    assert_eq!(input["DurationSeconds"], json!(3600));
    assert_eq!(
        input["PolicyArns"][1]["arn"],
        "arn:aws:iam::123456789012:policy/Mine"
    );
    assert_eq!(input["Tags"][0], json!({"Key": "project", "Value": "blue"}));
    assert_eq!(input["TransitiveTagKeys"], json!(["project"]));
    assert_eq!(validate(&op, &input), Ok(()));

    let short = query_input(
        &op,
        &[
            ("RoleArn", "arn:aws:iam::123456789012:role/demo"),
            ("RoleSessionName", "s"),
            ("DurationSeconds", "60"),
        ],
    )
    .unwrap();
    let v = validate(&op, &short).unwrap_err();
    let text: Vec<_> = v.iter().map(|x| x.message.as_str()).collect();
    assert_eq!(
        text,
        [
            "Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
            "Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
        ]
    );
    let bad_type = query_input(&op, &[("DurationSeconds", "soon")]).unwrap_err();
    assert_eq!(bad_type.kind, ViolationKind::Type);
    assert_eq!(bad_type.path, "durationSeconds");
    // Gaps in member indices are closed up, as lists are rebuilt in index order.
    let gap = query_input(
        &op,
        &[
            ("TransitiveTagKeys.member.3", "b"),
            ("TransitiveTagKeys.member.1", "a"),
        ],
    )
    .unwrap();
    assert_eq!(gap["TransitiveTagKeys"], json!(["a", "b"]));
    let empty = query_input(&op, &[("TransitiveTagKeys", "")]).unwrap();
    assert_eq!(empty["TransitiveTagKeys"], json!([]));
}

#[test]
fn kms_encrypt_with_encryption_context() {
    let op = op("kms", "Encrypt");
    let ok = json!({"KeyId": "alias/demo", "Plaintext": "aGVsbG8=",
                    "EncryptionContext": {"purpose": "test", "team": "red"},
                    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
    assert_eq!(validate(&op, &ok), Ok(()));

    let long_key = "k".repeat(2049);
    let v = validate(&op, &json!({"KeyId": long_key, "Plaintext": "aGVsbG8="})).unwrap_err();
    assert_eq!(
        violations_message(&v),
        format!(
            "1 validation error detected: Value '{long_key}' at 'keyId' failed to satisfy \
                 constraint: Member must have length less than or equal to 2048"
        )
    );
    assert_eq!(error_code(ProtocolKind::Json, &v), "ValidationException");

    // Plaintext is sensitive: AWS leaves the value out of the message.
    let v = validate(&op, &json!({"KeyId": "k", "Plaintext": ""})).unwrap_err();
    assert_eq!(
        v[0].message,
        "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert!(v[0].sensitive);

    let v = validate(
        &op,
        &json!({"KeyId": "k", "Plaintext": "aGk=", "EncryptionAlgorithm": "ROT13"}),
    )
    .unwrap_err();
    assert_eq!(v[0].kind, ViolationKind::Enum);
    assert_eq!(
        v[0].constraint,
        "Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"
    );

    let v = validate(
        &op,
        &json!({"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}),
    )
    .unwrap_err();
    assert_eq!(v[0].kind, ViolationKind::Type);
    assert_eq!(error_code(ProtocolKind::Json, &v), "SerializationException");
    let v = validate(&op, &json!({"KeyId": 7, "Plaintext": "not base64!"})).unwrap_err();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|x| x.kind == ViolationKind::Type));
}

#[test]
fn organizations_create_policy() {
    let op = op("organizations", "CreatePolicy");
    let ok = json!({"Content": "{\"Version\":\"2012-10-17\"}", "Description": "deny all",
                    "Name": "DenyAll", "Type": "SERVICE_CONTROL_POLICY",
                    "Tags": [{"Key": "owner", "Value": "sec"}]});
    assert_eq!(validate(&op, &ok), Ok(()));
    let v = validate(
        &op,
        &json!({"Content": "", "Name": "x", "Type": "SCP",
        "Tags": [{"Key": "owner"}]}),
    )
    .unwrap_err();
    let paths: Vec<_> = v.iter().map(|x| (x.path.as_str(), x.kind)).collect();
    assert_eq!(
        paths,
        [
            ("content", ViolationKind::Length),
            ("description", ViolationKind::Missing),
            ("type", ViolationKind::Enum),
            ("tags.1.member.value", ViolationKind::Missing),
        ]
    );
    assert_eq!(
        service("organizations").unwrap().validation_error_code(),
        "ValidationException"
    );
}

#[test]
fn lists_of_constrained_strings_report_at_the_list() {
    let op = op("organizations", "ListPolicies");
    let filter_ok = json!({"Filter": "TAG_POLICY"});
    assert_eq!(validate(&op, &filter_ok), Ok(()));
    let sts = super::service("iam")
        .unwrap()
        .operation("UntagUser")
        .unwrap();
    let v = validate(
        &sts,
        &json!({"UserName": "a", "TagKeys": ["ok", "b{ad", ""]}),
    )
    .unwrap_err();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "tagKeys");
    assert_eq!(
        v[0].message,
        "Value '[ok, b{ad, ]' at 'tagKeys' failed to satisfy constraint: Member must satisfy \
         constraint: [Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+, \
         Member must have length greater than or equal to 1]"
    );
}

#[test]
fn rest_json_services_use_their_declared_validation_code() {
    assert_eq!(
        service("guardduty").unwrap().validation_error_code(),
        "BadRequestException"
    );
    assert_eq!(
        service("inspector2").unwrap().validation_error_code(),
        "ValidationException"
    );
    let get = op("guardduty", "GetDetector");
    let v = validate(&get, &json!({})).unwrap_err();
    assert_eq!(v[0].path, "detectorId");
}

#[test]
fn operations_without_input_accept_anything() {
    let op = op("iam", "GetAccountPasswordPolicy");
    assert!(op.input().is_none());
    assert_eq!(validate(&op, &json!({"x": 1})), Ok(()));
    assert_eq!(query_input(&op, &[("x", "1")]).unwrap(), json!({}));
}

#[test]
fn top_level_non_object_is_a_type_error() {
    let op = op("kms", "Encrypt");
    let v = validate(&op, &json!([1, 2])).unwrap_err();
    assert_eq!(v[0].kind, ViolationKind::Type);
    assert_eq!(messages(validate(&op, &Value::Null)).len(), 2);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9 =+/{}:.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("UserName".to_owned()),
                    Just("Tags".to_owned()),
                    Just("Key".to_owned()),
                    Just("Value".to_owned()),
                    Just("KeyId".to_owned()),
                    Just("EncryptionContext".to_owned()),
                    "[a-zA-Z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn all_ops() -> Vec<OperationModel<'static>> {
    SERVICES.iter().flat_map(|s| s.operations()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validate_never_panics(op_index in any::<prop::sample::Index>(), value in arb_json()) {
        let ops = all_ops();
        let op = op_index.get(&ops);
        let _ = validate(op, &value);
    }

    #[test]
    fn query_input_never_panics(
        op_index in any::<prop::sample::Index>(),
        params in prop::collection::vec(
            ("(Tags|UserName|PolicyArns|DurationSeconds|Path|[A-Za-z]{1,6})(\\.(member|entry|key|value|Key|Value|arn|[0-9]{1,3}))*",
             "[ -~]{0,10}"),
            0..12,
        ),
    ) {
        let ops = all_ops();
        let op = op_index.get(&ops);
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Ok(value) = query_input(op, &pairs) {
            let _ = validate(op, &value);
        }
    }

    #[test]
    fn a_pattern_matched_without_the_vm_agrees_with_the_vm(
        s in "([a-zA-Z0-9_+=,.@/:*-]|\\PC|[ \t\r\n\u{85}\u{a0}\u{fffd}\u{10000}]){0,70}"
    ) {
        for service in SERVICES {
            for p in service.patterns {
                let re = regex::Regex::new(p).unwrap();
                prop_assert_eq!(
                    re.is_full_match(&s),
                    re.is_full_match_by_vm(&s),
                    "{} {:?} {:?}", service.name, p, s
                );
            }
        }
    }

    #[test]
    fn patterns_never_panic(s in "\\PC{0,40}") {
        for service in SERVICES {
            for i in 0..service.patterns.len() {
                if let Some(re) = service.pattern(u16::try_from(i).unwrap()) {
                    let _ = re.is_full_match(&s);
                }
            }
        }
    }
}

/// Validates the example inputs that botocore ships (`examples-1.json`) for the generated
/// services; they are AWS's own documented calls, so they must pass. Reads a file of
/// `[service, operation, input]` rows made from the installed botocore, so it is ignored by
/// default: `PORTCULLIS_BOTOCORE_EXAMPLES=file cargo test -p portcullis-model -- --ignored`.
#[test]
#[ignore = "needs a dump of botocore's examples (see the doc comment)"]
fn botocore_examples_validate() {
    let path = std::env::var("PORTCULLIS_BOTOCORE_EXAMPLES").expect("PORTCULLIS_BOTOCORE_EXAMPLES");
    let rows: Vec<(String, String, Value)> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!rows.is_empty());
    let mut failures = Vec::new();
    for (s, name, input) in &rows {
        let op = service(s).unwrap().operation(name).unwrap();
        let Err(v) = validate(&op, input) else {
            continue;
        };
        // The examples write binary members as placeholders (`<binary data>`), not base64,
        // and KMS's custom key store examples use a cluster id with a `1`, which the
        // model's own pattern `cluster-[2-7a-zA-Z]{11,16}` forbids.
        let real: Vec<_> = v
            .into_iter()
            .filter(|x| x.constraint != "Member must be of type blob")
            .filter(|x| x.value.as_deref() != Some("cluster-1a23b4cdefg"))
            .collect();
        if !real.is_empty() {
            failures.push(format!("{s}:{name}: {}", violations_message(&real)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Decodes the form parameters botocore's own query serializer writes for its example
/// inputs and checks that the decoded value equals the input (timestamps aside, whose text
/// botocore reformats). Ignored by default; see `tools/codegen/dump_examples.py`.
#[test]
#[ignore = "needs a dump of botocore's examples (see tools/codegen/dump_examples.py)"]
fn botocore_query_serialization_round_trips() {
    let path = std::env::var("PORTCULLIS_BOTOCORE_QUERY_EXAMPLES").unwrap();
    type Row = (String, String, Value, Vec<(String, Value)>);
    let rows: Vec<Row> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!rows.is_empty());
    let mut failures = Vec::new();
    for (s, name, input, raw) in &rows {
        let op = service(s).unwrap().operation(name).unwrap();
        // botocore leaves some numbers unformatted in its body dict; the wire has text.
        let params: Vec<(String, String)> = raw
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let decoded = query_input(&op, &pairs).unwrap();
        if !same_ignoring_timestamps(&decoded, input) {
            failures.push(format!(
                "{s}:{name}: decoded {decoded} from {params:?}, expected {input}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn same_ignoring_timestamps(decoded: &Value, expected: &Value) -> bool {
    match (decoded, expected) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_ignoring_timestamps(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_ignoring_timestamps(v, w))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // botocore writes timestamps as ISO 8601 whatever form the example used.
        (Value::String(a), Value::String(b)) => a == b || a.contains('T') && b.contains('-'),
        (a, b) => a == b,
    }
}

/// The plain definition of a base64 blob's decoded length that `base64_len` computes faster.
fn base64_len_oracle(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = &bytes[..bytes.len() - pad];
    body.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        .then(|| bytes.len() / 4 * 3 - pad)
}

proptest! {
    #[test]
    fn base64_len_agrees_with_its_definition(
        s in "[A-Za-z0-9+/=]{0,64}|[ -~]{0,64}|[A-Za-z0-9+/]{0,60}={0,3}",
    ) {
        prop_assert_eq!(crate::validate::base64_len(&s), base64_len_oracle(&s));
    }
}
