//! Contracts of the loyalty platform: the generated gRPC services and messages
//! of every `loyalty.<service>.v1` package, with canonical proto3 JSON
//! (serde via pbjson) for every message, and the file-descriptor set that
//! services register with gRPC reflection.
#![forbid(unsafe_code)]
#![allow(clippy::all, missing_docs)]

/// Encoded `FileDescriptorSet` of every loyalty proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("loyalty_descriptor");

/// Shared types: money, paging, error details.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.common.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.common.v1.serde.rs"));
    }
}

/// The ledger: accounts, operations, balances and their events.
pub mod ledger {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.ledger.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.ledger.v1.serde.rs"));
    }
}

/// Identity: registration, tokens, cards, members and their events.
pub mod identity {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.identity.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.identity.v1.serde.rs"));
    }
}

/// Purchases: processing at the till and online, program rules, and their
/// events.
pub mod purchases {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.purchases.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.purchases.v1.serde.rs"));
    }
}

/// Certificates: gift (money) certificates, their import and their events.
pub mod certificates {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.certificates.v1");
        include!(concat!(
            env!("OUT_DIR"),
            "/loyalty.certificates.v1.serde.rs"
        ));
    }
}

/// The social poller: groups in social networks, detected activity,
/// promotions and their events.
pub mod social {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.social.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.social.v1.serde.rs"));
    }
}

/// Diagnostic events of the event-sourcing kit's probe tool.
pub mod kit {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("loyalty.kit.v1");
        include!(concat!(env!("OUT_DIR"), "/loyalty.kit.v1.serde.rs"));
    }
}

pub mod wkt;

pub use pbjson_types;
pub use prost;
