//! entrust-gateway: a signing, rate-limiting sidecar for the vendor's entrust API.

pub mod entrust;
pub mod sim;
