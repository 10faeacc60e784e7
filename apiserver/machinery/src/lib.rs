//! Kubernetes API machinery the hub needs and no crate provides (being written).
