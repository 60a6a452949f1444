//! CustomResourceDefinitions: their validation ([`validation`]) and the controller that makes them served
//! ([`controller`]). The CRD kind's strategy is [`crate::kinds::crd`], custom resources' is
//! [`crate::kinds::custom`].

pub mod controller;
pub mod validation;
