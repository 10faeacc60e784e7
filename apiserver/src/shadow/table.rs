//! Table columns and cells for shadow objects: kube-apiserver's default table convertor (NAME,
//! CREATED AT) until per-kind printers are available.

use serde_json::{Value, json};

use crate::shadow::catalog::ShadowResource;

/// (column definitions, one row of cells per object).
pub fn render(_resource: &ShadowResource, objects: &[Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
        json!({"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}),
    ];
    let rows = objects
        .iter()
        .map(|o| {
            vec![
                o["metadata"]["name"].clone(),
                o["metadata"]["creationTimestamp"].clone(),
            ]
        })
        .collect();
    (columns, rows)
}
