//! The access advisor ("last accessed information", IAM User Guide, "Refining permissions in
//! AWS using last accessed information"): `GenerateServiceLastAccessedDetails`,
//! `GetServiceLastAccessedDetails`, `GetServiceLastAccessedDetailsWithEntities` and
//! `ListPoliciesGrantingServiceAccess`, for users, groups, roles and managed policies.
//!
//! A report lists the services the entity's policies allow, each with the latest
//! authenticated attempt on it by the users and roles the report covers (a user or role: that
//! entity; a group: its members; a policy: the users and roles it is attached to, directly or
//! through a group), from the attempts [`crate::usage`] records. A report is computed when it
//! is generated and kept under its job id (`JobStatus` is then `COMPLETED`), so reading it
//! later pages through one consistent snapshot.
//!
//! Which services a policy allows is read from its `Allow` statements: `svc:Action` names
//! `svc`, a wildcard in the prefix (or `*`) covers the matching services Portcullis knows
//! ([`SERVICES`]), and `NotAction` covers every known service it does not exclude whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use portcullis_aws::AwsError;

use super::records::{self, Entity, GroupRecord, RoleRecord, UserRecord, name_key};
use super::{Cx, Iam, Out, internal, invalid_input, no_such_entity, paginate, put, req};
use crate::usage::{self, LastAccess, TRACKED_SERVICES};

/// Store kind of access advisor reports (id = job id).
pub const REPORT: &str = "iam.access-report";

/// The services Portcullis serves, with the names AWS's access advisor shows: what a
/// wildcard in a policy's action covers.
pub const SERVICES: &[(&str, &str)] = &[
    ("artifact", "AWS Artifact"),
    ("cloudtrail", "AWS CloudTrail"),
    ("guardduty", "Amazon GuardDuty"),
    ("iam", "AWS Identity and Access Management"),
    ("inspector2", "Amazon Inspector2"),
    ("kms", "AWS Key Management Service"),
    ("organizations", "AWS Organizations"),
    ("shield", "AWS Shield"),
    ("sts", "AWS Security Token Service"),
    ("wafv2", "AWS WAF V2"),
];

/// A user or role whose attempts a report covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Covered {
    arn: String,
    name: String,
    /// `USER` or `ROLE`.
    r#type: String,
    id: String,
    path: String,
}

/// One service of a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceLine {
    namespace: String,
    name: String,
    /// Per covered entity (index into `Report::covered`), its latest attempt.
    attempts: Vec<(usize, LastAccess)>,
    /// Tracked actions: action name -> (entity index, latest attempt).
    #[serde(default)]
    actions: BTreeMap<String, (usize, LastAccess)>,
}

/// A generated report, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    job_id: String,
    /// `SERVICE_LEVEL` or `ACTION_LEVEL`.
    granularity: String,
    created: String,
    completed: String,
    covered: Vec<Covered>,
    services: Vec<ServiceLine>,
}

impl Entity for Report {
    const KIND: &'static str = REPORT;
    fn store_id(&self) -> String {
        self.job_id.clone()
    }
}

/// What a report or a policy listing is about.
enum Target {
    User(UserRecord),
    Group(GroupRecord),
    Role(RoleRecord),
    Policy(records::ManagedPolicy),
}

/// An entity holding policies: (`USER`/`GROUP`/`ROLE`, name, inline policies, attached ARNs).
type Holder<'a> = (
    &'static str,
    &'a String,
    &'a BTreeMap<String, String>,
    &'a Vec<String>,
);

/// A policy document with where it comes from, for `ListPoliciesGrantingServiceAccess`.
struct Source {
    document: String,
    name: String,
    /// The managed policy's ARN; `None` for an inline policy.
    arn: Option<String>,
    /// The inline policy's owner: (`USER`/`GROUP`/`ROLE`, name).
    owner: Option<(&'static str, String)>,
}

impl Iam {
    pub(crate) async fn advisor(&self, cx: &Cx<'_>, action: &str, input: &Value) -> Option<Out> {
        Some(match action {
            "GenerateServiceLastAccessedDetails" => self.generate_last_accessed(cx, input).await,
            "GetServiceLastAccessedDetails" => self.get_last_accessed(cx, input).await,
            "GetServiceLastAccessedDetailsWithEntities" => {
                self.get_last_accessed_entities(cx, input).await
            }
            "ListPoliciesGrantingServiceAccess" => self.policies_granting(cx, input).await,
            _ => return None,
        })
    }

    async fn generate_last_accessed(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "Arn")?;
        let granularity = super::opt(input, "Granularity").unwrap_or("SERVICE_LEVEL");
        let target = self.target(cx, arn, true).await?;
        let sources = self.sources(cx, &target).await?;
        let covered = self.covered(cx, &target).await?;
        let mut attempts = Vec::with_capacity(covered.len());
        for c in &covered {
            attempts.push(
                usage::last_accesses(self.store(), cx.account, &c.id)
                    .await
                    .map_err(internal)?,
            );
        }
        let granted = granted_services(sources.iter().map(|s| s.document.as_str()));
        let mut services = Vec::with_capacity(granted.len());
        for namespace in granted {
            let mut line = ServiceLine {
                name: service_name(&namespace).to_owned(),
                attempts: Vec::new(),
                actions: BTreeMap::new(),
                namespace,
            };
            let action_prefix = format!("{}/", line.namespace);
            for (index, recorded) in attempts.iter().enumerate() {
                if let Some(last) = recorded.get(&line.namespace) {
                    line.attempts.push((index, last.clone()));
                }
                if granularity != "ACTION_LEVEL" {
                    continue;
                }
                for (key, last) in recorded {
                    let Some(action) = key.strip_prefix(&action_prefix) else {
                        continue;
                    };
                    let newer = line
                        .actions
                        .get(action)
                        .is_none_or(|(_, seen)| seen.last_authenticated < last.last_authenticated);
                    if newer {
                        line.actions
                            .insert(action.to_owned(), (index, last.clone()));
                    }
                }
            }
            services.push(line);
        }
        let report = Report {
            job_id: portcullis_core::id::request_id(),
            granularity: granularity.to_owned(),
            created: cx.now.clone(),
            completed: cx.now.clone(),
            covered,
            services,
        };
        self.write(vec![put(
            cx,
            &report,
            portcullis_store::Precondition::Absent,
        )?])
        .await?;
        Ok(json!({"JobId": report.job_id}))
    }

    async fn report(&self, cx: &Cx<'_>, input: &Value) -> Result<Report, AwsError> {
        let job_id = req(input, "JobId")?;
        self.get::<Report>(cx, job_id)
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| no_such_entity(format!("The job with ID {job_id} cannot be found.")))
    }

    async fn get_last_accessed(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let report = self.report(cx, input).await?;
        let action_level = report.granularity == "ACTION_LEVEL";
        let items = report
            .services
            .iter()
            .map(|line| {
                let mut v = json!({"ServiceName": line.name, "ServiceNamespace": line.namespace,
                                   "TotalAuthenticatedEntities": line.attempts.len()});
                if let Some((index, last)) = latest(&line.attempts)
                    && let Some(entity) = report.covered.get(*index)
                {
                    super::set(&mut v, "LastAuthenticated", json!(last.last_authenticated));
                    super::set(&mut v, "LastAuthenticatedEntity", json!(entity.arn));
                    super::set(&mut v, "LastAuthenticatedRegion", json!(last.region));
                }
                if action_level && TRACKED_SERVICES.contains(&line.namespace.as_str()) {
                    let actions: Vec<Value> = line
                        .actions
                        .iter()
                        .map(|(name, (index, last))| {
                            json!({"ActionName": name,
                                   "LastAccessedEntity": report.covered.get(*index).map(|c| &c.arn),
                                   "LastAccessedTime": last.last_authenticated,
                                   "LastAccessedRegion": last.region})
                        })
                        .collect();
                    super::set(&mut v, "TrackedActionsLastAccessed", json!(actions));
                }
                (line.namespace.clone(), v)
            })
            .collect();
        let mut out = paginate("ServicesLastAccessed", items, input);
        super::set(&mut out, "JobStatus", json!("COMPLETED"));
        super::set(&mut out, "JobType", json!(report.granularity));
        super::set(&mut out, "JobCreationDate", json!(report.created));
        super::set(&mut out, "JobCompletionDate", json!(report.completed));
        Ok(out)
    }

    async fn get_last_accessed_entities(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let report = self.report(cx, input).await?;
        let namespace = req(input, "ServiceNamespace")?;
        let attempts: HashMap<usize, &LastAccess> = report
            .services
            .iter()
            .find(|line| line.namespace == namespace)
            .map(|line| line.attempts.iter().map(|(i, last)| (*i, last)).collect())
            .unwrap_or_default();
        // Most recent attempt first, then the entities that never attempted, by name.
        let mut entities: Vec<(usize, &Covered)> = report.covered.iter().enumerate().collect();
        entities.sort_by(|(a, ea), (b, eb)| {
            let (la, lb) = (attempts.get(a), attempts.get(b));
            lb.map(|l| &l.last_authenticated)
                .cmp(&la.map(|l| &l.last_authenticated))
                .then_with(|| ea.name.cmp(&eb.name))
        });
        let items = entities
            .into_iter()
            .enumerate()
            .map(|(position, (index, entity))| {
                let mut v = json!({"EntityInfo": {"Arn": entity.arn, "Name": entity.name,
                    "Type": entity.r#type, "Id": entity.id, "Path": entity.path}});
                if let Some(last) = attempts.get(&index) {
                    super::set(&mut v, "LastAuthenticated", json!(last.last_authenticated));
                }
                (format!("{position:06}"), v)
            })
            .collect();
        let mut out = paginate("EntityDetailsList", items, input);
        super::set(&mut out, "JobStatus", json!("COMPLETED"));
        super::set(&mut out, "JobCreationDate", json!(report.created));
        super::set(&mut out, "JobCompletionDate", json!(report.completed));
        Ok(out)
    }

    async fn policies_granting(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "Arn")?;
        let target = self.target(cx, arn, false).await?;
        let sources = self.sources(cx, &target).await?;
        let granted: Vec<BTreeSet<String>> = sources
            .iter()
            .map(|s| granted_services([s.document.as_str()]))
            .collect();
        let entries: Vec<Value> = super::strings(input, "ServiceNamespaces")
            .into_iter()
            .map(|namespace| {
                let policies: Vec<Value> = sources
                    .iter()
                    .zip(&granted)
                    .filter(|(_, services)| services.contains(&namespace))
                    .map(|(s, _)| {
                        let mut v = json!({"PolicyName": s.name,
                            "PolicyType": if s.arn.is_some() { "MANAGED" } else { "INLINE" }});
                        if let Some(arn) = &s.arn {
                            super::set(&mut v, "PolicyArn", json!(arn));
                        }
                        if let Some((kind, name)) = &s.owner {
                            super::set(&mut v, "EntityType", json!(kind));
                            super::set(&mut v, "EntityName", json!(name));
                        }
                        v
                    })
                    .collect();
                json!({"ServiceNamespace": namespace, "Policies": policies})
            })
            .collect();
        Ok(json!({"PoliciesGrantingServiceAccess": entries, "IsTruncated": false}))
    }

    /// The user, group, role or (when `policies` is allowed) managed policy `arn` names.
    async fn target(&self, cx: &Cx<'_>, arn: &str, policies: bool) -> Result<Target, AwsError> {
        let invalid = || invalid_input(format!("ARN {arn} is not valid."));
        let parsed = portcullis_core::Arn::parse(arn).map_err(|_| invalid())?;
        if parsed.service() != "iam" {
            return Err(invalid());
        }
        let account = parsed.account();
        let (kind, rest) = parsed.resource().split_once('/').ok_or_else(invalid)?;
        let name = rest.rsplit('/').next().unwrap_or(rest);
        let missing = || no_such_entity(format!("The entity {arn} cannot be found."));
        if kind == "policy" && policies {
            return records::load_managed_policy(self.store(), cx.account, arn)
                .await
                .map_err(internal)?
                .map(Target::Policy)
                .ok_or_else(missing);
        }
        if !matches!(kind, "user" | "group" | "role") {
            return Err(invalid());
        }
        if account != cx.acct() {
            return Err(missing());
        }
        let key = name_key(name);
        let found = match kind {
            "user" => self
                .get::<UserRecord>(cx, &key)
                .await?
                .and_then(|(u, _)| (u.arn == arn).then_some(Target::User(u))),
            "group" => self
                .get::<GroupRecord>(cx, &key)
                .await?
                .and_then(|(g, _)| (g.arn == arn).then_some(Target::Group(g))),
            "role" => self
                .get::<RoleRecord>(cx, &key)
                .await?
                .and_then(|(r, _)| (r.arn == arn).then_some(Target::Role(r))),
            _ => None,
        };
        found.ok_or_else(missing)
    }

    /// The policy documents that give the target its permissions.
    async fn sources(&self, cx: &Cx<'_>, target: &Target) -> Result<Vec<Source>, AwsError> {
        let groups = match target {
            Target::User(u) => {
                let mut groups = Vec::with_capacity(u.groups.len());
                for name in &u.groups {
                    if let Some((g, _)) = self.get::<GroupRecord>(cx, &name_key(name)).await? {
                        groups.push(g);
                    }
                }
                groups
            }
            Target::Group(g) => vec![g.clone()],
            Target::Role(_) => Vec::new(),
            Target::Policy(p) => {
                return Ok(vec![Source {
                    document: p.document().unwrap_or_default().to_owned(),
                    name: p.name.clone(),
                    arn: Some(p.arn.clone()),
                    owner: None,
                }]);
            }
        };
        let mut holders: Vec<Holder<'_>> = match target {
            Target::User(u) => vec![(
                "USER",
                &u.user_name,
                &u.inline_policies,
                &u.attached_policies,
            )],
            Target::Role(r) => vec![(
                "ROLE",
                &r.role_name,
                &r.inline_policies,
                &r.attached_policies,
            )],
            Target::Group(_) | Target::Policy(_) => Vec::new(),
        };
        holders.extend(groups.iter().map(|g| {
            (
                "GROUP",
                &g.group_name,
                &g.inline_policies,
                &g.attached_policies,
            )
        }));
        let mut out = Vec::new();
        for (kind, owner, inline, attached) in holders {
            for (name, document) in inline {
                out.push(Source {
                    document: document.clone(),
                    name: name.clone(),
                    arn: None,
                    owner: Some((kind, owner.clone())),
                });
            }
            for arn in attached {
                // A policy attached through two groups grants through either; list it once.
                if out.iter().any(|s| s.arn.as_deref() == Some(arn)) {
                    continue;
                }
                if let Some(p) = records::load_managed_policy(self.store(), cx.account, arn)
                    .await
                    .map_err(internal)?
                {
                    out.push(Source {
                        document: p.document().unwrap_or_default().to_owned(),
                        name: p.name,
                        arn: Some(p.arn),
                        owner: None,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The users and roles whose attempts the target's report covers.
    async fn covered(&self, cx: &Cx<'_>, target: &Target) -> Result<Vec<Covered>, AwsError> {
        let user = |u: &UserRecord| Covered {
            arn: u.arn.clone(),
            name: u.user_name.clone(),
            r#type: "USER".to_owned(),
            id: u.user_id.clone(),
            path: u.path.clone(),
        };
        let role = |r: &RoleRecord| Covered {
            arn: r.arn.clone(),
            name: r.role_name.clone(),
            r#type: "ROLE".to_owned(),
            id: r.role_id.clone(),
            path: r.path.clone(),
        };
        Ok(match target {
            Target::User(u) => vec![user(u)],
            Target::Role(r) => vec![role(r)],
            Target::Group(g) => {
                let key = name_key(&g.group_name);
                self.all::<UserRecord>(cx, "")
                    .await?
                    .iter()
                    .filter(|u| u.groups.iter().any(|n| name_key(n) == key))
                    .map(user)
                    .collect()
            }
            Target::Policy(p) => {
                let via_group: BTreeSet<String> = self
                    .all::<GroupRecord>(cx, "")
                    .await?
                    .into_iter()
                    .filter(|g| g.attached_policies.contains(&p.arn))
                    .map(|g| name_key(&g.group_name))
                    .collect();
                let mut out: Vec<Covered> = self
                    .all::<UserRecord>(cx, "")
                    .await?
                    .iter()
                    .filter(|u| {
                        u.attached_policies.contains(&p.arn)
                            || u.groups.iter().any(|n| via_group.contains(&name_key(n)))
                    })
                    .map(user)
                    .collect();
                out.extend(
                    self.all::<RoleRecord>(cx, "")
                        .await?
                        .iter()
                        .filter(|r| r.attached_policies.contains(&p.arn))
                        .map(role),
                );
                out
            }
        })
    }
}

/// The most recent of `attempts`.
fn latest(attempts: &[(usize, LastAccess)]) -> Option<&(usize, LastAccess)> {
    attempts
        .iter()
        .max_by(|(_, a), (_, b)| a.last_authenticated.cmp(&b.last_authenticated))
}

/// The name the access advisor shows for `namespace`.
fn service_name(namespace: &str) -> &str {
    SERVICES
        .iter()
        .find(|(ns, _)| *ns == namespace)
        .map_or(namespace, |(_, name)| name)
}

/// The service namespaces the `Allow` statements of `documents` grant access to.
pub(crate) fn granted_services<'a>(
    documents: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for document in documents {
        let Ok(doc) = serde_json::from_str::<Value>(document) else {
            continue;
        };
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => Vec::new(),
        };
        for statement in statements {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            if let Some(actions) = statement.get("Action") {
                for action in strings_of(actions) {
                    let prefix = action
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if prefix.contains(['*', '?']) {
                        out.extend(
                            SERVICES
                                .iter()
                                .filter(|(ns, _)| wildcard_match(&prefix, ns))
                                .map(|(ns, _)| (*ns).to_owned()),
                        );
                    } else if !prefix.is_empty() {
                        out.insert(prefix);
                    }
                }
            }
            if let Some(not_actions) = statement.get("NotAction") {
                let excluded: Vec<String> = strings_of(not_actions)
                    .filter_map(|a| {
                        let (prefix, rest) = a.split_once(':').unwrap_or((a, "*"));
                        (rest == "*").then(|| prefix.to_ascii_lowercase())
                    })
                    .collect();
                out.extend(
                    SERVICES
                        .iter()
                        .filter(|(ns, _)| !excluded.iter().any(|e| wildcard_match(e, ns)))
                        .map(|(ns, _)| (*ns).to_owned()),
                );
            }
        }
    }
    out
}

fn strings_of(value: &Value) -> impl Iterator<Item = &str> {
    let list: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

/// IAM's `*` and `?` wildcards (service prefixes are ASCII).
fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn matches(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => {
                (0..=t.len()).any(|i| t.get(i..).is_some_and(|t| matches(rest, t)))
            }
            Some((&c, rest)) => t
                .split_first()
                .is_some_and(|(&d, t)| (c == b'?' || c == d) && matches(rest, t)),
        }
    }
    matches(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_granted_by_actions_wildcards_and_not_action() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["iam:Get*","s3:GetObject"],"Resource":"*"},
            {"Effect":"Deny","Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Action":"org*:List*","Resource":"*"}]}"#;
        let got: Vec<String> = granted_services([doc]).into_iter().collect();
        assert_eq!(got, ["iam", "organizations", "s3"]);
        let all = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        assert_eq!(granted_services([all]).len(), SERVICES.len());
        let power = r#"{"Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}"#;
        let got = granted_services([power]);
        assert!(!got.contains("iam") && !got.contains("organizations"));
        assert!(got.contains("kms") && got.contains("sts"));
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard_match("*", "iam"));
        assert!(wildcard_match("i?m", "iam"));
        assert!(wildcard_match("in*2", "inspector2"));
        assert!(!wildcard_match("in*2", "iam"));
        assert!(!wildcard_match("ia", "iam"));
    }
}
