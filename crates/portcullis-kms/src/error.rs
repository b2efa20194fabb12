//! The one error type of the crate, and its table to AWS KMS's error codes.

use http::StatusCode;
use portcullis_aws::AwsError;
use portcullis_store::StoreError;

/// Everything a KMS operation can fail with. Each variant but the last three is one of KMS's
/// modelled exceptions and carries the message returned to the caller.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// `NotFoundException`.
    #[error("NotFoundException: {0}")]
    NotFound(String),
    /// `DisabledException`.
    #[error("DisabledException: {0}")]
    Disabled(String),
    /// `KMSInvalidStateException`.
    #[error("KMSInvalidStateException: {0}")]
    InvalidState(String),
    /// `InvalidCiphertextException`.
    #[error("InvalidCiphertextException: {0}")]
    InvalidCiphertext(String),
    /// `IncorrectKeyException`.
    #[error("IncorrectKeyException: {0}")]
    IncorrectKey(String),
    /// `InvalidKeyUsageException`.
    #[error("InvalidKeyUsageException: {0}")]
    InvalidKeyUsage(String),
    /// `KMSInvalidSignatureException`.
    #[error("KMSInvalidSignatureException: {0}")]
    InvalidSignature(String),
    /// `KMSInvalidMacException`.
    #[error("KMSInvalidMacException: {0}")]
    InvalidMac(String),
    /// `ValidationException`.
    #[error("ValidationException: {0}")]
    Validation(String),
    /// `AlreadyExistsException`.
    #[error("AlreadyExistsException: {0}")]
    AlreadyExists(String),
    /// `LimitExceededException`.
    #[error("LimitExceededException: {0}")]
    LimitExceeded(String),
    /// `InvalidGrantTokenException`.
    #[error("InvalidGrantTokenException: {0}")]
    InvalidGrantToken(String),
    /// `InvalidGrantIdException`.
    #[error("InvalidGrantIdException: {0}")]
    InvalidGrantId(String),
    /// `InvalidAliasNameException`.
    #[error("InvalidAliasNameException: {0}")]
    InvalidAliasName(String),
    /// `InvalidArnException`.
    #[error("InvalidArnException: {0}")]
    InvalidArn(String),
    /// `InvalidMarkerException`.
    #[error("InvalidMarkerException: {0}")]
    InvalidMarker(String),
    /// `MalformedPolicyDocumentException`.
    #[error("MalformedPolicyDocumentException: {0}")]
    MalformedPolicyDocument(String),
    /// `UnsupportedOperationException`.
    #[error("UnsupportedOperationException: {0}")]
    Unsupported(String),
    /// `TagException`.
    #[error("TagException: {0}")]
    Tag(String),
    /// `InvalidImportTokenException`.
    #[error("InvalidImportTokenException: {0}")]
    InvalidImportToken(String),
    /// `ExpiredImportTokenException`.
    #[error("ExpiredImportTokenException: {0}")]
    ExpiredImportToken(String),
    /// `IncorrectKeyMaterialException`.
    #[error("IncorrectKeyMaterialException: {0}")]
    IncorrectKeyMaterial(String),
    /// `DryRunOperationException`: the DryRun request would have succeeded.
    #[error("DryRunOperationException: {0}")]
    DryRun(String),
    /// `ConflictException`: a concurrent change won repeatedly.
    #[error("ConflictException: {0}")]
    Conflict(String),
    /// A denial from [`crate::KeyAccess`] (or a grant check), returned as it is.
    #[error("{0}")]
    Denied(AwsError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The cryptography library failed (never a caller's fault).
    #[error("cryptography failure: {0}")]
    Crypto(&'static str),
    /// A stored document could not be read.
    #[error("corrupt KMS state: {0}")]
    Corrupt(String),
}

impl KmsError {
    /// InvalidCiphertextException as AWS sends it for a blob it cannot use: no detail.
    pub fn invalid_ciphertext() -> Self {
        Self::InvalidCiphertext(String::new())
    }

    /// The AWS error the caller receives. Internal failures are logged here (without secrets:
    /// no variant carries any) and answered with `KMSInternalException`.
    pub fn to_aws(&self) -> AwsError {
        let bad = StatusCode::BAD_REQUEST;
        let (code, message) = match self {
            Self::NotFound(m) => ("NotFoundException", m),
            Self::Disabled(m) => ("DisabledException", m),
            Self::InvalidState(m) => ("KMSInvalidStateException", m),
            Self::InvalidCiphertext(m) => ("InvalidCiphertextException", m),
            Self::IncorrectKey(m) => ("IncorrectKeyException", m),
            Self::InvalidKeyUsage(m) => ("InvalidKeyUsageException", m),
            Self::InvalidSignature(m) => ("KMSInvalidSignatureException", m),
            Self::InvalidMac(m) => ("KMSInvalidMacException", m),
            Self::Validation(m) => ("ValidationException", m),
            Self::AlreadyExists(m) => ("AlreadyExistsException", m),
            Self::LimitExceeded(m) => ("LimitExceededException", m),
            Self::InvalidGrantToken(m) => ("InvalidGrantTokenException", m),
            Self::InvalidGrantId(m) => ("InvalidGrantIdException", m),
            Self::InvalidAliasName(m) => ("InvalidAliasNameException", m),
            Self::InvalidArn(m) => ("InvalidArnException", m),
            Self::InvalidMarker(m) => ("InvalidMarkerException", m),
            Self::MalformedPolicyDocument(m) => ("MalformedPolicyDocumentException", m),
            Self::Unsupported(m) => ("UnsupportedOperationException", m),
            Self::Tag(m) => ("TagException", m),
            Self::InvalidImportToken(m) => ("InvalidImportTokenException", m),
            Self::ExpiredImportToken(m) => ("ExpiredImportTokenException", m),
            Self::IncorrectKeyMaterial(m) => ("IncorrectKeyMaterialException", m),
            Self::DryRun(m) => ("DryRunOperationException", m),
            Self::Conflict(m) => ("ConflictException", m),
            Self::Denied(e) => return e.clone(),
            Self::Store(StoreError::Closed | StoreError::Backend { .. }) => {
                tracing::error!(error = %self, "KMS request failed");
                return AwsError::new(
                    "DependencyTimeoutException",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The system timed out while trying to fulfill the request. You can retry the request.",
                );
            }
            Self::Store(_) | Self::Crypto(_) | Self::Corrupt(_) => {
                tracing::error!(error = %self, "KMS request failed");
                return AwsError::new(
                    "KMSInternalException",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The request was rejected because an internal exception occurred. The request can be retried.",
                );
            }
        };
        AwsError::new(code, bad, message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let e = KmsError::Disabled("k is disabled.".into()).to_aws();
        assert_eq!(
            (e.code.as_ref(), e.status),
            ("DisabledException", StatusCode::BAD_REQUEST)
        );
        assert_eq!(e.message, "k is disabled.");
        let e = KmsError::Crypto("zzqq-cause").to_aws();
        assert_eq!(
            (e.code.as_ref(), e.status.as_u16()),
            ("KMSInternalException", 500)
        );
        assert!(!e.message.contains("zzqq"));
        assert_eq!(
            KmsError::invalid_ciphertext().to_aws().code,
            "InvalidCiphertextException"
        );
    }
}
