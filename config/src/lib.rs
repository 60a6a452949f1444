//! The validated pool/peer model and its MetalLB-compatible ConfigMap parser.

#![forbid(unsafe_code)]
