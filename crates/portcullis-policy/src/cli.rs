//! `portcullis policy validate|simulate`: the offline policy tools. The only module of this
//! crate that does I/O (it reads the files named on the command line).
//!
//! Exit codes: `validate` 0 when the document is valid, 1 when it has findings; `simulate` 0
//! on Allow, 1 on a denial; both 2 when a file or an argument cannot be read.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{
    Context, ContextValue, Decision, Effect, Layer, Policy, PolicyType, PrincipalPolicies, Request,
    ResourcePolicies, ResourcePolicyKind, evaluate, parse, principal_from_text,
};

/// The `portcullis policy` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per process by clap; size is irrelevant"
)]
pub enum PolicyCommand {
    /// Validate a policy document as AWS would for the given policy type.
    Validate {
        /// The policy document (JSON).
        file: PathBuf,
        /// identity | resource | trust | scp | rcp | session | boundary | key
        #[arg(long = "type", value_parser = parse_policy_type, default_value = "identity")]
        policy_type: PolicyType,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decide a request against policies read from files, and explain the decision.
    Simulate {
        /// An identity-based policy (repeatable).
        #[arg(long = "identity", value_name = "FILE")]
        identity: Vec<PathBuf>,
        /// The permissions boundary.
        #[arg(long, value_name = "FILE")]
        boundary: Option<PathBuf>,
        /// A session policy (repeatable).
        #[arg(long = "session", value_name = "FILE")]
        session: Vec<PathBuf>,
        /// One SCP level, from the organization root down (repeatable; `a.json,b.json` for
        /// several policies attached at one level).
        #[arg(long = "scp", value_name = "FILE[,FILE...]")]
        scp: Vec<String>,
        /// One RCP level of the resource's account (repeatable, like `--scp`).
        #[arg(long = "rcp", value_name = "FILE[,FILE...]")]
        rcp: Vec<String>,
        /// The resource-based policy.
        #[arg(long = "resource-policy", value_name = "FILE")]
        resource_policy: Option<PathBuf>,
        /// What the resource-based policy is: resource | trust | key.
        #[arg(long = "resource-policy-kind", value_parser = parse_resource_kind, default_value = "resource")]
        resource_policy_kind: ResourcePolicyKind,
        /// The account that owns the resource (default: from the resource ARN, else the
        /// principal's account).
        #[arg(long, value_name = "ACCOUNT")]
        resource_owner: Option<String>,
        /// The principal's account is the organization's management account (no SCPs).
        #[arg(long)]
        management_account: bool,
        /// The resource's account is the organization's management account (no RCPs).
        #[arg(long)]
        resource_management_account: bool,
        /// The caller: an IAM/STS ARN or a service principal name.
        #[arg(long, value_name = "ARN")]
        principal: Option<String>,
        /// The caller is a service-linked role.
        #[arg(long)]
        service_linked_role: bool,
        /// The action, `service:Action`.
        #[arg(long)]
        action: Option<String>,
        /// The resource ARN (default `*`).
        #[arg(long, value_name = "ARN")]
        resource: Option<String>,
        /// A context key: `key=type:value`, type one of string, strings (comma-separated),
        /// bool, number, date, ip, binary (base64) (repeatable).
        #[arg(long = "context", value_name = "KEY=TYPE:VALUE")]
        context: Vec<String>,
        /// Read the request from a JSON file instead (see `Request::from_json`).
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_policy_type(s: &str) -> Result<PolicyType, String> {
    PolicyType::from_name(s).ok_or_else(|| {
        format!(
            "unknown policy type {s:?}: identity, resource, trust, scp, rcp, session, boundary, key"
        )
    })
}

fn parse_resource_kind(s: &str) -> Result<ResourcePolicyKind, String> {
    match s {
        "resource" => Ok(ResourcePolicyKind::Resource),
        "trust" => Ok(ResourcePolicyKind::Trust),
        "key" => Ok(ResourcePolicyKind::Key),
        _ => Err(format!(
            "unknown resource policy kind {s:?}: resource, trust, key"
        )),
    }
}

/// Runs a subcommand, writing its report to `out`; returns the process exit code.
pub fn run(cmd: &PolicyCommand, out: &mut dyn Write) -> u8 {
    let result = match cmd {
        PolicyCommand::Validate {
            file,
            policy_type,
            json,
        } => validate(file, *policy_type, *json, out),
        PolicyCommand::Simulate { .. } => simulate(cmd, out),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            // Best effort: there is nowhere else to report a failed write.
            let _ = writeln!(out, "error: {message}");
            2
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

fn validate(file: &Path, ty: PolicyType, as_json: bool, out: &mut dyn Write) -> Result<u8, String> {
    let text = read(file)?;
    let parsed = parse(&text, ty);
    let valid = parsed.findings.is_empty();
    if as_json {
        let v = json!({
            "file": file.display().to_string(),
            "type": ty.as_str(),
            "valid": valid,
            "findings": parsed.findings,
        });
        writeln!(out, "{v}").map_err(io)?;
    } else if valid {
        writeln!(out, "{}: valid {} policy", file.display(), ty.as_str()).map_err(io)?;
    } else {
        for f in &parsed.findings {
            writeln!(out, "{}: {f}", file.display()).map_err(io)?;
        }
    }
    Ok(if valid { 0 } else { 1 })
}

fn load(path: &Path, ty: PolicyType) -> Result<Policy, String> {
    let text = read(path)?;
    Policy::parse(&path.display().to_string(), &text, ty)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn load_levels(levels: &[String], ty: PolicyType) -> Result<Vec<Vec<Policy>>, String> {
    levels
        .iter()
        .map(|level| {
            level
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|f| load(Path::new(f), ty))
                .collect()
        })
        .collect()
}

/// Parses `key=type:value`.
fn context_entry(spec: &str) -> Result<(String, ContextValue), String> {
    let bad = || format!("--context {spec:?}: expected KEY=TYPE:VALUE");
    let (key, rest) = spec.split_once('=').ok_or_else(bad)?;
    let (ty, value) = rest.split_once(':').ok_or_else(bad)?;
    let v = match ty {
        "string" => ContextValue::string(value),
        "strings" => ContextValue::strings(value.split(',').filter(|s| !s.is_empty())),
        "bool" => match value {
            "true" => ContextValue::bool(true),
            "false" => ContextValue::bool(false),
            _ => return Err(bad()),
        },
        "number" => ContextValue::number(value.parse::<f64>().map_err(|_| bad())?),
        "date" | "ip" => {
            let v = ContextValue::string(value);
            let ok = v.values().first().is_some_and(|s| {
                if ty == "ip" {
                    s.ip().is_some()
                } else {
                    s.date().is_some()
                }
            });
            if !ok {
                return Err(bad());
            }
            v
        }
        "binary" => ContextValue::binary(crate::condition::base64_decode(value).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok((key.to_owned(), v))
}

fn simulate(cmd: &PolicyCommand, out: &mut dyn Write) -> Result<u8, String> {
    let PolicyCommand::Simulate {
        identity,
        boundary,
        session,
        scp,
        rcp,
        resource_policy,
        resource_policy_kind,
        resource_owner,
        management_account,
        resource_management_account,
        principal,
        service_linked_role,
        action,
        resource,
        context,
        request,
        json: as_json,
    } = cmd
    else {
        return Err("not a simulate command".into());
    };
    let principal_set = PrincipalPolicies {
        scp_levels: load_levels(scp, PolicyType::Scp)?,
        identity: identity
            .iter()
            .map(|f| load(f, PolicyType::Identity))
            .collect::<Result<_, _>>()?,
        boundary: boundary
            .as_deref()
            .map(|f| load(f, PolicyType::Boundary))
            .transpose()?,
        session: session
            .iter()
            .map(|f| load(f, PolicyType::Session))
            .collect::<Result<_, _>>()?,
        management_account: *management_account,
    };
    let resource_kind_type = match resource_policy_kind {
        ResourcePolicyKind::Resource => PolicyType::Resource,
        ResourcePolicyKind::Trust => PolicyType::Trust,
        ResourcePolicyKind::Key => PolicyType::Key,
    };
    let req = match request {
        Some(file) => {
            let v: Value = serde_json::from_str(&read(file)?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            Request::from_json(&v).map_err(|e| e.to_string())?
        }
        None => {
            let who = principal
                .as_deref()
                .ok_or("--principal or --request is required")?;
            let mut p = principal_from_text(who)
                .ok_or_else(|| format!("--principal {who:?}: not a principal ARN"))?;
            p.service_linked_role = *service_linked_role;
            let action = action
                .as_deref()
                .ok_or("--action or --request is required")?;
            let mut ctx = Context::new();
            for spec in context {
                let (k, v) = context_entry(spec)?;
                ctx.insert(&k, v);
            }
            Request::new(p, action, resource.as_deref().unwrap_or("*")).with_full_context(ctx)
        }
    };
    let req = match resource_owner {
        Some(acct) => req.with_resource_account(acct.clone()),
        None => req,
    };
    let has_resource_side =
        resource_policy.is_some() || !rcp.is_empty() || resource_owner.is_some();
    let resource_set = if has_resource_side {
        Some(ResourcePolicies {
            owner_account: resource_owner.clone().unwrap_or_default(),
            policy: resource_policy
                .as_deref()
                .map(|f| load(f, resource_kind_type))
                .transpose()?,
            kind: *resource_policy_kind,
            rcp_levels: load_levels(rcp, PolicyType::Rcp)?,
            management_account: *resource_management_account,
        })
    } else {
        None
    };
    let decision = evaluate(&principal_set, resource_set.as_ref(), &req);
    if *as_json {
        writeln!(out, "{}", decision_json(&decision, &req)).map_err(io)?;
    } else {
        write_text(&decision, &req, out).map_err(io)?;
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "Allow",
        Effect::ExplicitDeny => "ExplicitDeny",
        Effect::ImplicitDeny => "ImplicitDeny",
    }
}

fn layer_key(l: Layer) -> &'static str {
    match l {
        Layer::ServiceControlPolicy => "ServiceControlPolicy",
        Layer::ResourceControlPolicy => "ResourceControlPolicy",
        Layer::ResourceBased => "ResourceBased",
        Layer::IdentityBased => "IdentityBased",
        Layer::PermissionsBoundary => "PermissionsBoundary",
        Layer::SessionPolicy => "SessionPolicy",
    }
}

/// The decision as JSON (the `--json` output of `simulate`).
pub fn decision_json(d: &Decision<'_>, req: &Request) -> Value {
    json!({
        "effect": effect_name(d.effect),
        "deciding_layer": layer_key(d.deciding_layer),
        "message": d.access_denied_message(req),
        "matched_statements": d.matched.iter().collect::<Vec<_>>(),
        "missing_context_keys": d.missing_context_keys.iter().collect::<Vec<_>>(),
        "request": {
            "principal": req.principal().arn,
            "action": req.action(),
            "resource": req.resource(),
        },
    })
}

fn write_text(d: &Decision<'_>, req: &Request, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Decision: {}", effect_name(d.effect))?;
    writeln!(out, "Deciding layer: {}", d.deciding_layer.aws_name())?;
    if let Some(m) = d.access_denied_message(req) {
        writeln!(out, "Message: {m}")?;
    }
    if d.matched.is_empty() {
        writeln!(out, "Matched statements: none")?;
    } else {
        writeln!(out, "Matched statements:")?;
        for m in d.matched.iter() {
            let sid = m.sid.map(|s| format!(" (Sid {s})")).unwrap_or_default();
            let level = match m.layer {
                Layer::ServiceControlPolicy | Layer::ResourceControlPolicy => {
                    format!(" level {}", m.level)
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "  {:?} {}{level}: {} statement {}{sid}",
                m.effect,
                m.layer.aws_name(),
                m.policy_id,
                m.index
            )?;
        }
        if d.matched.dropped() > 0 {
            writeln!(out, "  ... and {} more", d.matched.dropped())?;
        }
    }
    if !d.missing_context_keys.is_empty() {
        let keys: Vec<&str> = d.missing_context_keys.iter().collect();
        writeln!(out, "Missing context keys: {}", keys.join(", "))?;
    }
    Ok(())
}
