//! The ferrolb controller: assigns load-balancer IPs to Services.

#![forbid(unsafe_code)]
