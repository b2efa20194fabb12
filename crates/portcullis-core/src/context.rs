//! What every service handler knows about the request it serves.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::Principal;

/// The authenticated request as the services see it, after the front has verified the signature.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The id returned to the client and recorded in the audit trail.
    pub request_id: String,
    /// Who signed the request: shared with the authenticator's key cache, which hands the
    /// same principal to every request signed with the key rather than a copy of its strings.
    pub principal: Arc<Principal>,
    /// The region of the SigV4 credential scope (`aws:RequestedRegion`).
    pub region: String,
    /// The client's address (`aws:SourceIp`).
    pub source_ip: IpAddr,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// When the front received the request (`aws:CurrentTime`).
    pub received_at: SystemTime,
}
