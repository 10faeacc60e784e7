//! Kubernetes API machinery the hub needs and no Rust crate provides, as pure functions.
//!
//! The hub serves every kind of the parent cluster under `shadow/v1alpha1` from JSON documents;
//! `kubectl get -l/--field-selector`, `kubectl apply/edit/patch` and controllers must see the
//! same behaviour as from kube-apiserver. This crate ports the pieces of
//! `k8s.io/apimachinery` (v0.36) that decide that behaviour:
//!
//! * [`labels`]: `labelSelector` parsing, printing and matching; `metav1.LabelSelector`
//!   conversion;
//! * [`fields`]: `fieldSelector` parsing, the `metadata.name`/`metadata.namespace` restriction,
//!   matching;
//! * [`patch`]: PATCH content types, JSON patch, JSON merge patch and strategic merge patch
//!   (with patch metadata from OpenAPI), with kube-apiserver's error codes and messages;
//! * [`validation`]: label key/value validation behind the selector errors;
//! * [`gofmt`]: Go's `fmt`/`strconv`/`encoding/json` rendering of decoded JSON, which those
//!   messages (and kubectl's printers) are built with.
//!
//! Error messages are kube-apiserver's, byte for byte, so that they can go into a Status
//! unchanged. The crate does no I/O.

pub mod fields;
pub mod gofmt;
pub mod labels;
pub mod patch;
pub mod validation;
