//! Which service a request is for, and how that service speaks.
//!
//! AWS tells services apart by endpoint host; a single Portcullis endpoint tells them apart by
//! what the request itself says: the `X-Amz-Target` prefix (JSON 1.1 services), else the
//! service in the SigV4 credential scope, else (unsigned query requests) the `Action` name.

use portcullis_aws::Protocol;

/// A service Portcullis answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS Security Token Service.
    Sts,
    /// Identity and Access Management.
    Iam,
    /// CloudTrail (event lookup over the audit trail).
    CloudTrail,
    /// Key Management Service.
    Kms,
    /// Organizations.
    Organizations,
    /// WAF (v2).
    Wafv2,
    /// Shield Advanced.
    Shield,
    /// GuardDuty (rest-json).
    GuardDuty,
    /// Inspector (v2, rest-json).
    Inspector2,
    /// Artifact (rest-json).
    Artifact,
}

/// Every service, for lookups.
const ALL: [Service; 10] = [
    Service::Sts,
    Service::Iam,
    Service::CloudTrail,
    Service::Kms,
    Service::Organizations,
    Service::Wafv2,
    Service::Shield,
    Service::GuardDuty,
    Service::Inspector2,
    Service::Artifact,
];

/// STS actions, so that an unsigned query request can be told from an IAM one.
const STS_ACTIONS: [&str; 11] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetDelegatedAccessToken",
    "GetFederationToken",
    "GetSessionToken",
    "GetWebIdentityToken",
];

impl Service {
    /// The SigV4 signing name and the prefix of IAM action names (`sts`, `iam`, `kms`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sts => "sts",
            Self::Iam => "iam",
            Self::CloudTrail => "cloudtrail",
            Self::Kms => "kms",
            Self::Organizations => "organizations",
            Self::Wafv2 => "wafv2",
            Self::Shield => "shield",
            Self::GuardDuty => "guardduty",
            Self::Inspector2 => "inspector2",
            Self::Artifact => "artifact",
        }
    }

    /// The botocore model of the service's operations and shapes.
    pub fn model(self) -> Option<&'static portcullis_model::ServiceModel> {
        portcullis_model::service(self.name())
    }

    /// CloudTrail's `eventSource`.
    pub fn event_source(self) -> &'static str {
        match self {
            Self::Sts => "sts.amazonaws.com",
            Self::Iam => "iam.amazonaws.com",
            Self::CloudTrail => "cloudtrail.amazonaws.com",
            Self::Kms => "kms.amazonaws.com",
            Self::Organizations => "organizations.amazonaws.com",
            Self::Wafv2 => "wafv2.amazonaws.com",
            Self::Shield => "shield.amazonaws.com",
            Self::GuardDuty => "guardduty.amazonaws.com",
            Self::Inspector2 => "inspector2.amazonaws.com",
            Self::Artifact => "artifact.amazonaws.com",
        }
    }

    /// The wire protocol.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::Sts => Protocol::STS,
            Self::Iam => Protocol::IAM,
            Self::CloudTrail | Self::Kms | Self::Organizations | Self::Wafv2 | Self::Shield => {
                Protocol::AwsJson1_1
            }
            Self::GuardDuty | Self::Inspector2 | Self::Artifact => Protocol::RestJson,
        }
    }

    /// The `X-Amz-Target` prefix, for JSON services.
    pub fn target_prefix(self) -> Option<&'static str> {
        match self {
            Self::CloudTrail => Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"),
            Self::Kms => Some("TrentService"),
            Self::Organizations => Some("AWSOrganizationsV20161128"),
            Self::Wafv2 => Some("AWSWAF_20190729"),
            Self::Shield => Some("AWSShield_20160616"),
            Self::Sts | Self::Iam | Self::GuardDuty | Self::Inspector2 | Self::Artifact => None,
        }
    }

    /// The service whose JSON target prefix is `prefix`.
    pub fn from_target_prefix(prefix: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.target_prefix() == Some(prefix))
    }

    /// The service whose signing name is `name`.
    pub fn from_signing_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.name() == name)
    }

    /// The query service an unsigned request with `action` is for.
    pub fn from_query_action(action: &str) -> Self {
        if STS_ACTIONS.contains(&action) {
            Self::Sts
        } else {
            Self::Iam
        }
    }
}

/// Whether CloudTrail records an operation as read-only: AWS's reading verbs, KMS's
/// cryptographic operations, which use a key without changing it, and STS's issuing of
/// temporary credentials (AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity,
/// AssumeRoot; GetSessionToken and GetFederationToken by their verb), which changes no
/// resource: CloudTrail marks these `readOnly: true`, and here the session lives in its token,
/// not in the store.
pub fn is_read_only(operation: &str) -> bool {
    const READING_VERBS: [&str; 6] = ["Get", "List", "Describe", "Lookup", "Simulate", "Decode"];
    const KMS_CRYPTO: [&str; 9] = [
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
    ];
    READING_VERBS.iter().any(|verb| operation.starts_with(verb))
        || KMS_CRYPTO.iter().any(|op| operation.starts_with(op))
        || operation == "DeriveSharedSecret"
        || operation.starts_with("AssumeRole")
        || operation == "AssumeRoot"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree() {
        for service in ALL {
            assert_eq!(Service::from_signing_name(service.name()), Some(service));
            let model = service.model().expect("every service has a botocore model");
            assert_eq!(model.target_prefix, service.target_prefix(), "{service:?}");
            if let Some(prefix) = service.target_prefix() {
                assert_eq!(Service::from_target_prefix(prefix), Some(service));
            }
        }
        assert_eq!(
            Service::from_query_action("GetCallerIdentity"),
            Service::Sts
        );
        assert_eq!(Service::from_query_action("CreateUser"), Service::Iam);
        assert!(is_read_only("GetCallerIdentity"));
        assert!(!is_read_only("CreateUser"));
        assert!(is_read_only("GenerateDataKeyPairWithoutPlaintext"));
        assert!(!is_read_only("ScheduleKeyDeletion"));
        for issuing in [
            "AssumeRole",
            "AssumeRoleWithSAML",
            "AssumeRoleWithWebIdentity",
            "AssumeRoot",
            "GetSessionToken",
            "GetFederationToken",
        ] {
            assert!(is_read_only(issuing), "{issuing}");
        }
        assert!(!is_read_only("UpdateAssumeRolePolicy"));
    }
}
